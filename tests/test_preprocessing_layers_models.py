"""Discretization, CategoryEncoding and IntegerLookup inside models: training on every path (NumPy's
plan, the layer path, the emulated GPU, where the plans leave them to the layer path) with the same
results, predict, and files: .h5 (tf.keras 2's form) and .keras (Keras 3's) written and read by
gpunet, by tf_keras and by Keras 3."""
import numpy as np
import pytest

import gpunet
import cuda_emulator
from gpunet import backend as B
from gpunet import layers
from gpunet.models import Model, Sequential, load_model
from keras_support import keras_on_torch, tf_keras_or_skip
from test_preprocessing_layers import host

tfk = tf_keras_or_skip()
emulator = cuda_emulator.emulator  # the fixture: gpunet's kernels built for the CPU
EmulatedCupyBackend = cuda_emulator.EmulatedCupyBackend

RNG = np.random.default_rng(11)
X = RNG.normal(size=(96, 3)).astype("float32")
IDS = RNG.integers(-3, 25, size=(96, 4))
Y = ((X.sum(1) > 0) ^ (IDS[:, 0] % 2 == 0)).astype("float32")[:, None]


def _binned(lib, mode="multi_hot"):
    d = lib.layers.Discretization(num_bins=4, output_mode=mode)
    d.adapt(X)
    return d


def _looked_up(lib, **kwargs):
    lookup = lib.layers.IntegerLookup(**kwargs)
    if "vocabulary" not in kwargs:
        lookup.adapt(IDS)
    return lookup


def model_a(lib):
    """Adapted Discretization (multi-hot) into Dense layers."""
    return lib.Sequential([lib.layers.Input((3,)), _binned(lib), lib.layers.Dense(6, activation="relu"),
                           lib.layers.Dense(1, activation="sigmoid")])


def model_b(lib):
    """Adapted IntegerLookup (indices, mask 0) into an Embedding."""
    lookup = _looked_up(lib, max_tokens=12, mask_token=0)
    return lib.Sequential([lib.layers.Input((4,)), lookup, lib.layers.Embedding(12, 3), lib.layers.Flatten(),
                           lib.layers.Dense(1, activation="sigmoid")])


def model_c(lib):
    """Two inputs: buckets counted by CategoryEncoding beside a multi-hot IntegerLookup."""
    x, ids = lib.layers.Input((3,)), lib.layers.Input((4,))
    buckets = lib.layers.CategoryEncoding(num_tokens=4, output_mode="count")(_binned(lib, "int")(x))
    tokens = _looked_up(lib, vocabulary=[1, 2, 3, 5, 8, 13], output_mode="multi_hot", num_oov_indices=2)(ids)
    hidden = lib.layers.Dense(5, activation="tanh")(lib.layers.Concatenate()([buckets, tokens]))
    return lib.Model([x, ids], lib.layers.Dense(1, activation="sigmoid")(hidden))


def model_d(lib):
    """IntegerLookup's indices straight into a Dense layer (tf.keras casts them to float)."""
    return lib.Sequential([lib.layers.Input((4,)), _looked_up(lib, vocabulary=[2, 4, 6, 8]),
                           lib.layers.Dense(1, activation="sigmoid")])


MODELS = {"a": (model_a, X), "b": (model_b, IDS), "c": (model_c, [X, IDS]), "d": (model_d, IDS)}


class _Lib:
    """gpunet spelled as tf.keras is, for the builders above."""
    layers, Sequential, Model = layers, Sequential, Model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_is_the_same_on_every_path(emulator, name):
    build, x = MODELS[name]
    B.set_floatx("float64")
    runs = {}
    for path in ("numpy", "layer-path", "emulated-gpu"):
        with B.use_backend(EmulatedCupyBackend(emulator) if path == "emulated-gpu" else B.resolve("numpy")):
            gpunet.utils.set_random_seed(4)
            model = build(_Lib)
            model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
            if path == "layer-path":
                model._train_plan = lambda: None
            history = model.fit(x, Y, batch_size=16, epochs=3, verbose=0, validation_split=0.25).history
            runs[path] = model, history, model.predict(x, verbose=0)
    assert type(runs["numpy"][0]._plan).__name__ == "GraphPlan"  # (NumPy's plan runs them by their own code)
    # the GPU graph step runs them by their own code between its graphs (gpu_own_layers.py); a Sequential's
    # too: the chain step takes a shorter list of layers (Embedding, Flatten, ...), but its calls are a graph
    assert type(runs["emulated-gpu"][0]._plan).__name__ == "GpuGraphPlan"
    _, history, predicted = runs["numpy"]
    assert history["loss"][-1] < history["loss"][0]
    for path in ("layer-path", "emulated-gpu"):
        for key in history:
            np.testing.assert_allclose(runs[path][1][key], history[key], rtol=1e-9, err_msg=f"{path} {key}")
        np.testing.assert_allclose(runs[path][2], predicted, rtol=1e-9, err_msg=path)


def test_predict_of_a_preprocessing_model_gives_the_layers_values():
    """Inside a model, indices travel in the model's float dtype (see layers/categorical.py)."""
    lookup = layers.IntegerLookup(vocabulary=[12, 36, 1138, 42], mask_token=0)
    model = Sequential([layers.Input((4,)), lookup])
    tokens = np.array([[12, 0, 5, 42], [1138, 1138, 36, -1]])
    got = model.predict(tokens, verbose=0)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, host(lookup(tokens)))
    assert host(lookup(tokens)).dtype == np.int64  # a direct call: tf.keras's dtype
    np.testing.assert_array_equal(got, tfk.layers.IntegerLookup(vocabulary=[12, 36, 1138, 42], mask_token=0)(tokens))
    inverse = Sequential([layers.Input((4,)), layers.IntegerLookup(vocabulary=[2 ** 30], invert=True)])
    with pytest.raises(ValueError, match="holds integers exactly only below 16777216; its vocabulary has 1073741824"):
        inverse.predict(np.array([[0, 1, 1, 0]]), verbose=0)


def _inputs(x):
    return [np.asarray(v) for v in x] if isinstance(x, list) else x


@pytest.mark.parametrize("name", sorted(MODELS))
def test_files_both_ways_with_tf_keras(tmp_path, name):
    build, x = MODELS[name]
    model = build(_Lib)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.fit(x, Y, epochs=1, verbose=0)
    want = model.predict(x, verbose=0)
    for path in ("m.h5", "m.keras"):
        model.save(tmp_path / path)
        back = load_model(tmp_path / path)
        np.testing.assert_array_equal(back.predict(x, verbose=0), want)
        assert [type(l).__name__ for l in back.layers] == [type(l).__name__ for l in model.layers]
    if name == "a":  # tf.keras builds an adapted Discretization's multi-hot output 1 wide before loading
        with pytest.raises(ValueError, match=r"variable shape \(1, 6\), and the assigned value shape \(4, 6\)"):
            tfk.models.load_model(tmp_path / "m.h5")  # the summary that gives it 4: its own files fail too
        return
    ref = tfk.models.load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(ref.predict(_inputs(x), verbose=0), want, rtol=1e-5, atol=1e-6)
    ref.save(tmp_path / "tf.h5")  # (IntegerLookup's vocabulary in the config: tf.keras writes that form too)
    np.testing.assert_allclose(load_model(tmp_path / "tf.h5").predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_a_tf_keras_file_with_adapted_layers_loads_and_predicts_the_same(tmp_path):
    """tf.keras writes an adapted Discretization as num_bins and its quantile summary (a weight of its
    own length), an IntegerLookup's vocabulary in its config."""
    ref = model_c(tfk)
    ref.compile(optimizer="sgd", loss="binary_crossentropy")
    ref.fit(_inputs([X, IDS]), Y, epochs=1, verbose=0)
    ref.save(tmp_path / "tf.h5")
    ref.save_weights(tmp_path / "tf_weights.h5")
    want = ref.predict(_inputs([X, IDS]), verbose=0)
    model = load_model(tmp_path / "tf.h5")
    np.testing.assert_allclose(model.predict([X, IDS], verbose=0), want, rtol=1e-5, atol=1e-6)
    binned = next(l for l in model.layers if type(l).__name__ == "Discretization")
    assert binned.get_config()["bin_boundaries"] is None and binned.summary.shape[0] == 2
    fresh = model_c(_Lib)  # adapted on X too, then the file's summary and weights replace its own
    fresh.load_weights(tmp_path / "tf_weights.h5")
    np.testing.assert_allclose(fresh.predict([X, IDS], verbose=0), want, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "back.h5")
    np.testing.assert_allclose(tfk.models.load_model(tmp_path / "back.h5").predict(_inputs([X, IDS]), verbose=0),
                               want, rtol=1e-5, atol=1e-6)


def test_keras_3_archives_both_ways(tmp_path):
    keras = keras_on_torch()
    for name in sorted(MODELS):
        build, x = MODELS[name]
        model = build(_Lib)
        model.save(tmp_path / f"{name}.keras")
        k3 = keras.models.load_model(tmp_path / f"{name}.keras")
        want = model.predict(x, verbose=0)
        np.testing.assert_allclose(np.asarray(k3.predict(_inputs(x), verbose=0)), want, rtol=1e-5, atol=1e-6)
        k3.save(tmp_path / f"{name}_k3.keras")  # Keras 3 keeps the boundaries in the config, no summary
        back = load_model(tmp_path / f"{name}_k3.keras")
        np.testing.assert_allclose(back.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
        back.save(tmp_path / f"{name}_k3.h5")  # then tf.keras's form: fixed boundaries
        np.testing.assert_array_equal(load_model(tmp_path / f"{name}_k3.h5").predict(x, verbose=0),
                                      back.predict(x, verbose=0))
    adapted = keras.layers.IntegerLookup()
    adapted.adapt(IDS)  # Keras 3 writes this vocabulary to the archive's assets/ (tests/test_keras3_assets.py)
    keras.Sequential([keras.Input((4,), dtype="int64"), adapted]).save(tmp_path / "assets.keras")
    np.testing.assert_array_equal(load_model(tmp_path / "assets.keras").predict(IDS, verbose=0),
                                  np.asarray(adapted(IDS)))


def test_weights_files_keep_what_each_layout_keeps(tmp_path):
    """tf.keras 2's .h5 weights hold Discretization's summary; Keras 3's .weights.h5 do not (its
    boundaries live in the config): loading them leaves a layer's own boundaries."""
    model = model_a(_Lib)
    boundaries = model.layers[0].bin_boundaries
    model.save_weights(tmp_path / "w.h5")
    model.save_weights(tmp_path / "w.weights.h5")
    other = Sequential([layers.Input((3,)), layers.Discretization(num_bins=4, output_mode="multi_hot"),
                        layers.Dense(6, activation="relu"), layers.Dense(1, activation="sigmoid")])
    other.load_weights(tmp_path / "w.h5")
    assert other.layers[0].bin_boundaries == boundaries
    np.testing.assert_array_equal(other.predict(X, verbose=0), model.predict(X, verbose=0))
    third = model_a(_Lib)
    third.layers[0].adapt(X[:40])
    third.load_weights(tmp_path / "w.weights.h5")
    assert third.layers[0].bin_boundaries != boundaries
    np.testing.assert_array_equal(third.layers[1].get_weights()[0], model.layers[1].get_weights()[0])
