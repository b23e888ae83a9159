"""Ops on the functional API's symbolic tensors (``K.square(x) * 2``, ``losses.mse(inputs, outputs)``),
recorded as layers as tf.keras 2 records them, and ``model.add_loss`` of such a tensor (the Keras VAE
examples' loss); against tf.keras 2.21 and central differences."""
import os

import numpy as np
import pytest

import gpunet
from gpunet import backend as K

from graph_gradients import assert_trains_alike, check_loss_gradient, check_model_gradients


def _data(n=64, features=6):
    rng = np.random.default_rng(11)
    return rng.normal(size=(n, features)).astype("float32")


def _ops_model(lib):
    """Arithmetic, K functions, slicing and a reduction over features inside the model's outputs."""
    Kb = lib.backend
    inputs = lib.Input((6,))
    h = lib.layers.Dense(4, activation="tanh", name="h")(inputs)
    mixed = 2.0 * h - Kb.square(h) / 4 + inputs[:, :4] + 1
    scale = Kb.sum(Kb.exp(-Kb.abs(h)), axis=-1, keepdims=True)
    out = lib.layers.Dense(1, name="out")(mixed * scale)
    return lib.Model(inputs, out)


def _vae_like(lib):
    """The Keras VAE example's loss on a deterministic encoder and decoder: reconstruction plus KL."""
    Kb = lib.backend
    inputs = lib.Input((6,), name="encoder_input")
    h = lib.layers.Dense(5, activation="relu", name="enc")(inputs)
    z_mean = lib.layers.Dense(2, name="z_mean")(h)
    z_log_var = lib.layers.Dense(2, name="z_log_var")(h)
    d = lib.layers.Dense(5, activation="relu", name="dec")(z_mean)
    outputs = lib.layers.Dense(6, activation="sigmoid", name="out")(d)
    vae = lib.Model(inputs, outputs, name="vae_mlp")
    reconstruction_loss = lib.losses.binary_crossentropy(inputs, outputs)
    reconstruction_loss *= 6
    kl_loss = 1 + z_log_var - Kb.square(z_mean) - Kb.exp(z_log_var)
    kl_loss = Kb.sum(kl_loss, axis=-1)
    kl_loss *= -0.5
    vae.add_loss(Kb.mean(reconstruction_loss + kl_loss))
    return vae


def test_ops_on_symbolic_tensors_predict_and_train_as_in_tf_keras(tfk):
    x = _data()
    y = x[:, :1] * 0.5
    model, ref = _ops_model(gpunet), _ops_model(tfk)
    model.set_weights(ref.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.02, momentum=0.9), loss="mse")
    assert_trains_alike(model, ref, x, y)


def test_symbolic_shapes_follow_the_op():
    x = gpunet.Input((5, 3))
    assert K.mean(x).shape == ()
    assert K.sum(x, axis=-1).shape == (None, 5)
    assert x[:, 0].shape == (None, 3)
    assert K.concatenate([x, 2 * x], axis=-1).shape == (None, 5, 6)
    assert (np.float32(2.0) * x).shape == (None, 5, 3)  # NumPy's scalar defers to the tensor's operator
    assert K.int_shape(K.square(x)) == (None, 5, 3)


def test_added_symbolic_loss_trains_without_targets_as_in_tf_keras(tfk):
    x = 1 / (1 + np.exp(-_data()))  # in (0, 1): binary crossentropy's targets
    model, ref = _vae_like(gpunet), _vae_like(tfk)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.Adam(0.01))
    h, r = assert_trains_alike(model, ref, x, None, validation_data=(x[:32], None))
    assert sorted(h.history) == sorted(r.history) == ["loss", "val_loss"]
    np.testing.assert_allclose(model.evaluate(x, verbose=0), ref.evaluate(x, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_added_symbolic_loss_and_compiled_loss_together(tfk):
    x = _data()
    y = x[:, :1] * 0.5

    def make(lib):
        inputs = lib.Input((6,))
        h = lib.layers.Dense(4, activation="tanh", name="h")(inputs)
        out = lib.layers.Dense(1, name="out")(h)
        model = lib.Model(inputs, out)
        model.add_loss(0.1 * lib.backend.mean(lib.backend.square(h)))
        return model
    model, ref = make(gpunet), make(tfk)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
    assert model._train_plan() is None  # a chain, but its loss has more than the fused step computes
    assert_trains_alike(model, ref, x, y)


def test_gradients_through_ops_and_added_loss_match_central_differences(f64, ops):
    x = _data(10)
    model = _ops_model(gpunet)
    model.compile(optimizer="sgd", loss="mse")
    check_model_gradients(model, ops, ops.asarray(x), np.random.default_rng(2).normal(size=(10, 1)))
    # the whole loss, an added part included: one SGD step at rate 1 against test_on_batch's differences
    model.add_loss(0.3 * K.mean(K.square(model.get_layer("h").output)))
    check_loss_gradient(model, x, x[:, :1])


def test_model_with_op_layers_refuses_configs_but_saves_weights(tmp_path):
    x = _data(8)
    model = _vae_like(gpunet)
    model.compile(optimizer="adam")
    path = tmp_path / "vae.h5"
    path.write_bytes(b"keep me")
    with pytest.raises(NotImplementedError, match="is the op .* applied to symbolic tensors: gpunet cannot write"):
        model.save(str(path))
    assert path.read_bytes() == b"keep me"  # the refused save left the file as it was
    with pytest.raises(NotImplementedError, match="Wrap the op in a Lambda of a named function"):
        model.to_json()
    model.save_weights(str(tmp_path / "w.h5"))
    other = _vae_like(gpunet)
    other.load_weights(str(tmp_path / "w.h5"))
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    assert not os.path.exists(tmp_path / "vae.h5.tmp")


def test_added_loss_from_outside_the_model_is_refused():
    inputs, other = gpunet.Input((3,)), gpunet.Input((3,))
    model = gpunet.Model(inputs, gpunet.layers.Dense(1)(inputs))
    with pytest.raises(ValueError, match="Graph disconnected"):
        model.add_loss(K.mean(other))
    model.compile(optimizer="sgd", loss="mse")  # the refused loss left the model as it was
    assert len(model.layers) == 2
