"""LayerNormalization, UnitNormalization, Normalization (with ``adapt``), Rescaling and Identity:
outputs and training against tf.keras 2.21, gradients by central differences in float64, files
both ways with tf.keras (.h5) and Keras 3 (.keras), and the TensorFlow regression tutorial's
``Sequential([normalizer, Dense, Dense, Dense])`` on the fused plans."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers
from gpunet.models import Sequential, load_model, model_from_json

from graph_gradients import assert_trains_alike, check_model_gradients
from keras_support import keras_on_torch

RNG = np.random.default_rng(11)
X = (RNG.standard_normal((40, 6)) * [1, 3, 0.5, 8, 1, 2] + [0, 5, -2, 40, 1, 0]).astype("float32")
X3 = RNG.standard_normal((12, 4, 5)).astype("float32")

FORWARD_CASES = [  # (class, kwargs, input)
    ("LayerNormalization", {}, X),
    ("LayerNormalization", {"epsilon": 1e-5, "center": False}, X),
    ("LayerNormalization", {"axis": [1, 2], "scale": False}, X3),
    ("LayerNormalization", {"axis": 1}, X3),
    ("UnitNormalization", {}, X),
    ("UnitNormalization", {"axis": [1, 2]}, X3),
    ("Rescaling", {"scale": 1 / 255, "offset": -0.5}, X),
    ("Identity", {}, X3),
    ("Normalization", {"mean": 2.0, "variance": 9.0}, X),
    ("Normalization", {"mean": [0, 5, -2, 40, 1, 0], "variance": [1, 9, 0.25, 64, 1, 4]}, X),
    ("Normalization", {"mean": [0, 5, -2, 40, 1, 0], "variance": [1, 9, 0.25, 64, 1, 4], "invert": True}, X),
]


@pytest.mark.parametrize("cls, kwargs, x", FORWARD_CASES,
                         ids=[f"{c}-{'-'.join(map(str, k))}" for c, k, _ in FORWARD_CASES])
def test_outputs_and_configs_equal_tf_keras(tfk, ops, cls, kwargs, x):
    with B.use_backend(ops):
        layer = getattr(layers, cls)(**kwargs)
        got = ops.to_host(layer(ops.asarray(x)))
    ref = getattr(tfk.layers, cls)(**kwargs)
    np.testing.assert_allclose(got, ref(x).numpy(), rtol=1e-5, atol=1e-6)
    if layer.weights:  # random-free initial weights: the same
        for g, r in zip(layer.get_weights(), ref.get_weights()):
            np.testing.assert_array_equal(g, r)
    config, ref_config = layer.get_config(), ref.get_config()
    for key in ref_config:
        if key.endswith("_initializer"):
            assert config[key]["class_name"] == ref_config[key]["class_name"]
        elif key not in ("batch_input_shape", "name"):
            assert np.asarray(config[key]).tolist() == np.asarray(ref_config[key]).tolist(), key


def test_unit_normalization_of_a_zero_row_is_zero_and_finite():
    layer = layers.UnitNormalization()
    x = np.zeros((2, 3), "float32")
    x[1] = [3, 4, 0]
    np.testing.assert_allclose(layer(x).numpy(), [[0, 0, 0], [0.6, 0.8, 0]], atol=1e-7)
    dx = layer.ops.to_host(layer.backward(layer.ops.asarray(np.ones((2, 3), "float32"))))
    assert np.isfinite(dx).all() and np.array_equal(dx[0], np.full(3, 1e6, "float32"))


@pytest.mark.parametrize("first, shape", [
    (lambda: layers.LayerNormalization(), (None, 5)),
    (lambda: layers.LayerNormalization(axis=[1, 2], center=False), (None, 3, 5)),
    (lambda: layers.UnitNormalization(), (None, 5)),
    (lambda: layers.UnitNormalization(axis=[1, 2]), (None, 3, 5)),
    (lambda: layers.Normalization(mean=[1, 2, 3, 4, 5], variance=[4, 1, 0.25, 9, 2]), (None, 5)),
    (lambda: layers.Normalization(mean=1.5, variance=4.0, invert=True), (None, 5)),
    (lambda: layers.Rescaling(0.25, offset=1.0), (None, 5)),
], ids=["layernorm", "layernorm-2axes", "unitnorm", "unitnorm-2axes", "normalization", "inverted", "rescaling"])
def test_gradients_by_central_differences(ops, f64, first, shape):
    """Input and weight gradients of each layer, between two Dense layers (so the input gradient
    reaches the first one's weights), against central differences with a random upstream gradient."""
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(2)
        head = [layers.Dense(shape[-1], input_shape=shape[1:], activation="tanh")]
        model = Sequential(head + [first(), layers.Flatten(), layers.Dense(3)])
        model.compile("sgd", "mse")
        x = np.random.default_rng(0).standard_normal((7,) + shape[1:])
        if isinstance(model.layers[1], layers.LayerNormalization):  # gamma and beta away from 1 and 0
            model.layers[1].set_weights([w + np.random.default_rng(1).normal(0, 0.3, w.shape)
                                         for w in model.layers[1].get_weights()])
        upstream = np.random.default_rng(3).standard_normal((7, 3))
        check_model_gradients(model, ops, ops.asarray(x), upstream)


# ---- Normalization.adapt -------------------------------------------------------------------------

def test_adapt_computes_mean_variance_and_count_in_float64():
    layer = layers.Normalization()
    layer.adapt(X)
    mean, var, count = layer.get_weights()
    np.testing.assert_allclose(mean, X.astype("float64").mean(0), rtol=1e-7)
    np.testing.assert_allclose(var, X.astype("float64").var(0), rtol=1e-6)
    assert count.dtype == np.int64 and count == 40 and [w.trainable for w in layer.weights] == [False] * 3
    np.testing.assert_allclose(layer(X).numpy().mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(layer(X).numpy().std(0), 1, rtol=1e-5)


def test_adapt_on_batches_equals_adapt_on_the_array(tfk):
    """A generator, a Sequence of (x, y) batches and the array give the same statistics (float64
    merges); tf.keras's float32 merges agree to its rounding."""
    whole = layers.Normalization(axis=(1, 2))
    whole.adapt(X3)

    class Batches(gpunet.utils.Sequence):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return X3[i * 5:(i + 1) * 5], None

    from_sequence, from_generator = layers.Normalization(axis=(1, 2)), layers.Normalization(axis=(1, 2))
    from_sequence.adapt(Batches())
    from_generator.adapt(X3[i:i + 4] for i in range(0, 12, 4))
    for other in (from_sequence, from_generator):
        for a, b in zip(other.get_weights(), whole.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    ref = tfk.layers.Normalization(axis=(1, 2))
    ref.adapt(X3, batch_size=5)
    for a, b in zip(whole.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    partial = layers.Normalization(axis=(1, 2))
    partial.adapt((X3[i:i + 4] for i in range(0, 12, 4)), steps=1)
    assert partial.get_weights()[2] == 4


def test_adapt_with_axis_none_on_a_1d_feature_as_the_regression_tutorial():
    """``Normalization(input_shape=[1,], axis=None)`` adapted on a 1-D column, then fed (n, 1) rows."""
    horsepower = X[:, 3].astype("float64")
    normalizer = layers.Normalization(input_shape=[1, ], axis=None)
    normalizer.adapt(horsepower)
    model = Sequential([normalizer, layers.Dense(1)])
    model.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.1), loss="mean_absolute_error")
    out = model.predict(horsepower[:, None], verbose=0)
    assert out.shape == (40, 1)
    np.testing.assert_allclose(normalizer(horsepower[:3, None].astype("float32")).numpy()[:, 0],
                               (horsepower[:3] - horsepower.mean()) / horsepower.std(), rtol=1e-5)
    history = model.fit(horsepower[:, None], X[:, 1], epochs=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_adapt_refusals():
    with pytest.raises(ValueError, match="both `mean` and `variance` must be set"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="Cannot `adapt` a Normalization layer that is initialized with static"):
        layers.Normalization(mean=1.0, variance=2.0).adapt(X)
    layer = layers.Normalization()
    layer.adapt(X)
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"expects inputs of shape \(None, 6\).*adapt received data of shape \(4, 5\)"):
        layer.adapt(X[:4, :5])
    assert all(np.array_equal(a, b) for a, b in zip(before, layer.get_weights())), "a failed adapt changed nothing"
    with pytest.raises(ValueError, match=r"received inputs of shape \(2, 5\)"):
        layer(X[:2, :5])
    with pytest.raises(ValueError, match="adapt received no batches"):
        layers.Normalization().adapt(iter([]))
    with pytest.raises(TypeError, match="expected an int or a list/tuple of ints for the argument 'axis'"):
        layers.LayerNormalization(axis="last")
    with pytest.raises(ValueError, match=r"invalid axis 0 for an input of rank 2"):
        layers.LayerNormalization(axis=0)(X)
    with pytest.raises(ValueError, match="does not implement rms_scaling=True"):
        layers.LayerNormalization(rms_scaling=True)
    layer.reset_state()
    assert [w.tolist() for w in layer.get_weights()] == [[0.0] * 6, [1.0] * 6, 0]


# ---- training and files ----------------------------------------------------------------------------

def _regression(lib, normalizer):
    return lib.Sequential([normalizer, lib.layers.Dense(16, activation="relu"),
                           lib.layers.Dense(8, activation="relu"), lib.layers.LayerNormalization(),
                           lib.layers.Dense(1)])


def _targets():
    return (X[:, :2] @ np.array([[0.5], [-0.2]], "float32") + 0.01 * X[:, 3:4]).astype("float32")


def test_regression_tutorial_trains_as_in_tf_keras(tfk):
    normalizer, ref_normalizer = layers.Normalization(axis=-1), tfk.layers.Normalization(axis=-1)
    normalizer.adapt(X)
    ref_normalizer.adapt(X)
    model, ref = _regression(gpunet, normalizer), _regression(tfk, ref_normalizer)
    model.build((None, 6))
    ref.build((None, 6))
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(loss="mean_absolute_error", optimizer=lib.optimizers.Adam(0.01))
    assert_trains_alike(model, ref, X, _targets(), epochs=4)


def test_files_both_ways_with_tf_keras_and_keras_3(tfk, tmp_path):
    normalizer = layers.Normalization()
    normalizer.adapt(X)
    model = _regression(gpunet, normalizer)
    model.compile(loss="mae", optimizer="adam")
    model.fit(X, _targets(), epochs=2, verbose=0)
    want = model.predict(X, verbose=0)
    model.save(tmp_path / "m.h5")
    model.save(tmp_path / "m.keras")
    for path in ("m.h5", "m.keras"):  # gpunet reads its own files back exactly, count as int64
        back = load_model(tmp_path / path)
        np.testing.assert_array_equal(back.predict(X, verbose=0), want)
        assert back.layers[0].get_weights()[2].dtype == np.int64 and back.layers[0].get_weights()[2] == 40
    ref = tfk.models.load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(ref.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    ref.save(tmp_path / "tf.h5")
    np.testing.assert_allclose(load_model(tmp_path / "tf.h5").predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    keras = keras_on_torch()
    k3 = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(k3.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    k3.save(tmp_path / "k3.keras")
    np.testing.assert_allclose(load_model(tmp_path / "k3.keras").predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    rebuilt = model_from_json(model.to_json())  # a config holds no statistics: Keras's identity start
    assert rebuilt.layers[0].get_config() == model.layers[0].get_config()
    assert rebuilt.built and rebuilt.layers[0].batch_input_shape == (None, 6)  # (adapt recorded the shape)


def test_static_statistics_and_rescaling_travel_in_the_config(tfk, tmp_path):
    model = Sequential([layers.Rescaling(0.5, offset=1.0, input_shape=(6,)),
                        layers.Normalization(mean=[0, 5, -2, 40, 1, 0], variance=[1, 9, 0.25, 64, 1, 4]),
                        layers.UnitNormalization(), layers.Identity(), layers.Dense(2)])
    model.compile(loss="mse", optimizer="sgd")
    model.save(tmp_path / "s.h5")
    ref = tfk.models.load_model(tmp_path / "s.h5")
    np.testing.assert_allclose(ref.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    assert [type(l).__name__ for l in load_model(tmp_path / "s.h5").layers] == [
        "Rescaling", "Normalization", "UnitNormalization", "Identity", "Dense"]


# ---- the fused plans ------------------------------------------------------------------------------

def _planned(plan, x, y, refit=None, ops=None):
    """Normalization + Rescaling + Dense stack trained 2 fits of 2 epochs (``refit(model)`` between),
    through the fused plan or the layer path; history, weights, predictions, the plan."""
    with B.use_backend(ops or B.resolve("numpy")):
        gpunet.utils.set_random_seed(3)
        normalizer = layers.Normalization()
        normalizer.adapt(x)
        model = Sequential([normalizer, layers.Rescaling(0.5), layers.Dense(12, activation="relu"),
                            layers.Dense(8, activation="tanh"), layers.Dense(1, activation="sigmoid")])
        model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
        if not plan:
            model._train_plan = lambda: None
        histories = []
        for i in range(2):
            gpunet.utils.set_random_seed(9 + i)
            histories.append(model.fit(x, y, batch_size=10, epochs=2, verbose=0).history)
            if refit is not None and i == 0:
                refit(model)
        return histories, model.get_weights(), model.predict(x, verbose=0), model._plan


def _pima_like():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((53, 8)) * 20 + 50
    return x, (x[:, :1] + x[:, 1:2] > 100).astype("float64")


def test_the_numpy_plan_runs_the_normalization_and_trains_as_the_layer_path(f64):
    from gpunet.backend.dense_plan import DensePlan
    x, y = _pima_like()
    readapt = lambda m: m.layers[0].adapt(x[:20] * 2)  # noqa: E731 - new statistics between fits
    (h, w, p, plan), (h_ref, w_ref, p_ref, _) = _planned(True, x, y, readapt), _planned(False, x, y, readapt)
    assert isinstance(plan, DensePlan) and [type(l).__name__ for l in plan.prelude] == ["Normalization", "Rescaling"]
    for got, ref in zip(h, h_ref):
        for key in ref:
            np.testing.assert_allclose(got[key], ref[key], rtol=1e-12, err_msg=key)
    for a, b in zip(w + [p], w_ref + [p_ref]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.gpu
def test_the_gpu_plans_run_the_normalization_as_numpy():
    """The GPU step plan and forward plan run the Normalization and Rescaling over x as loaded
    (statistics adapted again between fits included), and over each streamed batch."""
    cupy_only_ops = B.resolve("cupy")
    from gpunet.backend.gpu_plan import GpuPlan
    from gpunet.models.plan_inference import forward_plan
    x, y = _pima_like()
    readapt = lambda m: m.layers[0].adapt(x[:20] * 2)  # noqa: E731
    got = _planned(True, x.astype("float32"), y, readapt, ops=cupy_only_ops)
    ref = _planned(True, x.astype("float32"), y, readapt)
    assert isinstance(got[3], GpuPlan) and len(got[3].prelude) == 2
    for a, b in zip(got[0], ref[0]):
        for key in b:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)
    for a, b in zip(got[1] + [got[2]], ref[1] + [ref[2]]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    model = got[3].model
    with B.use_backend(cupy_only_ops):
        assert forward_plan(model, cupy_only_ops.asarray(x.astype("float32"))) is not None
        streamed = model.predict(x.astype("float32"), verbose=0, device_data_fraction=1e-9)
    np.testing.assert_array_equal(streamed, got[2])


def test_layer_normalization_between_dense_layers_runs_in_the_numpy_plan(f64):
    """Keras's ``Dense(16)``, ``LayerNormalization()``, ``Activation('relu')``: NumPy's fused step runs the
    layer's own forward and backward between the two Dense layers and trains as the layer path does."""
    from gpunet.backend.dense_plan import DensePlan
    x, y = _pima_like()
    x = (x - 50) / 20
    runs = []
    for plan in (True, False):
        with B.use_backend("numpy"):  # (NumPy's plan by name: "auto" picks CuPy on a GPU machine)
            gpunet.utils.set_random_seed(5)
            model = Sequential([layers.Dense(16, input_shape=(8,)), layers.LayerNormalization(),
                                layers.Activation("relu"), layers.Dense(8, activation="tanh"),
                                layers.LayerNormalization(center=False), layers.Dense(1, activation="sigmoid")])
            model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
            if not plan:
                model._train_plan = lambda: None
            history = model.fit(x, y, batch_size=10, epochs=3, verbose=0).history
            runs.append((history, model.get_weights(), model._plan))
    (h, w, plan), (h_ref, w_ref, _) = runs
    assert isinstance(plan, DensePlan) and [type(e.layer).__name__ for e in plan.others] == ["LayerNormalization"] * 2
    for key in h_ref:
        np.testing.assert_allclose(h[key], h_ref[key], rtol=1e-12, err_msg=key)
    for a, b in zip(w, w_ref):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.gpu
def test_the_gpu_plan_trains_layer_normalization_as_numpys_plan():
    """The GPU step plan runs a LayerNormalization with its own kernels (kernels/layer_norm.cu), and
    trains and predicts as NumPy's plan does."""
    x, y = _pima_like()
    x = ((x - 50) / 20).astype("float32")
    runs = []
    for ops in (B.resolve("cupy"), B.resolve("numpy")):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            model = Sequential([layers.Dense(16, input_shape=(8,)), layers.LayerNormalization(),
                                layers.Activation("relu"), layers.Dense(1, activation="sigmoid")])
            model.compile("adam", "binary_crossentropy")
            gpunet.utils.set_random_seed(6)
            history = model.fit(x, y, batch_size=10, epochs=2, verbose=0, shuffle=False).history
            runs.append((history, model.get_weights(), model._plan, model.predict(x, verbose=0)))
    from gpunet.backend.gpu_plan import GpuPlan
    assert isinstance(runs[0][2], GpuPlan)
    np.testing.assert_allclose(runs[0][0]["loss"], runs[1][0]["loss"], rtol=1e-5)
    for a, b in zip(runs[0][1] + [runs[0][3]], runs[1][1] + [runs[1][3]]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_rescaling_by_channel_follows_the_data_format_as_keras_3(data_format):
    keras = keras_on_torch()
    shape = (2, 3, 4, 3) if data_format == "channels_first" else (2, 4, 3, 3)  # (width 3: the channels' count)
    x = np.random.default_rng(2).standard_normal(shape).astype("float32")
    scale = [1.0, 2.0, 3.0]
    before = B.image_data_format()
    try:
        B.set_image_data_format(data_format)
        keras.config.set_image_data_format(data_format)
        got = layers.Rescaling(scale, offset=0.5)(x).numpy()
        want = np.asarray(keras.layers.Rescaling(scale, offset=0.5)(x))
    finally:
        B.set_image_data_format(before)
        keras.config.set_image_data_format(before)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    channel = 1 if data_format == "channels_first" else -1
    np.testing.assert_allclose(np.take(got, 2, axis=channel), np.take(x, 2, axis=channel) * 3.0 + 0.5, rtol=1e-6)
