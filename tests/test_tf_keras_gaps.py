"""Small tf.keras 2.21 / Keras 3 gaps closed: RandomHeight and RandomWidth (configs, the identity in inference,
training sizes in tf.keras's range and, with a pinned factor, tf.keras's pixels; saved and loaded),
MeanRelativeError and MeanTensor against tf.keras on the same updates, Keras 3's ``glu`` activation against
Keras 3 on torch, ``split_dataset`` against tf.keras's, and the ``Wrapper`` base class."""
import json

import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers

from keras_support import assert_files_travel

R = np.random.default_rng(17)
IMAGES = (R.random((3, 10, 8, 2)) * 200).astype("float32")


def _dev(x):
    return B.get_backend().asarray(x)


def _host(x):
    return B.get_backend().to_host(getattr(x, "data", x))


def _plain(config):
    return {k: v for k, v in json.loads(json.dumps(config)).items() if k != "name"}


# --- RandomHeight / RandomWidth -------------------------------------------------------------------------------

SIZES = [("RandomHeight", dict(factor=(0.5, 0.5))), ("RandomHeight", dict(factor=(-0.43, -0.43), seed=3)),
         ("RandomWidth", dict(factor=(0.3, 0.3), interpolation="nearest")),
         ("RandomWidth", dict(factor=[-0.5, -0.5]))]


@pytest.mark.parametrize("cls, kwargs", SIZES, ids=[f"{c}-{k}" for c, k in SIZES])
def test_random_size_layers_with_a_pinned_factor_give_tf_keras_pixels(tfk, cls, kwargs):
    ref, layer = getattr(tfk.layers, cls)(**kwargs), getattr(layers, cls)(**kwargs)
    want = ref(IMAGES, training=True).numpy()
    got = _host(layer(_dev(IMAGES), training=True))
    assert got.shape == want.shape and got.shape != IMAGES.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(_host(layer(_dev(IMAGES[0]))), want[0], rtol=1e-5, atol=1e-3)  # a direct call trains
    np.testing.assert_array_equal(_host(layer(_dev(IMAGES), training=False)), IMAGES)  # inference: the identity
    assert _plain(layer.get_config()) == _plain(ref.get_config())
    again = getattr(layers, cls).from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    assert layer.compute_output_shape((None, 10, 8, 2)) == tuple(ref.compute_output_shape((None, 10, 8, 2)))


@pytest.mark.parametrize("cls, axis", [("RandomHeight", 1), ("RandomWidth", 2)])
def test_random_sizes_fall_in_tf_keras_range_and_repeat_with_the_seed(tfk, cls, axis):
    ref, layer = getattr(tfk.layers, cls)(0.3, seed=1), getattr(layers, cls)(0.3, seed=1)
    size = IMAGES.shape[axis]
    allowed = set(range(int(0.7 * size), int(1.3 * size) + 1))
    theirs = {ref(IMAGES, training=True).shape[axis] for _ in range(12)}
    mine = [layer(_dev(IMAGES), training=True).shape[axis] for _ in range(12)]
    assert theirs <= allowed and set(mine) <= allowed and len(set(mine)) > 1
    again = getattr(layers, cls)(0.3, seed=1)
    assert [again(_dev(IMAGES), training=True).shape[axis] for _ in range(12)] == mine
    config = _plain(getattr(layers, cls)(0.2, interpolation="nearest", seed=4).get_config())
    assert config == _plain(getattr(tfk.layers, cls)(0.2, interpolation="nearest", seed=4).get_config())


def test_a_model_with_random_sizes_trains_summarises_and_its_files_travel(tfk, tmp_path):
    def build(lib):
        L = lib.layers
        return lib.Sequential([L.RandomHeight(0.2, input_shape=(10, 8, 2)), L.RandomWidth((-0.1, 0.3), seed=2),
                               L.GlobalAveragePooling2D(), L.Dense(1)])
    model, ref = build(gpunet), build(tfk)
    assert [l.output_shape for l in model.layers] == [l.output_shape for l in ref.layers]
    model.compile(gpunet.optimizers.Adam(0.05), "mse")
    history = model.fit(IMAGES / 200.0, np.ones(3), epochs=6, verbose=0).history["loss"]
    assert history[-1] < history[0]
    assert_files_travel(model, IMAGES[:2], tmp_path, tfk, keras3=False)  # (Keras 3 has no RandomHeight)


def test_integer_images_are_resized_in_float32_as_tf_keras(tfk):
    pixels = np.arange(2 * 4 * 4).reshape(2, 4, 4, 1).astype("uint8")
    want = tfk.layers.RandomHeight((0.5, 0.5))(pixels).numpy()
    got = layers.RandomHeight((0.5, 0.5))(_dev(pixels))
    assert got.dtype == want.dtype
    np.testing.assert_allclose(_host(got), want, rtol=1e-6)
    np.testing.assert_allclose(_host(layers.Resizing(6, 4)(_dev(pixels))), want, rtol=1e-6)


@pytest.mark.parametrize("make, error, message", [
    (lambda: layers.RandomHeight((0.3, 0.1)), ValueError, "cannot have an upper bound lesser than the lower"),
    (lambda: layers.RandomWidth(-1.5), ValueError, "cannot have an upper bound less than the lower"),
    (lambda: layers.RandomWidth((-1.5, 0.2)), ValueError, "must have values larger than -1"),
    (lambda: layers.RandomHeight(0.2, interpolation="cubic"), NotImplementedError, "Value not recognized"),
    (lambda: layers.RandomHeight(0.2, interpolation="area"), NotImplementedError, r"interpolation='area'"),
])
def test_random_size_refusals_are_tf_keras_errors(tfk, make, error, message):
    with pytest.raises(error, match=message):
        make()


# --- MeanRelativeError / MeanTensor -----------------------------------------------------------------------------

MRE_CASES = [  # (normalizer, [(y_true, y_pred, sample_weight), ...])
    ([1, 3, 2, 3], [([1, 3, 2, 3], [2, 4, 6, 8], None), ([0, 1, 2, 3], [1, 1, 1, 1], [0.5, 0, 2, 1])]),
    ([[1.0], [0.0], [4.0]], [([[1.0], [2.0], [3.0]], [[2.0], [5.0], [1.0]], [1.0, 2.0, 3.0]),
                             ([[0.5], [1.0], [2.0]], [[0.0], [0.0], [0.0]], 2.0)]),
    (2.0, [(R.random((4, 3)), R.random((4, 3)), R.random((4, 1))), (R.random((4, 3)), R.random((4, 3)), None)]),
    ([1.0, 2.0, 4.0], [([1.0, 2.0, 3.0], [[2.0], [5.0], [1.0]], None)]),  # (y_pred squeezed against y_true)
]


@pytest.mark.parametrize("normalizer, updates", MRE_CASES)
def test_mean_relative_error_follows_tf_keras_updates(tfk, normalizer, updates):
    mine, ref = gpunet.metrics.MeanRelativeError(normalizer), tfk.metrics.MeanRelativeError(normalizer)
    for y_true, y_pred, weight in updates:
        args = [_dev(np.asarray(v, "float32")) for v in (y_true, y_pred)]
        mine.update_state(*args, sample_weight=None if weight is None else _dev(np.asarray(weight, "float32")))
        ref.update_state(y_true, y_pred, sample_weight=weight)
        assert mine.result() == pytest.approx(float(ref.result()), rel=1e-6)
    assert mine.name == "mean_relative_error" and isinstance(mine, gpunet.metrics.Mean)
    config, ref_config = mine.get_config(), ref.get_config()
    np.testing.assert_array_equal(config.pop("normalizer"), ref_config.pop("normalizer"))
    assert config.pop("name") == "mean_relative_error"  # (tf.keras numbers a second instance's name)
    assert config == {k: v for k, v in ref_config.items() if k != "name"}
    mine.reset_state()
    assert mine.result() == 0.0


def test_mean_relative_error_refuses_shapes_as_tf_keras_and_is_a_compile_metric(tfk, tmp_path):
    mine, ref = gpunet.metrics.MeanRelativeError([2.0]), tfk.metrics.MeanRelativeError([2.0])
    y = np.ones((4, 1), "float32")
    for metric in (mine, ref):
        with pytest.raises(ValueError, match=r"Shapes \(4,\) and \(4, 1\) are incompatible"):
            metric.update_state(y, y)
    x, y = R.random((8, 3)).astype("float32"), R.random(8).astype("float32")
    model = gpunet.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse", metrics=[gpunet.metrics.MeanRelativeError(2.0, name="mre")])
    twin = tfk.Sequential([tfk.layers.Dense(1, input_shape=(3,))])
    twin.set_weights(model.get_weights())
    twin.compile("sgd", "mse", metrics=[tfk.metrics.MeanRelativeError(2.0, name="mre")])
    want = twin.evaluate(x, y, verbose=0, return_dict=True)
    assert model.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(want, rel=1e-5)
    model.save(tmp_path / "m.h5")
    assert tfk.models.load_model(tmp_path / "m.h5").evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(
        want, rel=1e-5)
    assert gpunet.models.load_model(tmp_path / "m.h5").evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(
        want, rel=1e-5)


MEAN_TENSOR_UPDATES = [
    [([0, 1, 2, 3], None), ([4, 5, 6, 7], None), ([12, 10, 8, 6], [0, 0.2, 0.5, 1])],
    [([[1.0, 2.0], [3.0, 4.0]], [1.0, 0.0]), ([[5.0, 6.0], [7.0, 8.0]], 3.0),
     ([[1.0, 1.0], [1.0, 1.0]], [[[0.5], [2.0]], [[1.0], [1.0]]][0])],
    [(R.random((3, 2, 2)).tolist(), R.random((3, 1, 2)).tolist()), (R.random((3, 2, 2)).tolist(), None)],
]


@pytest.mark.parametrize("updates", MEAN_TENSOR_UPDATES)
def test_mean_tensor_follows_tf_keras_updates(tfk, updates):
    mine, ref = gpunet.metrics.MeanTensor(), tfk.metrics.MeanTensor()
    with pytest.raises(ValueError, match="MeanTensor does not have any value yet"):
        mine.result()
    for values, weight in updates:
        mine.update_state(_dev(np.asarray(values, "float32")),
                          None if weight is None else _dev(np.asarray(weight, "float32")))
        ref.update_state(values, sample_weight=weight)
        got, want = mine.result(), ref.result().numpy()
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(mine.total.numpy(), ref.total.numpy(), rtol=1e-6)
    np.testing.assert_allclose(mine.count.numpy(), ref.count.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"must always have the same shape\. Expected shape \(set during the first "
                                         r"call\): \(\d"):
        mine.update_state(np.zeros((5, 5), "float32"))
    mine.reset_state(), ref.reset_state()
    np.testing.assert_array_equal(mine.result(), ref.result().numpy())
    assert mine.get_config() == ref.get_config() == {"name": "mean_tensor", "dtype": "float32"}


def test_mean_tensor_with_a_shape_and_float64_and_its_refusals(tfk):
    mine, ref = gpunet.metrics.MeanTensor(dtype="float64", shape=(1, 4)), tfk.metrics.MeanTensor(dtype="float64",
                                                                                               shape=(1, 4))
    np.testing.assert_array_equal(mine.result(), ref.result().numpy())
    for values in ([[0, 1, 2, 3]], [[4, 5, 6, 7]]):
        got = mine(_dev(np.asarray(values, "float64")))
        want = ref(values).numpy()
    assert got.dtype == want.dtype == np.float64
    np.testing.assert_array_equal(got, want)
    assert gpunet.metrics.MeanTensor.from_config(mine.get_config()).get_config() == ref.get_config()
    with pytest.raises(ValueError, match="cannot be broadcast"):
        mine.update_state(np.ones((1, 4)), sample_weight=np.ones((1, 3)))
    with pytest.raises(ValueError, match="cannot be a compile metric"):
        gpunet.Sequential([layers.Dense(4, input_shape=(3,))]).compile("sgd", "mse", metrics=[mine])


# --- glu -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, axis", [((3, 8), -1), ((4, 6, 2), 1), ((2, 3, 4), 0)])
def test_glu_matches_keras3_value_and_gradient(shape, axis):
    from keras_support import keras_on_torch, matches_torch
    keras = keras_on_torch()
    x = np.random.default_rng(3).standard_normal(shape)
    with B.use_backend("numpy"):  # (matches_torch hands gpunet host tensors)
        matches_torch(lambda t: gpunet.activations.glu(t, axis=axis),
                      lambda t: keras.activations.glu(t, axis=axis), [x])


def test_glu_on_arrays_and_in_a_model_and_its_refusals():
    x = R.standard_normal((2, 6)).astype("float32")
    a, b = x[:, :3], x[:, 3:]
    got = gpunet.activations.glu(_dev(x))
    np.testing.assert_allclose(_host(got), a / (1 + np.exp(-b)), rtol=1e-5)
    assert _host(gpunet.activations.glu(_dev(np.arange(4).reshape(1, 4)))).dtype == np.float32  # (ints in floatx)
    model = gpunet.Sequential([layers.Dense(6, input_shape=(3,)), layers.Lambda(gpunet.activations.glu)])
    assert model.predict(R.random((5, 3)).astype("float32"), verbose=0).shape == (5, 3)
    with pytest.raises(ValueError, match="even size"):
        gpunet.activations.glu(_dev(np.ones((2, 5), "float32")))
    with pytest.raises(ValueError, match="an activation returns floats of its input's shape"):
        gpunet.Sequential([layers.Dense(6, input_shape=(3,), activation=gpunet.activations.glu)]).predict(
            np.ones((1, 3), "float32"), verbose=0)


# --- split_dataset ---------------------------------------------------------------------------------------------

X10 = np.arange(30, dtype="float32").reshape(10, 3)
Y10 = np.arange(10)


def _elements(ds):
    return [e if isinstance(e, tuple) else (e,) for e in ds.as_numpy_iterator()]


def _assert_same_elements(mine, theirs):
    got, want = _elements(mine), _elements(theirs)
    assert len(got) == len(want) == len(mine)
    for g, w in zip(got, want):
        assert len(g) == len(w)
        for a, b in zip(g, w):
            a, b = np.asarray(a), np.asarray(b)
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)


SPLITS = [dict(left_size=0.35), dict(right_size=3), dict(left_size=0.25, right_size=0.25),
          dict(left_size=2, right_size=0.5), dict(left_size=0.45, right_size=4)]


@pytest.mark.parametrize("data", [X10, (X10, Y10), [X10, Y10], (X10[:, 0], Y10), [X10], (X10, X10)],
                         ids=["array", "tuple", "list", "promoted", "one", "twins"])
@pytest.mark.parametrize("sizes", SPLITS, ids=[str(s) for s in SPLITS])
def test_split_dataset_gives_tf_keras_elements_in_order(tfk, data, sizes):
    left, right = gpunet.utils.split_dataset(data, **sizes)
    ref_left, ref_right = tfk.utils.split_dataset(data, **sizes)
    assert isinstance(left, gpunet.utils.dataset.Dataset)
    _assert_same_elements(left, ref_left)
    _assert_same_elements(right, ref_right)


def test_split_dataset_shuffles_as_tf_keras_with_a_seed_and_feeds_fit(tfk):
    left, right = gpunet.utils.split_dataset((X10, Y10), left_size=0.6, shuffle=True, seed=11)
    ref_left, ref_right = tfk.utils.split_dataset((X10, Y10), left_size=0.6, shuffle=True, seed=11)
    assert (len(left), len(right)) == (int(ref_left.cardinality()), int(ref_right.cardinality())) == (6, 4)
    rows = sorted(int(y) for _, y in list(left) + list(right))
    assert rows == list(range(10)) and [int(y) for _, y in left] != list(range(6))
    _assert_same_elements(left, ref_left)  # (Python's random with that seed: tf.keras's permutation)
    _assert_same_elements(right, ref_right)
    again, _ = gpunet.utils.split_dataset((X10, Y10), left_size=0.6, shuffle=True, seed=11)
    assert [int(y) for _, y in again] == [int(y) for _, y in left] == [int(y) for _, y in left]  # (each pass)
    model = gpunet.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    assert np.isfinite(model.fit(left.batch(3), epochs=1, verbose=0).history["loss"][0])


@pytest.mark.parametrize("data, sizes", [
    (X10, dict(left_size=0.05)), (X10, dict(right_size=0.04)), (X10, dict(left_size=10)), (X10, dict(left_size=0)),
    (X10, dict(left_size=1.0)), (X10, dict()), (X10, dict(left_size=0.6, right_size=0.6)),
    (X10, dict(left_size=6, right_size=6)), (X10, dict(left_size="a")), (X10, dict(left_size=np.int64(3))),
    (X10, dict(left_size=True)), (X10, dict(right_size="b")), (X10, dict(left_size="a", right_size="b")),
    (X10, dict(left_size=0, right_size=0)), ([], dict(left_size=2)), ([1, 2, 3], dict(left_size=2)),
    ({"a": X10}, dict(left_size=2)), ((X10, Y10[:5]), dict(left_size=2)), ([X10, Y10[:5]], dict(left_size=2)),
    (5, dict(left_size=2)), ((), dict(left_size=2)), (X10[:0], dict(left_size=2))])
def test_split_dataset_refuses_as_tf_keras(tfk, data, sizes):
    with pytest.raises(Exception) as want:
        tfk.utils.split_dataset(data, **sizes)
    with pytest.raises(type(want.value)) as got:
        gpunet.utils.split_dataset(data, **sizes)
    assert str(got.value) == str(want.value)


# --- Wrapper ---------------------------------------------------------------------------------------------------

def _scaled_class(base):
    class Scaled(base):  # (tf.keras's docs' way to write a wrapper)
        def __init__(self, layer, scale=2.0, **kwargs):
            super().__init__(layer, **kwargs)
            self.scale = scale

        def call(self, inputs):
            return self.layer(inputs) * self.scale

        def get_config(self):
            config = super().get_config()
            config["scale"] = self.scale
            return config
    return Scaled


def test_a_user_wrapper_trains_saves_and_loads_both_ways(tfk, tmp_path):
    Scaled, TfScaled = _scaled_class(layers.Wrapper), _scaled_class(tfk.layers.Wrapper)
    x = R.random((8, 4)).astype("float32")
    model = gpunet.Sequential([Scaled(layers.Dense(3), scale=3.0, input_shape=(4,)), layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, np.ones(8), verbose=0)
    wrapper = model.layers[0]
    assert wrapper.layer.built and len(wrapper.weights) == 2 and len(model.weights) == 4
    ref = tfk.Sequential([TfScaled(tfk.layers.Dense(3), scale=3.0, input_shape=(4,)), tfk.layers.Dense(1)])
    ref.set_weights(model.get_weights())
    want = model.predict(x, verbose=0)
    np.testing.assert_allclose(ref.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    config, ref_config = wrapper.get_config(), ref.layers[0].get_config()
    assert config["layer"]["class_name"] == ref_config["layer"]["class_name"] == "Dense"
    assert config["layer"]["config"]["units"] == 3 and config["scale"] == 3.0
    assert {k for k in config if k != "batch_input_shape"} == {k for k in ref_config if k != "batch_input_shape"}
    again = Scaled.from_config(config)
    assert type(again.layer) is layers.Dense and again.scale == 3.0 and again.get_config() == config
    model.save(tmp_path / "m.h5")
    mine = gpunet.models.load_model(tmp_path / "m.h5", custom_objects={"Scaled": Scaled})
    np.testing.assert_array_equal(mine.predict(x, verbose=0), want)
    theirs = tfk.models.load_model(tmp_path / "m.h5", custom_objects={"Scaled": TfScaled})
    np.testing.assert_allclose(theirs.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    theirs.save(tmp_path / "tf.h5")  # (tf.keras's config of the wrapped layer: its own format)
    back = gpunet.models.load_model(tmp_path / "tf.h5", custom_objects={"Scaled": Scaled})
    np.testing.assert_allclose(back.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "m.keras")
    np.testing.assert_array_equal(gpunet.models.load_model(tmp_path / "m.keras", custom_objects={
        "Scaled": Scaled}).predict(x, verbose=0), want)


def test_wrapper_refusals_and_the_builtin_wrappers_count_as_wrappers(tfk):
    with pytest.raises(ValueError, match="supplied to wrapper is not a supported layer type"):
        layers.Wrapper("dense")
    assert isinstance(layers.TimeDistributed(layers.Dense(2)), layers.Wrapper)
    assert isinstance(layers.Bidirectional(layers.LSTM(2)), layers.Wrapper)
    assert issubclass(layers.TimeDistributed, layers.Wrapper) and not isinstance(layers.Dense(2), layers.Wrapper)
    assert isinstance(tfk.layers.TimeDistributed(tfk.layers.Dense(2)), tfk.layers.Wrapper)
    inner = layers.Dense(2, activity_regularizer="l2")
    assert layers.Wrapper(inner).activity_regularizer is inner.activity_regularizer
