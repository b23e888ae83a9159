"""gpu_diagnose.py's parts 6c-6e: the plan's one-launch forms against their multi-launch forms, and
the models the plan took in, over model sizes (see gpu_diagnose.py's docstring)."""
import numpy

from benchmarks import gpu_workloads as G
from benchmarks.gpu_workloads import median_seconds

# (input width, hidden and output widths, batch): Pima's 8-12-8-1 at growing batches, then wider
# stacks (the sonar tutorial's 60-60-30-1 among them) at batches that keep them inside
# mlp_step.cu's 40 KiB of shared values (10,240 in float32)
FUSED_CASES = [(8, (12, 8, 1), 10), (8, (12, 8, 1), 32), (8, (12, 8, 1), 64), (16, (32, 32, 1), 16),
               (32, (64, 32, 1), 8), (60, (60, 30, 1), 16), (64, (128, 64, 1), 4), (128, (256, 128, 1), 2)]

# ---- 6c ------------------------------------------------------------------------------------------

def fused_step_sweep(ops, sync, cases=FUSED_CASES, steps=64, epochs=2, rounds=3):
    """Print and return {(case, "1"|"0"): us per step}: the one-launch step (limits lifted) against
    the multi-launch step, each case trained ``epochs`` epochs of ``steps`` batches."""
    from gpunet import backend as B
    from gpunet.backend import gpu_fused_step as FS
    from gpunet.layers import Dense
    from gpunet.models import Sequential
    rng = numpy.random.default_rng(0)
    out = {}
    print(f"  us per training step (Adam, mse; {steps} steps x {epochs} epochs a call, median of {rounds}); "
          f"limits today: MAX_MACS {FS.MAX_MACS}, MAX_PARAMS {FS.MAX_PARAMS}, VALUES {FS.values('float32')} (float32)")
    print(f"  {'model':>20} {'batch':>5} {'MACs':>8} {'params':>7} {'values':>6} {'one':>8} {'multi':>8}  one launch?")
    lifted = {"MAX_MACS": 1 << 40, "MAX_PARAMS": 1 << 40}
    saved = {k: getattr(FS, k) for k in lifted}
    try:
        for width, units, batch in cases:
            x = rng.standard_normal((steps * batch, width)).astype("float32")
            y = rng.standard_normal((steps * batch, units[-1])).astype("float32")
            shapes = list(zip((width,) + units[:-1], units))
            macs = 3 * batch * sum(k * n for k, n in shapes)
            params = sum(k * n + n for k, n in shapes)
            values = FS.layout(batch, width, units[-1], False, shapes)[6]
            row, used = {}, None
            for mode in ("1", "0"):
                with B.use_backend(ops), G.env("GPUNET_FUSED_STEP", mode):
                    model = Sequential([Dense(n, activation="relu" if i < len(units) - 1 else "linear",
                                              **({"input_dim": width} if i == 0 else {})) for i, n in enumerate(units)])
                    model.compile(optimizer="adam", loss="mse")
                    for name, value in lifted.items():
                        setattr(FS, name, value)
                    fit = lambda: model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0)  # noqa: E731
                    row[mode] = median_seconds(fit, rounds, sync) / (steps * epochs) * 1e6
                    if mode == "1":
                        built = getattr(model._plan, "_steps", {}).values()
                        used = bool(built) and all(s.launches == 1 for s in built)
                out[(width, units, batch), mode] = row[mode]
            name = "-".join(str(v) for v in (width,) + units)
            print(f"  {name:>20} {batch:>5} {macs:>8} {params:>7} {values:>6} {row['1']:8.1f} {row['0']:8.1f}  "
                  f"{'yes' if used else 'no'}", flush=True)
    finally:
        for name, value in saved.items():
            setattr(FS, name, value)
    return out


# ---- 6d ------------------------------------------------------------------------------------------

# name: (layers (a list of constructors), optimizer, loss[, inputs(rng, n)]); on 784 inputs unless given, 10 outputs
def _beyond_dense_cases():
    from gpunet import losses, optimizers, regularizers
    from gpunet.layers import (Activation, AlphaDropout, BatchNormalization, Dense, Dropout, Embedding, GaussianDropout,
                               GaussianNoise, GlobalAveragePooling1D, LayerNormalization)
    dense_bn = lambda: [Dense(256, input_dim=784), BatchNormalization(), Activation("relu"),  # noqa: E731
                        Dense(256), BatchNormalization(), Activation("relu"), Dense(10)]
    dense_ln = lambda: [Dense(256, input_dim=784), LayerNormalization(), Activation("gelu"),  # noqa: E731
                        Dense(256), LayerNormalization(), Activation("gelu"), Dense(10)]
    noisy = lambda: [GaussianNoise(0.1, input_shape=(784,)), Dense(256, activation="relu"),  # noqa: E731
                     GaussianDropout(0.2), Dense(256, activation="relu"), Dense(10)]
    plain = lambda: [Dense(256, input_dim=784, activation="relu"), Dense(256, activation="relu"),  # noqa: E731
                     Dense(10)]
    return {"dense-bn-relu, adam": (dense_bn, lambda: optimizers.Adam(), "mse"),
            "adamw + clipnorm": (plain, lambda: optimizers.AdamW(clipnorm=1.0), "mse"),
            "nadam, huber": (plain, lambda: optimizers.Nadam(), losses.Huber()),
            # session 16's: LayerNormalization, the noise layers, Adadelta, Ftrl, "sum", a user's loss
            "dense-ln-gelu, adam": (dense_ln, lambda: optimizers.Adam(), "mse"),
            "noise layers, adadelta": (noisy, lambda: optimizers.Adadelta(1.0), "mse"),
            "ftrl, mse sum": (plain, lambda: optimizers.Ftrl(0.05), losses.MeanSquaredError(reduction="sum")),
            "adam, a user's loss": (plain, lambda: optimizers.Adam(), _users_loss),
            # session 17's: an activity regularizer (the sparse autoencoder's), AlphaDropout in a SELU stack
            "activity l1, adam": (lambda: [Dense(256, input_dim=784, activation="relu",
                                                 activity_regularizer=regularizers.l1(1e-5)),
                                           Dense(256, activation="relu"), Dense(10)], lambda: optimizers.Adam(), "mse"),
            "selu + alpha dropout": (lambda: [Dense(256, input_dim=784, activation="selu"), AlphaDropout(0.1),
                                              Dense(256, activation="selu"), AlphaDropout(0.1), Dense(10)],
                                     lambda: optimizers.Adam(), "mse"),
            # TensorFlow's text classification tutorial's model (the Embedding and pooling by their own code)
            "text: embedding + pool": (lambda: [Embedding(10000, 16, input_length=256), Dropout(0.2),
                                                GlobalAveragePooling1D(), Dense(16, activation="relu"), Dense(10)],
                                       lambda: optimizers.Adam(), "mse",
                                       lambda rng, n: rng.integers(0, 10000, (n, 256)).astype("float32")),
            # session 18's, on the graph step: the masked text classifier (its mask between own-code calls), a
            # frozen nested base model (its forward only) and a frozen first Dense layer
            "masked text": (lambda: [Embedding(10000, 16, mask_zero=True, input_length=256), GlobalAveragePooling1D(),
                                     Dense(16, activation="relu"), Dense(10)], lambda: optimizers.Adam(), "mse",
                            _padded_ids),
            "frozen nested base": (lambda: [_frozen_base(), Dense(256, activation="relu"), Dense(10)],
                                   lambda: optimizers.Adam(), "mse"),
            "frozen first dense": (lambda: [Dense(256, input_dim=784, activation="relu", trainable=False),
                                            Dense(256, activation="relu"), Dense(10)], lambda: optimizers.Adam(), "mse"),
            # session 19's, on the graph step: a layer of your own (its call on the tape between the graphs)
            "a user's layer": (lambda: [Dense(256, input_dim=784, activation="relu"), _users_layer(),
                                        Dense(256, activation="relu"), Dense(10)], lambda: optimizers.Adam(), "mse"),
            # session 20's: a subclassed model (its call traced into a graph: the graph step); Adafactor, which
            # updates by its own apply between the step's graphs
            "a subclassed model": (_subclassed, lambda: optimizers.Adam(), "mse"),
            "adafactor, own update": (plain, lambda: optimizers.Adafactor(), "mse")}


def _subclassed():
    """The wide MLP written as a subclass of Model with a residual ``+`` (built: the layer path's run stays
    off the plan)."""
    from gpunet.layers import Dense
    from gpunet.models import Model

    class Wide(Model):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.out = Dense(256, activation="relu"), Dense(256, activation="relu"), Dense(10)

        def call(self, x, training=None):
            h = self.a(x)
            return self.out(h + self.b(h))
    model = Wide()
    model.build((None, 784))
    return model


def _users_layer():
    """The Keras guide's subclassed layer: a weight of its own, ``call`` on the tape."""
    from gpunet import ops
    from gpunet.layers import Layer

    class Scale(Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):
            return ops.tanh(inputs * self.scale)
    return Scale()


def _padded_ids(rng, n):
    """Word ids of sequences of 32 to 256 words, zero-padded after (what mask_zero masks)."""
    ids = rng.integers(1, 10000, (n, 256))
    ids[numpy.arange(256)[None, :] >= rng.integers(32, 257, (n, 1))] = 0
    return ids.astype("float32")


def _frozen_base():
    """A transfer-learning base (Dense, BatchNormalization, relu) as a nested Sequential, frozen."""
    from gpunet.layers import Activation, BatchNormalization, Dense, Input
    from gpunet.models import Sequential
    base = Sequential([Input((784,)), Dense(256), BatchNormalization(), Activation("relu")])
    base.trainable = False
    return base


def _users_loss(y_true, y_pred):
    """A loss no kernel computes: its compute runs between the step's two captured graphs."""
    from gpunet import ops
    return ops.mean(ops.abs(y_true - y_pred), axis=-1) * 0.5


def beyond_dense_sweep(ops, sync, batches=(128, 2048), steps=16, epochs=2, rounds=3, cases=None):
    """Print and return {(case, batch, "plan"|"layers"): us per step}: each case trained on the GPU
    step plan (the chain's or the graph's) and, forced, on the layer path."""
    from gpunet import backend as B
    from gpunet.models import Model, Sequential
    cases = cases or _beyond_dense_cases()
    rng = numpy.random.default_rng(0)
    out = {}
    print(f"  us per training step ({steps} steps x {epochs} epochs a call, median of {rounds})")
    print(f"  {'model':>22} {'batch':>5} {'plan':>9} {'layers':>9}")
    for name, (layers, optimizer, loss, *inputs) in cases.items():
        for batch in batches:
            # (a text model's case gives its inputs: ids of a vocabulary)
            x = inputs[0](rng, steps * batch) if inputs else rng.standard_normal((steps * batch, 784)).astype("float32")
            y = rng.standard_normal((steps * batch, 10)).astype("float32")
            row = {}
            for path in ("plan", "layers"):
                with B.use_backend(ops):
                    made = layers()
                    model = made if isinstance(made, Model) else Sequential(made)
                    model.compile(optimizer=optimizer(), loss=loss)
                    if path == "layers":
                        model._plan = False  # what a model outside the plan gets
                    fit = lambda: model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)  # noqa: E731
                    row[path] = out[name, batch, path] = median_seconds(fit, rounds, sync) / (steps * epochs) * 1e6
                    if path == "plan" and not model._plan:
                        print(f"  ({name}: the plan did not take it)")
            print(f"  {name:>22} {batch:>5} {row['plan']:9.1f} {row['layers']:9.1f}", flush=True)
    return out


# ---- 6e ------------------------------------------------------------------------------------------

# (input width, hidden and output widths): Pima, sonar, iris, then wider stacks
FORWARD_CASES = [(8, (12, 8, 1)), (60, (60, 30, 1)), (4, (8, 3)), (64, (128, 64, 1)), (784, (128, 10)),
                 (784, (256, 256, 10))]


def fused_forward_sweep(ops, sync, cases=FORWARD_CASES, rows=20000, batch=32, rounds=3):
    """Print and return {(case, "1"|"0"): us per predict call} of ``rows`` resident rows at
    ``batch``: the one-launch forward (limit lifted) against the per-batch launches."""
    from gpunet import backend as B
    from gpunet.backend import gpu_fused_forward as FF
    from gpunet.layers import Dense
    from gpunet.models import Sequential
    rng = numpy.random.default_rng(0)
    out = {}
    print(f"  us per predict of {rows} rows at batch {batch} (median of {rounds}); limit today: MAX_PARAMS "
          f"{FF.MAX_PARAMS}")
    print(f"  {'model':>20} {'params':>8} {'one':>10} {'per batch':>10}  one launch?")
    saved = FF.MAX_PARAMS
    try:
        for width, units in cases:
            x = ops.asarray(rng.standard_normal((rows, width)).astype("float32"))
            row, used = {}, None
            for mode in ("1", "0"):
                with B.use_backend(ops), G.env("GPUNET_FUSED_FORWARD", mode):
                    FF.MAX_PARAMS = 1 << 40
                    model = Sequential([Dense(n, activation="relu" if i < len(units) - 1 else "sigmoid",
                                              **({"input_dim": width} if i == 0 else {})) for i, n in enumerate(units)])
                    model.compile(optimizer="adam", loss="mse")
                    predict = lambda: model.predict(x, batch_size=batch, verbose=0)  # noqa: E731
                    row[mode] = out[(width, units), mode] = median_seconds(predict, rounds, sync) * 1e6
                    if mode == "1":
                        used = bool(model._gpu_forward) and model._gpu_forward.fused is not None
            name = "-".join(str(v) for v in (width,) + units)
            params = sum(k * n + n for k, n in zip((width,) + units[:-1], units))
            print(f"  {name:>20} {params:>8} {row['1']:10.1f} {row['0']:10.1f}  {'yes' if used else 'no'}",
                  flush=True)
    finally:
        FF.MAX_PARAMS = saved
    return out


# ---- 6f ------------------------------------------------------------------------------------------

# (input width, the two residual layers' width, output units): the residual Pima network, a wider one
GRAPH_CASES = [(8, 12, 1), (784, 256, 10)]


def graph_forward_sweep(ops, sync, cases=GRAPH_CASES, rows=20000, batch=32, rounds=3):
    """Print and return {(case, "plan"|"layers"): us per predict call} of ``rows`` resident rows at
    ``batch`` of a residual graph (Dense, Dense, their Add, the output Dense): its forward plan
    (gpu_graph_forward.py) against the layer path it ran on before."""
    from gpunet import Input, backend as B
    from gpunet.layers import Add, Dense
    from gpunet.models import Model, plan_inference
    rng = numpy.random.default_rng(0)
    out = {}
    print(f"  us per predict of {rows} rows at batch {batch} (median of {rounds})")
    print(f"  {'residual graph':>20} {'plan':>10} {'layers':>10}  plan taken?")
    build = plan_inference.build_gpu_graph_forward
    try:
        for width, hidden, units in cases:
            x = ops.asarray(rng.standard_normal((rows, width)).astype("float32"))
            row, used = {}, None
            for path in ("plan", "layers"):
                plan_inference.build_gpu_graph_forward = build if path == "plan" else (lambda model: None)
                with B.use_backend(ops):
                    i = Input((width,))
                    h = Dense(hidden, activation="relu")(i)
                    last = "sigmoid" if units == 1 else "softmax"
                    model = Model(i, Dense(units, activation=last)(Add()([h, Dense(hidden, activation="relu")(h)])))
                    predict = lambda: model.predict(x, batch_size=batch, verbose=0)  # noqa: E731
                    row[path] = out[(width, hidden, units), path] = median_seconds(predict, rounds, sync) * 1e6
                    if path == "plan":
                        used = bool(model._gpu_forward)
            name = f"{width}-{hidden}-{hidden}-{units}"
            print(f"  {name:>20} {row['plan']:10.1f} {row['layers']:10.1f}  {'yes' if used else 'no'}", flush=True)
    finally:
        plan_inference.build_gpu_graph_forward = build
    return out
