"""Random graphs built from what the graph steps run by their layers' own code (graph_flow.py): a nested
base model (frozen or not, called with training=False or not), a frozen Dense, a lookup of ids, a masked
embedding with its pooling, a Lambda, ops on symbolic tensors, a layer of your own (adding a loss or not), a
residual Add, drawn by hypothesis. Whatever the draw, NumPy's graph plan and the GPU's graph step (kernels
emulated on the CPU) train it, or leave it to the layer path, exactly as the layer path trains it (float64:
histories, weights, predictions)."""
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


def build(s):
    tokens = Input((WIDTH,))
    if s["text"]:
        e = Embedding(VOCAB, 4, mask_zero=s["mask_zero"], trainable=not s["frozen_embedding"])(tokens)
        h = GlobalAveragePooling1D()(e)
    else:
        h = tokens
    if s["frozen_dense"]:
        h = Dense(5, activation="tanh", trainable=False)(h)
    if s["base"]:
        width = h.shape[-1]
        # (no bias before the normalization: its gradient would be rounding noise alone, which Adam's steps
        # make values of 1e-10 that differ with the order of a sum: a weight of noise, not a test of the plans)
        base = Sequential([Input((width,)), Dense(5, use_bias=False), BatchNormalization(), Activation("tanh")])
        base.trainable = s["base"] == "trainable"
        h = base(h, training=False) if s["base_training_false"] else base(h)
    if s["op"] == "scale":
        h = h * 0.5
    elif s["op"] == "tanh":
        h = K.tanh(h)
    elif s["op"] == "lambda-square":
        h = Lambda(lambda t: t * t)(h)
    elif s["op"] is not None:
        h = Scaled(adds_loss=s["op"] == "users-layer-adding-a-loss")(h)
    hidden = Dense(6, activation="tanh")(h)
    if s["residual"]:
        hidden = Add()([hidden, Dense(6)(h)])
    return gpunet.Model(tokens, Dense(1, activation="sigmoid")(hidden))


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
