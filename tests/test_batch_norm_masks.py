"""BatchNormalization over masked steps in training, against tf.keras 2.21: the batch statistics (and so the moving
averages) are the unmasked steps' (``tf.nn.weighted_moments`` with the mask as weights), every step is normalized
by them, and the gradient flows through them. Inference uses the moving statistics, mask or not."""
import numpy as np
import pytest

import gpunet

from graph_gradients import assert_trains_alike

R = np.random.default_rng(5)
LENGTHS = R.integers(1, 8, 32)  # each row's tokens, then padding
TOKENS = np.where(np.arange(7) < LENGTHS[:, None], R.integers(1, 10, (32, 7)), 0)
Y = R.random((32, 1)).astype("float32")
Y_STEPS = R.random((32, 7, 2)).astype("float32")


def pooled(lib):
    L = lib.layers
    return lib.Sequential([lib.Input((7,)), L.Embedding(10, 4, mask_zero=True), L.BatchNormalization(momentum=0.5),
                           L.GlobalAveragePooling1D(), L.Dense(1)])


def recurrent(lib):
    L = lib.layers
    inp = lib.Input((7,))
    # (no bias before the normalization: its gradient is rounding noise that Adam's step would blow up)
    h = L.BatchNormalization(center=False)(L.Dense(5, use_bias=False)(L.Embedding(10, 4, mask_zero=True)(inp)))
    return lib.Model(inp, L.Dense(1)(L.LSTM(3)(h)))


def tagger(lib):
    """The mask reaches the output through the normalization: the loss weighs the steps by it too."""
    L = lib.layers
    return lib.Sequential([lib.Input((7,)), L.Embedding(10, 4, mask_zero=True), L.BatchNormalization(scale=False),
                           L.Dense(2)])


CASES = [(pooled, Y), (recurrent, Y), (tagger, Y_STEPS)]


@pytest.mark.parametrize("make, y", CASES, ids=[c[0].__name__ for c in CASES])
def test_trains_as_tf_keras(tfk, make, y):
    ref, model = make(tfk), make(gpunet)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    assert_trains_alike(model, ref, TOKENS, y, epochs=2)  # (the moving statistics among the weights compared)
    np.testing.assert_allclose(model.predict(TOKENS, verbose=0), ref.predict(TOKENS, verbose=0), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(model.evaluate(TOKENS, y, verbose=0), ref.evaluate(TOKENS, y, verbose=0), rtol=1e-5)


def test_masked_rows_as_tf_keras(tfk):
    """A Masking layer over rows masks whole samples: the statistics are the other rows' (and the loss skips them)."""
    x = R.standard_normal((32, 3)).astype("float32")
    x[::4] = 0.0

    def make(lib):
        L = lib.layers
        return lib.Sequential([lib.Input((3,)), L.Masking(0.0), L.Dense(4, use_bias=False), L.BatchNormalization(),
                               L.Dense(1)])
    ref, model = make(tfk), make(gpunet)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
    assert_trains_alike(model, ref, x, Y, epochs=2)


def test_statistics_are_the_unmasked_steps_and_the_gradient_flows_through_them():
    from gpunet.layers import BatchNormalization
    layer = BatchNormalization(momentum=0.0, epsilon=1e-3, dtype="float64")
    x = R.standard_normal((3, 5, 2))
    keep = np.ones((3, 5), bool)
    keep[0, 2:] = keep[2, 4:] = False
    layer.build(x.shape)
    ops = layer.ops
    mask = ops.asarray(keep)

    def run(inputs):
        return np.asarray(ops.to_host(layer.forward(ops.asarray(inputs), training=True, mask=mask)))
    y = run(x)
    kept = x[keep]
    np.testing.assert_allclose(layer.moving_mean.numpy(), kept.mean(0), rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance.numpy(), kept.var(0), rtol=1e-12)
    np.testing.assert_allclose(y, (x - kept.mean(0)) / np.sqrt(kept.var(0) + 1e-3), rtol=1e-12)
    # the gradient, by central differences in float64 with a random upstream gradient
    dy = R.standard_normal(x.shape)
    layer.gamma.assign([1.5, -0.7])
    run(x)
    analytic = np.asarray(ops.to_host(layer.backward(ops.asarray(dy))))
    numeric, eps = np.zeros_like(x), 1e-6
    for i in np.ndindex(*x.shape):
        for sign in (1, -1):
            shifted = x.copy()
            shifted[i] += sign * eps
            numeric[i] += sign * (run(shifted) * dy).sum() / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_a_mask_of_another_shape_is_refused():
    from gpunet.layers import BatchNormalization
    layer = BatchNormalization(axis=1)
    layer.build((2, 3, 4))
    with pytest.raises(NotImplementedError, match="axis=-1"):
        layer.forward(layer.ops.zeros((2, 3, 4), "float32"), training=True,
                      mask=layer.ops.asarray(np.ones((2, 3), bool)))
