"""Masks and layers of your own, as tf.keras 2 calls them (the "Masking and padding" guide): a ``call`` that
takes ``mask`` gets its input's mask; a ``compute_mask`` says what mask the output carries, and may start one
(the guide's ``CustomEmbedding``). Compared with tf.keras 2.21 on the same weights, and the fused plans with
the layer path."""
import numpy
import pytest

import gpunet
from gpunet import backend as B
from gpunet.layers import Dense, Embedding, Input, Layer
from gpunet.models import Model, Sequential

from keras_support import tf_keras_or_skip

VOCAB, STEPS = 11, 6


def data(n=40):
    rng = numpy.random.default_rng(4)
    x = rng.integers(1, VOCAB, (n, STEPS))
    x[numpy.arange(STEPS)[None, :] >= rng.integers(2, STEPS + 1, (n, 1))] = 0  # (padding after each sequence)
    return x.astype("float32"), (x[:, 0] > VOCAB // 2).astype("float32")[:, None]


def own_layers(base, K):
    """The guide's kinds of layer, written once for gpunet and once for tf.keras (``base``: its Layer, ``K``:
    its backend functions)."""

    class MaskedMean(base):
        """A pooling whose call takes the mask (None-safe)."""
        def call(self, inputs, mask=None):
            if mask is None:
                return K.mean(inputs, axis=1)
            m = K.expand_dims(K.cast(mask, K.dtype(inputs)), -1)
            return K.sum(inputs * m, axis=1) / K.maximum(K.sum(m, axis=1), 1.0)

    class CustomEmbedding(base):
        """The guide's: its compute_mask starts a mask from none."""
        def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
            super().__init__(**kwargs)
            self.input_dim, self.output_dim, self.mask_zero = input_dim, output_dim, mask_zero

        def build(self, input_shape):
            self.embeddings = self.add_weight(name="embeddings", shape=(self.input_dim, self.output_dim),
                                              initializer="random_normal")

        def call(self, inputs):
            return K.gather(self.embeddings, K.cast(inputs, "int32"))

        def compute_mask(self, inputs, mask=None):
            return K.not_equal(inputs, 0) if self.mask_zero else None

    class DropFirstStep(base):
        """Hands on a mask of its own making: the input's without the first step."""
        def call(self, inputs):
            return inputs[:, 1:]

        def compute_mask(self, inputs, mask=None):
            return None if mask is None else mask[:, 1:]

    class Doubling(base):
        """Passes the mask on by the attribute (and Layer's own compute_mask, called by super())."""
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs):
            return inputs * 2.0

        def compute_mask(self, inputs, mask=None):
            return super().compute_mask(inputs, mask)

    return MaskedMean, CustomEmbedding, DropFirstStep, Doubling


CASES = ["call takes the mask", "compute_mask starts one", "compute_mask changes it", "super().compute_mask"]


def calls(case, layers, own):
    """The layers of a case's model, in gpunet or tf.keras (``layers``: its layers module; ``own``: `own_layers`')."""
    MaskedMean, CustomEmbedding, DropFirstStep, Doubling = own
    if case == "call takes the mask":
        chain = [layers.Embedding(VOCAB, 4, mask_zero=True), layers.Dense(5, activation="tanh"), MaskedMean()]
    elif case == "compute_mask starts one":
        chain = [CustomEmbedding(VOCAB, 4, mask_zero=True), layers.Dense(5, activation="tanh"),
                 layers.GlobalAveragePooling1D()]
    elif case == "compute_mask changes it":
        chain = [layers.Embedding(VOCAB, 4, mask_zero=True), DropFirstStep(), layers.GlobalAveragePooling1D()]
    else:
        chain = [layers.Embedding(VOCAB, 4, mask_zero=True), Doubling(), MaskedMean()]
    return chain + [layers.Dense(1, activation="sigmoid")]


def graph(chain, layers):
    """``(inputs, outputs)`` of the functional model calling ``chain`` in turn."""
    h = inputs = layers.Input((STEPS,))
    for layer in chain:
        h = layer(h)
    return inputs, h


def gpunet_model(case, sequential=False):
    chain = calls(case, gpunet.layers, own_layers(Layer, B))
    if sequential:
        model = Sequential(chain)
        model.build((None, STEPS))
        return model
    return Model(*graph(chain, gpunet.layers))


def reference(case, model, x):
    """What each model computes, by hand in NumPy from its weights."""
    w = [numpy.asarray(a, dtype="float64") for a in model.get_weights()]
    keep = (x != 0).astype("float64")
    h = w[0][x.astype(int)]
    if case in ("call takes the mask", "compute_mask starts one"):
        h = numpy.tanh(h @ w[1] + w[2])
        k, b = w[3], w[4]
    else:
        if case == "compute_mask changes it":
            h, keep = h[:, 1:], keep[:, 1:]
        else:
            h = h * 2.0
        k, b = w[1], w[2]
    pooled = (h * keep[..., None]).sum(1) / numpy.maximum(keep.sum(1, keepdims=True), 1.0)
    return 1.0 / (1.0 + numpy.exp(-(pooled @ k + b)))


@pytest.mark.parametrize("sequential", [False, True], ids=["functional", "Sequential"])
@pytest.mark.parametrize("case", CASES)
def test_own_layers_use_and_make_masks_as_the_masked_arithmetic(ops, case, sequential):
    B.set_floatx("float64")
    x, _ = data()
    model = gpunet_model(case, sequential)
    got = numpy.asarray(model.predict(x, verbose=0))
    numpy.testing.assert_allclose(got, reference(case, model, x), rtol=1e-10)
    assert not numpy.allclose(got, reference(case, model, numpy.where(x == 0, 1, x)))  # (the mask matters here)


@pytest.mark.parametrize("case", CASES)
def test_fit_and_predict_equal_tf_keras_on_the_same_weights(case):
    tf_keras = tf_keras_or_skip()
    x, y = data()
    mine = gpunet_model(case)
    theirs = tf_keras.Model(*graph(calls(case, tf_keras.layers, own_layers(tf_keras.layers.Layer, tf_keras.backend)),
                                   tf_keras.layers))
    theirs.set_weights(mine.get_weights())
    numpy.testing.assert_allclose(mine.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-7)
    histories = []
    for model, optimizers in ((mine, gpunet.optimizers), (theirs, tf_keras.optimizers)):
        model.compile(optimizer=optimizers.SGD(0.5), loss="binary_crossentropy")
        histories.append(model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"])
    numpy.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)
    for a, b in zip(mine.get_weights(), theirs.get_weights()):
        numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    assert abs(histories[0][-1] - histories[0][0]) > 1e-3  # (it trained)


@pytest.mark.parametrize("case", CASES)
def test_the_fused_steps_train_as_the_layer_path(ops, case):
    B.set_floatx("float64")
    x, y = data()
    histories, weights = [], []
    for plan in (True, False):
        gpunet.utils.set_random_seed(3)
        model = gpunet_model(case)
        model.compile(optimizer=gpunet.optimizers.Adam(0.05), loss="binary_crossentropy")
        if plan:
            assert model._train_plan() is not None  # (NumPy's graph plan, or the GPU's graph step)
        else:
            model._train_plan = lambda: None
        histories.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"])
        weights.append(model.get_weights())
    numpy.testing.assert_allclose(histories[0], histories[1], rtol=1e-10)
    for a, b in zip(*weights):
        numpy.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_inside_another_layers_call_the_mask_goes_on_as_between_layers():
    B.set_floatx("float64")
    MaskedMean, CustomEmbedding, _, _ = own_layers(Layer, B)

    class Encoder(Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embed, self.pool = CustomEmbedding(VOCAB, 3, mask_zero=True), MaskedMean()

        def call(self, x):
            return self.pool(self.embed(x))

    x, y = data()
    i = Input((STEPS,))
    model = Model(i, Dense(1, activation="sigmoid")(Encoder()(i)))
    w = [numpy.asarray(a) for a in model.get_weights()]
    keep = (x != 0)[..., None]
    pooled = (w[0][x.astype(int)] * keep).sum(1) / keep.sum(1)
    numpy.testing.assert_allclose(model.predict(x, verbose=0), 1 / (1 + numpy.exp(-(pooled @ w[1] + w[2]))),
                                  rtol=1e-10)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    losses = model.fit(x, y, epochs=3, verbose=0).history["loss"]
    assert losses[-1] < losses[0]


def test_a_call_taking_keyword_arguments_gets_the_mask_as_in_tf_keras():
    class Kwargs(Layer):  # (tf.keras 2 passes mask to a call that takes **kwargs, None where there is none)
        def call(self, inputs, **kwargs):
            self.seen = kwargs.get("mask", "not passed")
            return inputs

    x, _ = data(4)
    i = Input((STEPS,))
    layer = Kwargs()
    Model(i, layer(Embedding(VOCAB, 2, mask_zero=True)(i))).predict(x, verbose=0)
    numpy.testing.assert_array_equal(layer.ops.to_host(layer.seen), x != 0)
    plain = Kwargs()
    Model(i, plain(Dense(2)(i))).predict(x, verbose=0)
    assert plain.seen is None


def test_a_call_that_needs_a_mask_is_built_with_one_in_a_functional_graph():
    class NeedsMask(Layer):  # (the guide's TemporalSoftmax asserts it has one)
        def call(self, inputs, mask=None):
            assert mask is not None
            return inputs * B.expand_dims(B.cast(mask, B.floatx()), -1)

    i = Input((STEPS,))
    out = NeedsMask()(Embedding(VOCAB, 2, mask_zero=True)(i))
    x, _ = data(3)
    got = numpy.asarray(Model(i, out).predict(x, verbose=0))
    assert got.shape == (3, STEPS, 2) and numpy.all(got[x == 0] == 0) and numpy.all(got[x != 0] != 0)


def test_layers_default_compute_mask_is_tf_keras_2s():
    class Plain(Layer):
        def call(self, x):
            return x

    mask = numpy.array([[True, False]])
    assert Plain().compute_mask(numpy.ones((1, 2))) is None
    with pytest.raises(TypeError, match=r"Layer plain_1 does not support masking, but was passed an input_mask"):
        Plain(name="plain_1").compute_mask(numpy.ones((1, 2)), mask)
    passing = Plain()
    passing.supports_masking = True
    assert passing.compute_mask(numpy.ones((1, 2)), mask) is mask


def test_a_compute_mask_giving_several_masks_is_refused_by_name():
    class Split(Layer):
        def call(self, x):
            return x

        def compute_mask(self, inputs, mask=None):
            return [mask, mask]

    i = Input((STEPS,))
    with pytest.raises(NotImplementedError, match=r"Layer 'split' \(Split\): compute_mask returned 2 masks"):
        Split(name="split")(Embedding(VOCAB, 2, mask_zero=True)(i))
