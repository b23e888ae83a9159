"""Keras 2's `Masking` core layer: its output, mask and gradient; the mask reaching
GlobalAveragePooling1D through Dense and Dropout as in tf.keras 2.21 (the same predictions and
training); configs and files both ways with tf.keras 2.21; what gpunet refuses."""

import numpy as np
import pytest

from gpunet.layers import Dense, Dropout, Flatten, GlobalAveragePooling1D, Masking
from gpunet.models import Sequential, load_model, model_from_json
from gpunet.testing import check_gradient

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:tf_keras.*")

RNG = np.random.default_rng(5)
X = RNG.standard_normal((6, 4, 3))
X[0, 1] = X[2, 3] = X[5, 0] = -1.0  # padded steps (every feature equals the mask value)
X[3, 2, 1] = -1.0  # one feature at the mask value: not a padded step
Y = (X.sum(axis=(1, 2)) > 0).astype("float64").reshape(-1, 1)


def test_output_mask_and_gradient(ops, f64):
    layer = Masking(mask_value=-1.0)
    layer.build((None, 4, 3))
    padded = np.zeros((6, 4), bool)
    padded[0, 1] = padded[2, 3] = padded[5, 0] = True
    out = ops.to_host(layer.forward(ops.asarray(X)))
    np.testing.assert_array_equal(out, np.where(padded[..., None], 0.0, X))  # padded steps zeroed
    np.testing.assert_array_equal(ops.to_host(layer.compute_mask(ops.asarray(X))), ~padded)
    # Away from padded steps the output is differentiable: finite differences agree. At a padded
    # step any change unpads it (a jump); TensorFlow's gradient, like gpunet's, is then 0.
    unpadded = X[np.ix_([1, 3, 4])]
    check_gradient(lambda v: ops.to_host(layer.forward(ops.asarray(v))),
                   lambda dy: ops.to_host(layer.backward(ops.asarray(dy))), unpadded.copy())
    dy = RNG.standard_normal(X.shape)
    layer.forward(ops.asarray(X))
    np.testing.assert_array_equal(ops.to_host(layer.backward(ops.asarray(dy))), np.where(padded[..., None], 0.0, dy))


def _model(lib, **kw):
    layers = lib.layers
    return lib.Sequential([layers.Masking(mask_value=-1.0, input_shape=(4, 3)), layers.Dense(5, activation="tanh"),
                           layers.Dropout(0.0), layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid")])


def test_the_mask_reaches_global_average_pooling_as_in_tf_keras(tfk, f64):
    """Predictions, and training with SGD, equal tf.keras's: the padded steps stay out of the mean."""
    import gpunet
    tfk.backend.set_floatx("float64")
    try:
        ours, theirs = _model(gpunet), _model(tfk)
        theirs.set_weights(ours.get_weights())
        np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), rtol=1e-12)
        unmasked = Sequential([Dense(5, activation="tanh", input_shape=(4, 3)), GlobalAveragePooling1D(),
                               Dense(1, activation="sigmoid")])
        unmasked.set_weights(ours.get_weights())
        assert not np.allclose(unmasked.predict(X, verbose=0), ours.predict(X, verbose=0)), "the mask mattered"
        ours.compile(optimizer=gpunet.optimizers.SGD(0.5), loss="binary_crossentropy")
        theirs.compile(optimizer=tfk.optimizers.SGD(0.5), loss="binary_crossentropy")
        h1 = ours.fit(X, Y, batch_size=3, epochs=3, shuffle=False, verbose=0).history["loss"]
        h2 = theirs.fit(X, Y, batch_size=3, epochs=3, shuffle=False, verbose=0).history["loss"]
        np.testing.assert_allclose(h1, h2, rtol=1e-9)
        for a, b in zip(ours.get_weights(), theirs.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    finally:
        tfk.backend.set_floatx("float32")


def test_files_and_configs_both_ways_with_tf_keras(tfk, tmp_path):
    import gpunet
    ours = _model(gpunet)
    assert ours.layers[0].get_config()["mask_value"] == -1.0
    again = model_from_json(ours.to_json())
    assert isinstance(again.layers[0], Masking) and again.layers[0].mask_value == -1.0
    x = X.astype("float32")
    ours.save(tmp_path / "ours.h5")
    theirs = tfk.models.load_model(tmp_path / "ours.h5", compile=False)
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-6)
    theirs.save(tmp_path / "theirs.h5")
    back = load_model(tmp_path / "theirs.h5", compile=False)
    assert isinstance(back.layers[0], Masking)
    np.testing.assert_allclose(back.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-6)


def test_what_gpunet_refuses():
    with pytest.raises(ValueError, match="Masking expects a number `mask_value`, received 'zero'"):
        Masking(mask_value="zero")
    # a mask reaching the output weighs the loss, as tf.keras 2's: a masked sample does not count
    net = Sequential([Masking(input_shape=(3,)), Dense(1)])
    net.compile(optimizer="sgd", loss="mse")
    x = RNG.standard_normal((4, 3))
    x[1] = 0.0
    out = net.predict(x, verbose=0)
    loss = net.fit(x, np.zeros((4, 1)), verbose=0).history["loss"][0]
    np.testing.assert_allclose(loss, (out[[0, 2, 3], 0] ** 2).mean(), rtol=1e-5)
    flat = Sequential([Masking(input_shape=(4, 3)), Flatten(), Dense(1)])  # Flatten drops the mask
    flat.compile(optimizer="sgd", loss="mse")
    assert len(flat.fit(X, Y, verbose=0).history["loss"]) == 1
    inner = Sequential([Masking(input_shape=(4, 3)), Dense(2)])  # (nested, its mask crosses out: the loss weighs
    outer = Sequential([inner, Dropout(0.1)])                      # the steps by it, as tf.keras 2's)
    outer.compile(optimizer="sgd", loss="mse")
    x = RNG.standard_normal((2, 4, 3))
    x[0, 1:] = 0.0
    out = outer.predict(x, verbose=0)
    kept = [(0, 0), (1, 0), (1, 1), (1, 2), (1, 3)]
    np.testing.assert_allclose(outer.evaluate(x, np.zeros((2, 4, 2)), verbose=0),
                               np.mean([(out[i, j] ** 2).mean() for i, j in kept]), rtol=1e-5)
