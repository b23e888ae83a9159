"""Random graphs built from what the graph steps run by their layers' own code (graph_flow.py): a nested
base model (frozen or not, called with training=False or not), a frozen Dense, a lookup of ids, a masked
embedding with its pooling, a Lambda, ops on symbolic tensors, a layer of your own (adding a loss or not), a
residual Add, drawn by hypothesis. Whatever the draw, NumPy's graph plan and the GPU's graph step (kernels
emulated on the CPU) train it, or leave it to the layer path, exactly as the layer path trains it (float64:
histories, weights, predictions). Each draw may also be a subclassed model computing the same in its call:
its trace (models/call_trace.py) trains on the steps as its tape does, or leaves it to the tape."""
import numpy
from hypothesis import HealthCheck, given, settings, strategies as st

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet import backend as K
from gpunet.layers import (Activation, Add, BatchNormalization, Dense, Embedding, GlobalAveragePooling1D, Input, Lambda,
                           Layer)
from gpunet.models import Sequential

N, WIDTH, VOCAB = 37, 6, 9

spec = st.fixed_dictionaries({
    "text": st.booleans(),  # ids (some 0: padding) into an Embedding, pooled, before the rest
    "mask_zero": st.booleans(),
    "frozen_embedding": st.booleans(),
    "base": st.sampled_from([None, "frozen", "trainable"]),  # a nested Sequential of Dense, BatchNormalization
    "base_training_false": st.booleans(),
    "frozen_dense": st.booleans(),  # a frozen Dense right after the input part
    "op": st.sampled_from([None, "scale", "tanh", "lambda-square", "users-layer", "users-layer-adding-a-loss"]),
    "residual": st.booleans(),
    "batch": st.sampled_from([5, 16]),
    "subclassed": st.booleans(),  # the same layers and computation as a subclassed model's call
})


class Scaled(Layer):
    """A layer of your own: a weight per feature; its call may add a loss (the steps add it to each step's)."""

    def __init__(self, adds_loss=False, **kwargs):
        super().__init__(**kwargs)
        self.adds_loss = adds_loss

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        y = x * self.scale
        if self.adds_loss:
            self.add_loss(1e-2 * K.sum(K.square(y)))
        return y


def parts(s, width):
    """The layers of draw ``s`` (made in one order: the same weights for the functional and subclassed forms)."""
    made = {}
    if s["text"]:
        made["embed"] = Embedding(VOCAB, 4, mask_zero=s["mask_zero"], trainable=not s["frozen_embedding"])
        made["pool"], width = GlobalAveragePooling1D(), 4
    if s["frozen_dense"]:
        made["frozen"], width = Dense(5, activation="tanh", trainable=False), 5
    if s["base"]:
        # (no bias before the normalization: its gradient would be rounding noise alone, which Adam's steps
        # make values of 1e-10 that differ with the order of a sum: a weight of noise, not a test of the plans)
        made["base"] = Sequential([Input((width,)), Dense(5, use_bias=False), BatchNormalization(), Activation("tanh")])
        made["base"].trainable = s["base"] == "trainable"
    if s["op"] == "lambda-square":
        made["op"] = Lambda(lambda t: t * t)
    elif s["op"] in ("users-layer", "users-layer-adding-a-loss"):
        made["op"] = Scaled(adds_loss=s["op"] == "users-layer-adding-a-loss")
    made["hidden"] = Dense(6, activation="tanh")
    if s["residual"]:
        made["add"], made["skip"] = Add(), Dense(6)
    made["out"] = Dense(1, activation="sigmoid")
    return made


def forward(s, made, h):
    """Draw ``s``'s computation over the layers ``made``: a functional graph on a symbolic input, or a
    subclassed model's ``call``."""
    if s["text"]:
        h = made["pool"](made["embed"](h))
    if s["frozen_dense"]:
        h = made["frozen"](h)
    if s["base"]:
        h = made["base"](h, training=False) if s["base_training_false"] else made["base"](h)
    if s["op"] == "scale":
        h = h * 0.5
    elif s["op"] == "tanh":
        h = K.tanh(h)
    elif s["op"] is not None:
        h = made["op"](h)
    hidden = made["hidden"](h)
    if s["residual"]:
        hidden = made["add"]([hidden, made["skip"](h)])
    return made["out"](hidden)


class Drawn(gpunet.Model):
    """A draw as a subclassed model: its layers set in __init__, its computation in call (models/call_trace.py)."""

    def __init__(self, s):
        super().__init__()
        self.s, self.made = s, parts(s, WIDTH)

    def call(self, x, training=None):
        return forward(self.s, self.made, x)


def build(s):
    if s["subclassed"]:
        return Drawn(s)
    tokens = Input((WIDTH,))
    return gpunet.Model(tokens, forward(s, parts(s, WIDTH), tokens))


def data(s):
    rng = numpy.random.default_rng(5)
    x = rng.integers(0, VOCAB, (N, WIDTH)).astype("float64") if s["text"] else rng.standard_normal((N, WIDTH))
    return x, (rng.random((N, 1)) < 0.5).astype("float64")


def train(s, path, emulator):
    ops = EmulatedCupyBackend(emulator) if path == "emulated-gpu" else B.resolve("numpy")
    x, y = data(s)
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(2)
        model = build(s)
        model.compile(optimizer=gpunet.optimizers.Adam(0.02), loss="binary_crossentropy")
        if path == "layer-path":
            model._train_plan = lambda: None
        history = model.fit(x, y, batch_size=s["batch"], epochs=2, verbose=0, shuffle=False).history
        return model, history["loss"], ops.to_host(model.predict(x, verbose=0))


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(s=spec)
def test_random_graphs_train_on_the_graph_steps_as_on_the_layer_path(emulator, s):
    B.set_floatx("float64")
    ref = train(s, "layer-path", emulator)
    for path, plans in (("numpy", ("DensePlan", "GraphPlan")), ("emulated-gpu", ("GpuPlan", "GpuGraphPlan"))):
        model, losses, predicted = train(s, path, emulator)
        assert type(model._plan).__name__ in plans, (path, s)  # (a chain's plan, or the graph's)
        numpy.testing.assert_allclose(losses, ref[1], rtol=1e-9, err_msg=f"{path} {s}")
        numpy.testing.assert_allclose(predicted, ref[2], rtol=1e-8, atol=1e-12, err_msg=f"{path} {s}")
        for g, r in zip(model.get_weights(), ref[0].get_weights()):
            numpy.testing.assert_allclose(g, r, rtol=1e-8, atol=1e-10, err_msg=f"{path} {s}")
