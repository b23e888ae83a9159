"""Masks inside a ``call()`` (a subclassed model's, or a layer of your own's), as tf.keras 2 hands them on
between the layers called there: an ``Embedding(mask_zero=True)`` or ``Masking`` layer puts its mask on its
output tensor, and the layers after it use it, pass it on or drop it by the rules a functional graph follows
(layers/masking.py). The tape used to drop it: a pooling averaged the padding too."""
import numpy
import pytest

import gpunet
from gpunet import backend as B
from gpunet.layers import Add, Dense, Embedding, GlobalAveragePooling1D, Input, Layer, Masking
from gpunet.models import Model

VOCAB, STEPS = 11, 6


def ids():
    rng = numpy.random.default_rng(3)
    x = rng.integers(1, VOCAB, (40, STEPS)).astype("float64")
    x[numpy.arange(STEPS)[None, :] >= rng.integers(1, STEPS + 1, (40, 1))] = 0  # (padding after each sequence)
    return x, (x[:, :2].sum(1, keepdims=True) > VOCAB).astype("float64")


class Passes(Layer):
    """A layer of your own that hands the mask on (``supports_masking``, as Keras's attribute)."""

    def __init__(self, supports=True, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = supports

    def call(self, x):
        return x * 2.0


class TakesTheMask(Layer):
    """A layer of your own whose call takes the mask: it keeps the last one it got; its output carries none."""
    def call(self, x, mask=None):
        self.seen = None if mask is None else numpy.asarray(mask)
        return x


class Pooled(Model):
    """Keras's text classifier as a subclass: the embedding's mask reaches the pooling through ``between``."""

    def __init__(self, between=None, merge=False):
        super().__init__()
        self.embed, self.pool = Embedding(VOCAB, 4, mask_zero=True), GlobalAveragePooling1D()
        self.between, self.merge, self.out = between, Add() if merge else None, Dense(1, activation="sigmoid")

    def call(self, x):
        h = self.embed(x)
        if self.between is not None:
            h = self.between(h)
        if self.merge is not None:
            h = self.merge([h, self.embed(x)])  # (the two masks combined)
        return self.out(self.pool(h))


def functional_twin(model):
    """The same layers as a functional graph, which follows tf.keras 2's mask rules (tests/test_functional_masks.py)."""
    i = Input((STEPS,))
    h = model.embed(i)
    if model.between is not None:
        h = model.between(h)
    if model.merge is not None:
        h = model.merge([h, model.embed(i)])
    return Model(i, model.out(model.pool(h)))


def masked_mean_reference(model, x):
    """The pooling over the unpadded steps alone, by hand (``between`` doubling them where it passes on)."""
    table = numpy.asarray(model.embed.ops.to_host(model.embed.embeddings.value))
    scale = (2.0 if model.between is not None else 1.0) + (1.0 if model.merge is not None else 0.0)
    keep = x != 0
    pooled = (table[x.astype(int)] * keep[..., None]).sum(1) / keep.sum(1, keepdims=True) * scale
    k, b = (numpy.asarray(model.out.ops.to_host(w.value)) for w in (model.out.kernel, model.out.bias))
    return 1 / (1 + numpy.exp(-(pooled @ k + b)))


@pytest.mark.parametrize("case", ["plain", "a layer passing it on", "merged"])
def test_a_subclassed_models_call_hands_masks_on_as_its_functional_twin(case):
    B.set_floatx("float64")
    x, y = ids()
    with B.use_backend(B.resolve("numpy")):
        model = Pooled(between=Passes() if case == "a layer passing it on" else None, merge=case == "merged")
        got = numpy.asarray(model.predict(x, verbose=0))
        numpy.testing.assert_allclose(got, masked_mean_reference(model, x), rtol=1e-12)
        numpy.testing.assert_allclose(got, numpy.asarray(functional_twin(model).predict(x, verbose=0)), rtol=1e-12)


def test_a_layer_that_does_not_pass_masks_on_drops_it_as_in_a_graph():
    B.set_floatx("float64")
    x, _ = ids()
    with B.use_backend(B.resolve("numpy")):
        model = Pooled(between=Passes(supports=False))
        got = numpy.asarray(model.predict(x, verbose=0))
        numpy.testing.assert_allclose(got, numpy.asarray(functional_twin(model).predict(x, verbose=0)), rtol=1e-12)
        assert not numpy.allclose(got, masked_mean_reference(model, x))  # (the padding averaged in)


def test_training_on_the_tape_with_masks_is_the_functional_twins():
    B.set_floatx("float64")
    x, y = ids()
    histories = []
    for form in ("subclassed", "functional"):
        with B.use_backend(B.resolve("numpy")):
            gpunet.utils.set_random_seed(2)
            model = Pooled(between=Passes())
            if form == "functional":
                model = functional_twin(model)
            model.compile(optimizer=gpunet.optimizers.Adam(0.02), loss="binary_crossentropy")
            model._train_plan = lambda: None
            histories.append(model.fit(x, y, batch_size=8, epochs=3, verbose=0, shuffle=False).history["loss"])
    numpy.testing.assert_allclose(histories[0], histories[1], rtol=1e-12)


class MaskedOutput(Model):
    def __init__(self):
        super().__init__()
        self.mask, self.out = Masking(0.0), Dense(1)

    def call(self, x):
        return self.out(self.mask(x))


def test_a_mask_reaching_a_subclassed_models_output_weighs_the_loss_as_in_a_graph():
    x = numpy.ones((4, 3))
    x[0] = 0
    with B.use_backend(B.resolve("numpy")):
        model = MaskedOutput()
        out = model.predict(x, verbose=0)
        model.compile("sgd", "mse")
        loss = model.fit(x, numpy.zeros((4, 1)), verbose=0).history["loss"][0]
        numpy.testing.assert_allclose(loss, (out[1:, 0] ** 2).mean(), rtol=1e-5)  # (the masked sample does not count)


def test_a_layer_whose_call_takes_the_mask_gets_it_as_in_a_graph():
    B.set_floatx("float64")
    x, _ = ids()
    with B.use_backend(B.resolve("numpy")):
        model = Pooled(between=TakesTheMask(name="takes"))
        got = numpy.asarray(model.predict(x, verbose=0))
        numpy.testing.assert_allclose(got, numpy.asarray(functional_twin(model).predict(x, verbose=0)), rtol=1e-12)
        seen = model.between.seen
        numpy.testing.assert_array_equal(seen, x[-len(seen):] != 0)  # (the last batch's mask, as tf.keras passes it)
