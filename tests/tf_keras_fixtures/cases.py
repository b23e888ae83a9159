"""The optimizer cases of the tf.keras fixtures, written once for any Keras-style optimizers module:
``tf_keras.optimizers`` (make_fixtures.py), its ``.legacy`` (the layouts tf.keras restores by
position), ``gpunet.optimizers`` (tests/test_tf_keras_resume.py, manual_gpunet_writes.py). Each
value builds its optimizer when called, so a module lacking one (``legacy.AdamW``) is only a
problem for the case that asks for it."""
import numpy as np

X = np.random.RandomState(0).rand(24, 5).astype("float32")
Y = np.random.RandomState(1).rand(24, 2).astype("float32")


def optimizers(O):
    """{case: () -> optimizer} over the optimizers module ``O``."""
    return {
        "sgd": lambda: O.SGD(0.05), "sgd-momentum": lambda: O.SGD(0.05, momentum=0.9, nesterov=True),
        "adam": lambda: O.Adam(0.01), "adam-amsgrad": lambda: O.Adam(0.01, amsgrad=True),
        "rmsprop": lambda: O.RMSprop(0.01), "rmsprop-centered": lambda: O.RMSprop(0.01, momentum=0.5, centered=True),
        "adagrad": lambda: O.Adagrad(0.05), "adadelta": lambda: O.Adadelta(0.5), "adamax": lambda: O.Adamax(0.01),
        "nadam": lambda: O.Nadam(0.01), "adamw": lambda: O.AdamW(0.01, weight_decay=0.01),
        "adam-schedule": lambda: O.Adam(O.schedules.ExponentialDecay(0.02, 3, 0.5)),
    }


# tf.keras has no legacy AdamW; the schedule and the plain Adam/RMSprop add nothing to the layouts
LEGACY_CASES = ("sgd", "sgd-momentum", "adam-amsgrad", "rmsprop-centered", "adagrad", "adadelta", "adamax", "nadam")
