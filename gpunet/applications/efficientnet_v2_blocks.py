"""What tells Keras's EfficientNetV2 variants apart (``keras.applications.efficientnet_v2``): their scaling, default
input size and published weight files' hashes (`VARIANTS`), and the stages of blocks each one scales (`STAGES`), as
tf.keras 2.21 defines them. Every block's kernel is 3x3."""
from collections import namedtuple

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"

# One stage: `repeats` blocks (before the depth scaling), the first of them going from `input_filters` to
# `output_filters` with `strides`, the others keeping `output_filters` at stride 1. `fused`: Fused-MBConv (a full
# 3x3 expansion convolution) rather than MBConv (a 1x1 expansion and a depthwise 3x3); `se_ratio` > 0: a
# squeeze-and-excitation of that fraction of the block's input filters.
Stage = namedtuple("Stage", "repeats input_filters output_filters expand_ratio se_ratio strides fused")

# model name: (width coefficient, depth coefficient, default input size, (top file's hash, no-top file's hash))
VARIANTS = {
    "efficientnetv2-b0": (1.0, 1.0, 224, ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff")),
    "efficientnetv2-b1": (1.0, 1.1, 240, ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37")),
    "efficientnetv2-b2": (1.1, 1.2, 260, ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb")),
    "efficientnetv2-b3": (1.2, 1.4, 300, ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856")),
    "efficientnetv2-s": (1.0, 1.0, 384, ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070")),
    "efficientnetv2-m": (1.0, 1.0, 480, ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342")),
    "efficientnetv2-l": (1.0, 1.0, 480, ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615")),
}

# B0 to B3 share one table; their coefficients scale it
_B = (
    Stage(1, 32, 16, 1, 0, 1, True),
    Stage(2, 16, 32, 4, 0, 2, True),
    Stage(2, 32, 48, 4, 0, 2, True),
    Stage(3, 48, 96, 4, 0.25, 2, False),
    Stage(5, 96, 112, 6, 0.25, 1, False),
    Stage(8, 112, 192, 6, 0.25, 2, False),
)

STAGES = {
    "efficientnetv2-b0": _B,
    "efficientnetv2-b1": _B,
    "efficientnetv2-b2": _B,
    "efficientnetv2-b3": _B,
    "efficientnetv2-s": (
        Stage(2, 24, 24, 1, 0, 1, True),
        Stage(4, 24, 48, 4, 0, 2, True),
        Stage(4, 48, 64, 4, 0, 2, True),
        Stage(6, 64, 128, 4, 0.25, 2, False),
        Stage(9, 128, 160, 6, 0.25, 1, False),
        Stage(15, 160, 256, 6, 0.25, 2, False),
    ),
    "efficientnetv2-m": (
        Stage(3, 24, 24, 1, 0, 1, True),
        Stage(5, 24, 48, 4, 0, 2, True),
        Stage(5, 48, 80, 4, 0, 2, True),
        Stage(7, 80, 160, 4, 0.25, 2, False),
        Stage(14, 160, 176, 6, 0.25, 1, False),
        Stage(18, 176, 304, 6, 0.25, 2, False),
        Stage(5, 304, 512, 6, 0.25, 1, False),
    ),
    "efficientnetv2-l": (
        Stage(4, 32, 32, 1, 0, 1, True),
        Stage(7, 32, 64, 4, 0, 2, True),
        Stage(7, 64, 96, 4, 0, 2, True),
        Stage(10, 96, 192, 4, 0.25, 2, False),
        Stage(19, 192, 224, 6, 0.25, 1, False),
        Stage(25, 224, 384, 6, 0.25, 2, False),
        Stage(7, 384, 640, 6, 0.25, 1, False),
    ),
}
