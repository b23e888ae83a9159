"""`SpectralNormalization` against tf.keras 2.21 from the same weights: predictions in inference (the kernel as
it is), training calls (the power iteration's kernel and vector_u, 1 and 3 iterations), a few SGD steps of fit
(weights and vector_u alike), Dense, Conv2D and Embedding wrapped; weight order and names, configs, .h5 files
both ways; bad arguments refused with messages naming what was expected and received.

tf.keras 2.21's own SpectralNormalization builds an InputSpec from ``tf.keras``, which TensorFlow 2.21 makes
Keras 3 unless TF_USE_LEGACY_KERAS is set before its first use (it then fails: "Layer input_spec must be an
instance of InputSpec"): the ``ref`` fixture points that module's ``tf.keras`` at tf_keras itself."""
import json

import numpy as np
import pytest

import gpunet
from gpunet import layers
from gpunet.layers.spectral_normalization import SpectralNormalization

R = np.random.default_rng(11)
X = R.random((32, 6)).astype("float32")
Y = R.random((32, 3)).astype("float32")
IMAGES = R.random((16, 7, 7, 2)).astype("float32")
IMAGE_Y = R.random((16, 3)).astype("float32")


@pytest.fixture(scope="module")
def ref(tfk):
    """tf_keras, its SpectralNormalization's ``tf.keras`` made tf_keras (see the module doc)."""
    import tensorflow as tf
    from tf_keras.src.layers.normalization import spectral_normalization as module

    class _TF:
        keras = tfk

        def __getattr__(self, name):
            return getattr(tf, name)
    saved = module.tf
    module.tf = _TF()
    yield tfk
    module.tf = saved


def _sn(lib):
    return SpectralNormalization if lib is gpunet else lib.layers.SpectralNormalization


def _model(lib, kind, power_iterations=1):
    L, wrap = lib.layers, _sn(lib)
    if kind == "dense":
        return lib.Sequential([lib.Input((6,)), wrap(L.Dense(4, activation="tanh"), power_iterations=power_iterations),
                               L.Dense(3)])
    return lib.Sequential([lib.Input((7, 7, 2)), wrap(L.Conv2D(3, 3, activation="relu"),
                                                      power_iterations=power_iterations),
                           L.Flatten(), L.Dense(3)])


def _data(kind):
    return (X, Y) if kind == "dense" else (IMAGES, IMAGE_Y)


def _pair(ref, kind, power_iterations=1):
    model, theirs = _model(gpunet, kind, power_iterations), _model(ref, kind, power_iterations)
    assert [(w.name, w.shape, w.trainable) for w in model.layers[0].weights] == [
        (w.name.split("/")[-1].split(":")[0], tuple(w.shape), w.trainable) for w in theirs.layers[0].weights]
    model.set_weights(theirs.get_weights())
    return model, theirs


@pytest.mark.parametrize("kind", ["dense", "conv2d"])
def test_predicts_as_tf_keras_with_the_kernel_as_it_is(ops, ref, kind):
    model, theirs = _pair(ref, kind)
    x = _data(kind)[0]
    before = model.get_weights()
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)  # (inference assigns nothing)


@pytest.mark.parametrize("power_iterations", [1, 3])
def test_a_training_call_normalizes_the_kernel_as_tf_keras(ops, ref, power_iterations):
    mine = SpectralNormalization(layers.Dense(5), power_iterations=power_iterations)
    theirs = ref.layers.SpectralNormalization(ref.layers.Dense(5), power_iterations=power_iterations)
    theirs(X[:2])
    mine.build((None, 6))
    mine.set_weights(theirs.get_weights())
    want = theirs(X, training=True).numpy()
    got = ops.to_host(mine(ops.asarray(X), training=True))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for a, b in zip(mine.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    kernel, vector_u = mine.normalize_weights()
    want_kernel, want_u = theirs.normalize_weights()
    np.testing.assert_allclose(kernel.numpy(), want_kernel.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(vector_u.numpy(), want_u.numpy(), rtol=1e-5, atol=1e-7)
    for _ in range(20):  # (the power iteration converges: the kernel's spectral norm goes to 1)
        mine(ops.asarray(X), training=True)
    assert abs(np.linalg.svd(mine.get_weights()[0])[1][0] - 1) < 1e-3


@pytest.mark.parametrize("kind", ["dense", "conv2d"])
def test_fit_trains_as_tf_keras(ops, ref, kind):
    model, theirs = _pair(ref, kind, power_iterations=2 if kind == "conv2d" else 1)
    x, y = _data(kind)
    for m, lib in ((model, gpunet), (theirs, ref)):
        m.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
    h = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    r = theirs.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], r.history["loss"], rtol=1e-5)
    names = [w.name for w in model.weights]
    for name, got, want in zip(names, model.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=name)
    assert "vector_u" in names and not np.array_equal(model.layers[0].vector_u.numpy(), model.get_weights()[0])


def test_an_embedding_is_normalized_too(ops, ref):
    tokens = R.integers(0, 10, (4, 5))
    mine, theirs = SpectralNormalization(layers.Embedding(10, 3)), ref.layers.SpectralNormalization(
        ref.layers.Embedding(10, 3))
    theirs(tokens)
    mine.build((None, 5))
    assert [w.name for w in mine.weights] == ["embeddings", "vector_u"]
    mine.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ops.to_host(mine(ops.asarray(tokens), training=True)),
                               theirs(tokens, training=True).numpy(), rtol=1e-5, atol=1e-7)
    for a, b in zip(mine.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_an_all_zero_kernel_is_left_as_it_is(ops):
    layer = SpectralNormalization(layers.Dense(3, kernel_initializer="zeros"))
    layer(ops.asarray(X), training=True)
    assert not layer.get_weights()[0].any()


def test_bad_arguments_are_refused_with_what_was_expected(ref):
    with pytest.raises(ValueError, match=r"Flatten object has no attribute 'kernel' nor 'embeddings'.*Dense"):
        SpectralNormalization(layers.Flatten())(X)
    with pytest.raises(ValueError, match=r"Flatten object has no attribute 'kernel' nor 'embeddings'"):
        ref.layers.SpectralNormalization(ref.layers.Flatten())(X)
    for bad in (0, -2):
        with pytest.raises(ValueError, match=rf"should be greater than zero. Received: `power_iterations={bad}`"):
            SpectralNormalization(layers.Dense(2), power_iterations=bad)
    with pytest.raises(ValueError, match=r"an integer greater than zero. Received: `power_iterations=1.5`"):
        SpectralNormalization(layers.Dense(2), power_iterations=1.5)
    with pytest.raises(ValueError, match="supplied to wrapper is not a supported layer type"):
        SpectralNormalization("dense")


def test_configs_as_tf_keras_writes_them(ref):
    model, theirs = _pair(ref, "dense", power_iterations=2)
    mine, written = model.layers[0].get_config(), theirs.layers[0].get_config()
    assert set(mine) == set(written) and mine["power_iterations"] == written["power_iterations"] == 2
    assert mine["layer"]["class_name"] == written["layer"]["class_name"] == "Dense"
    again = SpectralNormalization.from_config(json.loads(json.dumps(written)))  # (tf.keras's config read)
    assert again.power_iterations == 2 and again.layer.units == 4 and again.layer.activation.name == "tanh"
    assert isinstance(again, layers.Wrapper)
    assert SpectralNormalization.from_config(mine).get_config() == mine


def test_h5_weights_files_both_ways(ops, ref, tmp_path):
    model, theirs = _pair(ref, "dense")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    model.save_weights(tmp_path / "mine_weights.h5")
    theirs.load_weights(tmp_path / "mine_weights.h5")
    for a, b in zip(model.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    theirs.layers[0].vector_u.assign(theirs.layers[0].vector_u * 2)
    theirs.save_weights(tmp_path / "theirs.h5")
    model.load_weights(tmp_path / "theirs.h5")
    np.testing.assert_array_equal(model.layers[0].vector_u.numpy(), theirs.layers[0].vector_u.numpy())


@pytest.mark.parametrize("custom", [True, False], ids=["custom_objects", "built_in"])
def test_h5_models_both_ways(ops, ref, tmp_path, custom):
    objects = {"SpectralNormalization": SpectralNormalization} if custom else None
    model, theirs = _pair(ref, "conv2d")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(IMAGES, IMAGE_Y, epochs=1, batch_size=8, verbose=0)
    want = model.predict(IMAGES, verbose=0)
    model.save(tmp_path / "mine.h5")
    again = gpunet.models.load_model(tmp_path / "mine.h5", custom_objects=objects)
    assert type(again.layers[0]).__name__ == "SpectralNormalization" and again.layers[0].power_iterations == 1
    np.testing.assert_array_equal(again.predict(IMAGES, verbose=0), want)
    # (tf.keras 2.21's .h5 loader does not know its own SpectralNormalization by name: it needs custom_objects)
    read = ref.models.load_model(tmp_path / "mine.h5",
                                 custom_objects={"SpectralNormalization": ref.layers.SpectralNormalization})
    np.testing.assert_allclose(read.predict(IMAGES, verbose=0), want, rtol=1e-5, atol=1e-6)
    for a, b in zip(read.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    read.save(tmp_path / "theirs.h5")
    back = gpunet.models.load_model(tmp_path / "theirs.h5", custom_objects=objects)
    np.testing.assert_allclose(back.predict(IMAGES, verbose=0), want, rtol=1e-5, atol=1e-6)
    for a, b in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def _named(model):
    """Every weight of ``model`` by layer and name, each once (Keras 3 lists the wrapped kernel twice, and in
    another order than tf.keras's)."""
    out = {}
    for i, layer in enumerate(model.layers):
        for w in layer.weights:
            out.setdefault((i, w.name.split("/")[-1].split(":")[0]), np.array(w.numpy()))
    return out


def _assert_same(ours, theirs, **tol):
    a, b = _named(ours), _named(theirs)
    assert sorted(a) == sorted(b)
    for key in a:
        if tol:
            np.testing.assert_allclose(a[key], b[key], **tol, err_msg=str(key))
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=str(key))


@pytest.mark.parametrize("kind", ["dense", "conv2d"])
def test_keras_files_both_ways_with_keras_3_and_training_resumes_alike(ops, tmp_path, kind):
    """Keras 3 keeps the wrapped layer's weights under ``layer/vars`` and the kernel again, with vector_u, in the
    wrapper's own ``vars``: gpunet reads such a file (after Keras 3 trained it), resumes training as Keras 3 does
    from it, and writes the same layout back, which Keras 3 reads."""
    from keras_support import keras_on_torch
    keras = keras_on_torch()
    x, y = _data(kind)
    theirs = _model(keras, kind, power_iterations=2)
    theirs.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    theirs.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    theirs.save(tmp_path / "theirs.keras")
    ours = gpunet.models.load_model(tmp_path / "theirs.keras")
    assert type(ours.layers[0]) is SpectralNormalization and ours.layers[0].power_iterations == 2
    _assert_same(ours, theirs)
    assert int(ours.optimizer.iterations) == int(theirs.optimizer.iterations) == len(x) // 8
    for model in (theirs, ours):
        model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    _assert_same(ours, theirs, rtol=2e-5, atol=1e-6)  # (vector_u included)
    ours.save(tmp_path / "ours.keras")
    back = keras.models.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    _assert_same(ours, back)
    assert int(back.optimizer.iterations) == 2 * (len(x) // 8)
