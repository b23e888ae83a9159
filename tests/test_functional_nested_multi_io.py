"""Functional models with several inputs or outputs used as layers of another functional model
(``p, q = inner([a, b])``), and a nested model's layer also called directly by the outer model (the
Keras VAE example's loss on its encoder's ``z_mean``); against tf.keras 2.21 and central differences."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as K
from gpunet.models import load_model

from graph_gradients import assert_trains_alike, check_loss_gradient, check_model_gradients


def _outer(lib):
    layers = lib.layers
    a, b = lib.Input((4,), name="a"), lib.Input((3,), name="b")
    h = layers.Concatenate(name="join")([layers.Dense(5, activation="tanh", name="da")(a),
                                         layers.Dense(5, activation="tanh", name="db")(b)])
    inner = lib.Model([a, b], [layers.Dense(2, name="o1")(h), layers.Dense(1, name="o2")(h)], name="inner")
    x1, x2 = lib.Input((4,), name="x1"), lib.Input((3,), name="x2")
    p, q = inner([x1, x2])
    out = layers.Dense(1, name="head")(layers.Concatenate(name="cat")([p, q]))
    return lib.Model([x1, x2], [out, q], name="outer")


def _data(n=64):
    rng = np.random.default_rng(8)
    x1, x2 = rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 3)).astype("float32")
    return [x1, x2], [x1[:, :1] - x2[:, 1:2], x2[:, :1] * 0.5]


def test_nested_model_with_several_inputs_and_outputs_trains_as_in_tf_keras(tfk):
    x, y = _data()
    model, ref = _outer(gpunet), _outer(tfk)
    assert [l.name for l in model.layers] == [l.name for l in ref.layers]
    model.set_weights(ref.get_weights())
    for got, want in zip(model.predict(x, verbose=0), ref.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.Adam(0.01), loss=["mse", "mae"], loss_weights=[1.0, 0.5])
    assert_trains_alike(model, ref, x, y)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "inner (Functional)              [(None, 2), (None, 1 78" in text and "inner[0][1]" in text  # (the column is cut, as tf.keras cuts it)


def test_files_with_a_nested_multi_output_model_go_both_ways_with_tf_keras(tfk, tmp_path):
    x, _ = _data(16)
    model = _outer(gpunet)
    model.compile(optimizer="adam", loss="mse")
    model.save(str(tmp_path / "g.h5"))
    theirs = tfk.models.load_model(str(tmp_path / "g.h5"))
    for got, want in zip(theirs.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    ref = _outer(tfk)
    ref.compile(optimizer="adam", loss="mse")
    ref.save(str(tmp_path / "t.h5"))
    mine = load_model(str(tmp_path / "t.h5"))
    for got, want in zip(mine.predict(x, verbose=0), ref.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    model.save(str(tmp_path / "g.keras"))
    again = load_model(str(tmp_path / "g.keras"))
    for got, want in zip(again.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(got, want)


def test_nested_multi_io_gradients_match_central_differences(f64, ops):
    x, _ = _data(6)
    model = _outer(gpunet)
    model.compile(optimizer="sgd", loss="mse")
    packed = np.concatenate(x, axis=1)
    check_model_gradients(model, ops, ops.asarray(packed), np.random.default_rng(1).normal(size=(6, 2)))


def _vae(lib, scale=0.1):
    """The Keras 2.2 VAE example's graph with a deterministic sampling step (so two libraries agree)."""
    Kb, layers = lib.backend, lib.layers

    def sampling(args):
        z_mean, z_log_var = args
        return z_mean + Kb.exp(0.5 * z_log_var) * scale

    inputs = lib.Input((6,), name="encoder_input")
    h = layers.Dense(5, activation="relu", name="enc")(inputs)
    z_mean = layers.Dense(2, name="z_mean")(h)
    z_log_var = layers.Dense(2, name="z_log_var")(h)
    z = layers.Lambda(sampling, output_shape=(2,), name="z")([z_mean, z_log_var])
    encoder = lib.Model(inputs, [z_mean, z_log_var, z], name="encoder")
    latent = lib.Input((2,), name="z_sampling")
    decoder = lib.Model(latent, layers.Dense(6, activation="sigmoid", name="out")(
        layers.Dense(5, activation="relu", name="dec")(latent)), name="decoder")
    outputs = decoder(encoder(inputs)[2])
    vae = lib.Model(inputs, outputs, name="vae_mlp")
    reconstruction = lib.losses.binary_crossentropy(inputs, outputs) * 6
    kl = -0.5 * Kb.sum(1 + z_log_var - Kb.square(z_mean) - Kb.exp(z_log_var), axis=-1)
    vae.add_loss(Kb.mean(reconstruction + kl))
    return vae, encoder, decoder


def test_loss_on_a_nested_encoders_own_tensors_trains_as_in_tf_keras(tfk):
    x = 1 / (1 + np.exp(-np.random.default_rng(4).normal(size=(64, 6)).astype("float32")))
    (vae, enc, dec), (rvae, renc, rdec) = _vae(gpunet), _vae(tfk)
    enc.set_weights(renc.get_weights())
    dec.set_weights(rdec.get_weights())
    assert vae.count_params() == enc.count_params() + dec.count_params()  # the encoder's layers count once
    for m, lib in ((vae, gpunet), (rvae, tfk)):
        m.compile(optimizer=lib.optimizers.Adam(0.01))
    assert_trains_alike(vae, rvae, x, None, validation_data=(x[:32], None),
                        weights=lambda m: m.get_layer("encoder").get_weights() + m.get_layer("decoder").get_weights())


def test_vae_gradients_match_central_differences(f64, ops):
    """The encoder's layers run twice a step (inside the encoder, and for the loss on its z_mean and
    z_log_var): one SGD step at rate 1 takes the summed gradient; central differences agree."""
    x = 1 / (1 + np.exp(-np.random.default_rng(5).normal(size=(8, 6))))
    vae = _vae(gpunet)[0]
    vae.compile(optimizer="sgd")
    check_loss_gradient(vae, x, points=2)


def test_what_is_refused_says_why(tmp_path):
    model = _outer(gpunet)
    inner = model.get_layer("inner")
    with pytest.raises(ValueError, match="Cannot add the functional model 'inner' to a Sequential model: it has "
                                         "several inputs or outputs"):
        gpunet.Sequential([inner])
    with pytest.raises(ValueError, match="Model 'inner' takes 2 input tensors: call it on a list of them"):
        inner(gpunet.Input((4,)))
    vae = _vae(gpunet)[0]
    with pytest.raises(NotImplementedError, match="calls layers of a model nested in it directly: clone_model "
                                                  "cannot keep them shared"):
        gpunet.models.clone_model(vae)
    assert K.int_shape(vae.output) == (None, 6)


def test_vae_files_keep_the_encoders_layers_shared(tfk, tmp_path):
    """Its config lists the encoder's layers it calls directly again, as tf.keras 2 writes it; reading links
    them back to the encoder's (tf.keras 2 makes separate layers of them, whose weights then train apart)."""
    x = 1 / (1 + np.exp(-np.random.default_rng(3).normal(size=(32, 6)).astype("float32")))
    vae, enc, _ = _vae(gpunet)
    vae.compile(optimizer="adam")
    vae.fit(x, epochs=1, batch_size=8, verbose=0)
    vae.save(str(tmp_path / "vae.h5"))
    custom = {"sampling": enc.get_layer("z").function}
    again = load_model(str(tmp_path / "vae.h5"), custom_objects=custom)
    assert again._copied and again.count_params() == vae.count_params()
    assert again.get_layer("encoder").get_layer("z_mean") in [n.layer for n in again._nodes]  # one layer, shared
    a = vae.fit(x, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    b = again.fit(x, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(a, b, rtol=1e-6)  # training resumes exactly
    assert gpunet.models.model_from_json(vae.to_json(), custom_objects=custom).count_params() == vae.count_params()
    vae.save(str(tmp_path / "vae.h5"))
    ref_sampling = _vae(tfk)[1].get_layer("z").function
    theirs = tfk.models.load_model(str(tmp_path / "vae.h5"), custom_objects={"sampling": ref_sampling})
    np.testing.assert_allclose(theirs.evaluate(x, verbose=0), vae.evaluate(x, verbose=0), rtol=1e-5)


def _subclassed(lib, inner):
    class Outer(lib.Model):
        """The same model written as a subclass: its call runs the inner model on its tensors (on the tape)."""

        def __init__(self):
            super().__init__(name="outer")
            self.inner = inner
            self.cat = lib.layers.Concatenate(name="cat")
            self.head = lib.layers.Dense(1, name="head")

        def call(self, inputs):
            p, q = self.inner(inputs)
            return self.head(self.cat([p, q]))
    return Outer()


def test_a_subclassed_models_call_runs_a_model_of_several_inputs_and_outputs_as_tf_keras():
    """The inner model's outputs come back one tensor each inside call (gpunet's tape took the list it returned
    for one tensor: TypeError 'list indices must be integers')."""
    tfk = pytest.importorskip("tf_keras")
    x, y = _data()
    models = []
    for lib in (gpunet, tfk):
        inner = _outer(lib).get_layer("inner")
        model = _subclassed(lib, inner)
        model(x)
        models.append(model)
    model, ref = models
    model.set_weights(ref.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    histories = []
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        histories.append(m.fit(x, y[0], batch_size=16, epochs=3, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-5)
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    p, q = model.inner([gpunet.ops.convert_to_tensor(v) for v in x])  # (tensors outside any call: a list back)
    np.testing.assert_allclose(np.concatenate([np.asarray(p), np.asarray(q)], 1),
                               np.concatenate(model.inner.predict(x, verbose=0), 1), rtol=1e-6)


def test_a_subclassed_call_of_a_multi_io_model_has_central_difference_gradients(f64, ops):
    x, y = _data(8)
    model = _subclassed(gpunet, _outer(gpunet).get_layer("inner"))
    model.compile(optimizer="sgd", loss="mse")
    check_loss_gradient(model, [ops.asarray(v.astype("float64")) for v in x], y[0].astype("float64"), points=2)
