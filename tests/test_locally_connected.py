"""`LocallyConnected1D` and `LocallyConnected2D` against tf.keras 2.21: values from the same weights (each
implementation, strides, "same" padding where tf.keras takes it, channels_first, activations, no bias), weight
names, shapes and order, output shapes and configs; gradients of the input and the weights by central differences
in float64; a model trained side by side with tf.keras; .h5 files both ways; refusals naming what was expected."""

import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers
from gpunet.models import Sequential, load_model

from graph_gradients import assert_trains_alike, check_model_gradients
from keras_support import configs_agree

RNG = np.random.default_rng(61)


def _input_shape(rank, data_format):
    spatial, channels = ((9,), 3) if rank == 1 else ((7, 6), 3)
    return spatial + (channels,) if data_format == "channels_last" else (channels,) + spatial


CASES = []
for _impl in (1, 2, 3):
    for _df in ("channels_last", "channels_first"):
        CASES.append((1, dict(filters=4, kernel_size=3, implementation=_impl, data_format=_df)))
        CASES.append((1, dict(filters=2, kernel_size=2, strides=3, implementation=_impl, data_format=_df,
                              activation="tanh", use_bias=False)))
        CASES.append((2, dict(filters=3, kernel_size=(3, 2), strides=(2, 1), implementation=_impl, data_format=_df,
                              activation="relu")))
        CASES.append((2, dict(filters=2, kernel_size=2, strides=2, implementation=_impl, data_format=_df,
                              use_bias=False, activation="sigmoid")))
        if _impl > 1:
            CASES.append((1, dict(filters=3, kernel_size=4, strides=2, padding="same", implementation=_impl,
                                  data_format=_df)))
            CASES.append((2, dict(filters=2, kernel_size=(3, 2), strides=(2, 3), padding="same",
                                  implementation=_impl, data_format=_df, activation="elu")))
IDS = [f"{rank}d-" + "-".join(f"{k}={v}" for k, v in kw.items()) for rank, kw in CASES]


@pytest.mark.parametrize("rank, kwargs", CASES, ids=IDS)
def test_values_weights_shapes_and_configs_equal_tf_keras(tfk, ops, rank, kwargs):
    cls = f"LocallyConnected{rank}D"
    shape = (None,) + _input_shape(rank, kwargs["data_format"])
    x = RNG.standard_normal((2,) + shape[1:]).astype("float32")
    ref = getattr(tfk.layers, cls)(**kwargs)
    ref.build(shape)
    weights = [RNG.standard_normal(w.shape).astype("float32") for w in ref.get_weights()]
    ref.set_weights(weights)
    want = ref(x).numpy()
    with B.use_backend(ops):
        layer = getattr(layers, cls)(**kwargs)
        layer.build(shape)
        assert [w.name for w in layer.weights] == [w.name.split("/")[-1].split(":")[0] for w in ref.weights]
        assert [w.shape for w in layer.weights] == [tuple(w.shape) for w in ref.weights]
        layer.set_weights(weights)
        got = ops.to_host(layer(ops.asarray(x)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert layer.compute_output_shape(shape) == tuple(ref.compute_output_shape(shape)) == (None,) + got.shape[1:]
    configs_agree(layer.get_config(), ref.get_config())
    again = type(layer).from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    theirs = getattr(tfk.layers, cls).from_config(layer.get_config())  # (and tf.keras takes gpunet's config)
    assert theirs.get_config()["implementation"] == kwargs["implementation"]
    mine = getattr(layers, cls).from_config(ref.get_config())
    configs_agree(mine.get_config(), ref.get_config())


def _sampled(size, count, rng):
    return range(size) if size <= count else rng.choice(size, count, replace=False)


GRADIENT_CASES = [
    (1, dict(filters=3, kernel_size=3, strides=2, implementation=1, activation="tanh")),
    (1, dict(filters=2, kernel_size=2, implementation=1, data_format="channels_first", use_bias=False)),
    (1, dict(filters=3, kernel_size=4, strides=2, padding="same", implementation=2, activation="sigmoid")),
    (1, dict(filters=2, kernel_size=3, implementation=3, data_format="channels_first", activation="tanh")),
    (2, dict(filters=2, kernel_size=(3, 2), strides=(2, 1), implementation=1, activation="tanh")),
    (2, dict(filters=2, kernel_size=2, strides=(1, 2), implementation=1, data_format="channels_first")),
    (2, dict(filters=3, kernel_size=(3, 2), strides=2, padding="same", implementation=2,
             data_format="channels_first", activation="tanh")),
    (2, dict(filters=2, kernel_size=(2, 3), strides=(2, 1), padding="same", implementation=3, use_bias=False,
             activation=lambda t: t * t)),  # (an activation of your own: the tape's backward)
]
GRADIENT_IDS = [f"{rank}d-" + "-".join(f"{k}={v if k != 'activation' or isinstance(v, str) else 'own'}"
                                      for k, v in kw.items()) for rank, kw in GRADIENT_CASES]


@pytest.mark.parametrize("rank, kwargs", GRADIENT_CASES, ids=GRADIENT_IDS)
def test_input_and_weight_gradients_by_central_differences(ops, f64, rank, kwargs):
    """The layer's own backward (its input gradient and every weight's) against central differences of
    ``sum(output * upstream)`` for a random upstream gradient."""
    rng = np.random.default_rng(5)
    cls = getattr(layers, f"LocallyConnected{rank}D")
    shape = (2,) + ((7, 2) if rank == 1 else (5, 6, 2))
    if kwargs.get("data_format") == "channels_first":
        shape = (shape[0], shape[-1]) + shape[1:-1]
    with B.use_backend(ops):
        layer = cls(**kwargs)
        layer.build((None,) + shape[1:])
        layer.set_weights([rng.standard_normal(w.shape) * 0.5 for w in layer.weights])
        for w in layer.weights:
            w.grad = ops.xp.zeros_like(w.value)
        x = ops.asarray(rng.standard_normal(shape))
        upstream = rng.standard_normal(layer.compute_output_shape(shape))
        layer.forward(x, True)
        dx = layer.backward(ops.asarray(upstream), True)
        targets = [("input", x, ops.to_host(dx))] + [(w.name, w.value, ops.to_host(w.grad)) for w in layer.weights]
        for name, array, analytic in targets:
            flat = array.reshape(-1)  # (a view: contiguous arrays)
            assert analytic.shape == tuple(array.shape), name
            for i in _sampled(flat.shape[0], 60, rng):
                keep = float(ops.to_host(flat[i:i + 1])[0])
                values = []
                for step in (1e-6, -1e-6):
                    flat[i:i + 1] = keep + step
                    values.append(float((ops.to_host(layer.forward(x, False)) * upstream).sum()))
                flat[i:i + 1] = keep
                np.testing.assert_allclose(analytic.reshape(-1)[i], (values[0] - values[1]) / 2e-6, rtol=1e-5,
                                           atol=1e-8, err_msg=f"{name}[{i}]")


@pytest.mark.parametrize("make", [
    lambda: layers.LocallyConnected1D(3, 3, strides=2, activation="tanh"),
    lambda: layers.LocallyConnected1D(2, 2, implementation=3, padding="same", data_format="channels_first"),
], ids=["1d-impl1", "1d-impl3-same-first"])
def test_gradients_within_a_model_by_central_differences(ops, f64, make):
    """In a model: a Dense before the layer sees the layer's input gradient, the Dense after it its output."""
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(3)
        model = Sequential([layers.Dense(3, input_shape=(6, 4), activation="tanh"), make(), layers.Flatten(),
                            layers.Dense(2)])
        model.compile("sgd", "mse")
        x = np.random.default_rng(0).standard_normal((2, 6, 4))
        check_model_gradients(model, ops, ops.asarray(x), np.random.default_rng(1).standard_normal((2, 2)))


def _model(lib, rank, implementation, data_format):
    L = lib.layers
    if rank == 1:
        first = L.LocallyConnected1D(4, 3, strides=2, activation="relu", implementation=implementation,
                                     data_format=data_format, input_shape=_input_shape(1, data_format))
    else:
        first = L.LocallyConnected2D(3, (3, 2), strides=(2, 1), activation="tanh", implementation=implementation,
                                     data_format=data_format, input_shape=_input_shape(2, data_format))
    return lib.Sequential([first, L.Flatten(), L.Dense(1)])


TRAINING = [(1, 1, "channels_last"), (1, 2, "channels_first"), (2, 1, "channels_first"), (2, 2, "channels_last"),
            (2, 3, "channels_last")]


@pytest.mark.parametrize("rank, implementation, data_format", TRAINING,
                         ids=[f"{r}d-impl{i}-{d}" for r, i, d in TRAINING])
def test_a_model_trains_with_sgd_to_tf_keras_weights(tfk, rank, implementation, data_format):
    x = RNG.standard_normal((48,) + _input_shape(rank, data_format)).astype("float32")
    y = x.reshape(48, -1)[:, ::3].mean(axis=1, keepdims=True)
    model, ref = _model(gpunet, rank, implementation, data_format), _model(tfk, rank, implementation, data_format)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(loss="mse", optimizer=lib.optimizers.SGD(0.05))
    assert_trains_alike(model, ref, x, y, epochs=2)


@pytest.mark.parametrize("rank, implementation, data_format", [(1, 3, "channels_first"), (2, 2, "channels_last"),
                                                                (2, 1, "channels_first")],
                         ids=["1d-impl3-first", "2d-impl2-last", "2d-impl1-first"])
def test_h5_files_both_ways_with_tf_keras(tfk, tmp_path, rank, implementation, data_format):
    """gpunet's .h5 loads in tf.keras with the same predictions, and tf.keras's in gpunet (gpunet's loader is
    given the classes: its table of built-in layer names does not list them)."""
    x = RNG.standard_normal((5,) + _input_shape(rank, data_format)).astype("float32")
    model = _model(gpunet, rank, implementation, data_format)
    model.compile(loss="mse", optimizer="sgd")
    model.fit(x, x.reshape(5, -1)[:, :1], epochs=1, verbose=0)
    want = model.predict(x, verbose=0)
    model.save(tmp_path / "m.h5")
    np.testing.assert_array_equal(load_model(tmp_path / "m.h5").predict(x, verbose=0), want)
    theirs = tfk.models.load_model(tmp_path / "m.h5")
    assert type(theirs.layers[0]).__name__ == f"LocallyConnected{rank}D"
    assert theirs.layers[0].implementation == implementation
    np.testing.assert_allclose(theirs.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    ref = _model(tfk, rank, implementation, data_format)
    ref.compile(loss="mse", optimizer="sgd")
    ref.save(tmp_path / "tf.h5")
    back = load_model(tmp_path / "tf.h5")
    assert back.layers[0].get_config()["data_format"] == data_format
    np.testing.assert_allclose(back.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    model.set_weights(ref.get_weights())  # (set_weights(tf_model.get_weights()) too)
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_config_round_trip_keeps_every_argument():
    layer = layers.LocallyConnected2D(5, (3, 2), strides=(2, 1), padding="SAME", data_format="channels_first",
                                      activation="relu", use_bias=False, kernel_initializer="he_normal",
                                      bias_initializer="ones", kernel_regularizer="l2", activity_regularizer="l1",
                                      bias_constraint="non_neg", implementation=2, name="lc")
    config = layer.get_config()
    assert (config["filters"], config["kernel_size"], config["strides"], config["padding"]) == (5, [3, 2], [2, 1],
                                                                                                "same")
    assert (config["implementation"], config["use_bias"], config["name"]) == (2, False, "lc")
    again = layers.LocallyConnected2D.from_config(config)
    assert again.get_config() == config
    serialized = layers.serialize(again)
    assert serialized["class_name"] == "LocallyConnected2D"
    assert layers.deserialize(serialized).get_config() == config


def _built(layer, shape):
    layer.build(shape)
    return layer


@pytest.mark.parametrize("make, error, message", [
    (lambda: layers.LocallyConnected1D(2, 3, padding="same"), ValueError,
     r'Invalid border mode for LocallyConnected1D \(only "valid" is supported if implementation is 1\)'),
    (lambda: layers.LocallyConnected2D(2, 3, padding="causal", implementation=2), ValueError,
     r"`padding` must be \"valid\" or \"same\" for implementation 2, received padding='causal'"),
    (lambda: layers.LocallyConnected1D(2, 3, implementation=4), ValueError,
     "`implementation` must be 1, 2 or 3, received implementation=4"),
    (lambda: layers.LocallyConnected1D(0, 3), ValueError, "`filters` must be a positive integer, received filters=0"),
    (lambda: layers.LocallyConnected1D(2, (2, 2)), ValueError,
     r"the `kernel_size` argument must be an integer >= 1 or a tuple of 1 of them. Received: kernel_size=\(2, 2\)"),
    (lambda: layers.LocallyConnected2D(2, 2, strides=0), ValueError,
     "the `strides` argument must be an integer >= 1 or a tuple of 2 of them. Received: strides=0"),
    (lambda: layers.LocallyConnected2D(2, 2, data_format="channels_middle"), ValueError, "`data_format` must be"),
    (lambda: _built(layers.LocallyConnected1D(2, 5), (None, 3, 2)), ValueError,
     r"One of the dimensions in the output is <= 0 .* Received input shape \(None, 3, 2\)"),
    (lambda: _built(layers.LocallyConnected2D(2, 2), (None, 5, 2)), ValueError,
     r"LocallyConnected2D '.*' expects inputs of rank 4, received input shape \(None, 5, 2\)"),
    (lambda: _built(layers.LocallyConnected1D(2, 2), (None, None, 2)), ValueError,
     r"needs known spatial sizes and channels \(data_format='channels_last'\), received input shape \(None, None, "),
])
def test_bad_arguments_name_what_was_expected(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_inputs_unlike_the_built_shape_are_refused_by_name(ops):
    with B.use_backend(ops):
        layer = layers.LocallyConnected1D(2, 3)
        layer(ops.asarray(np.zeros((1, 6, 2), "float32")))
        with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 2"):
            layer(ops.asarray(np.zeros((1, 6, 3), "float32")))
        with pytest.raises(ValueError, match=r"expects inputs of shape \(None, 6, 2\), received \(1, 7, 2\)"):
            layer(ops.asarray(np.zeros((1, 7, 2), "float32")))


@pytest.mark.gpu
def test_a_model_moved_to_the_gpu_and_back_predicts_and_trains_the_same():
    """``model.to`` moves the connectivity each implementation keeps beside its weights (a mask, indices)."""
    x = RNG.standard_normal((8, 3, 7, 6)).astype("float32")
    y = x.reshape(8, -1)[:, :1]
    with B.use_backend("numpy"):
        models = [_model(gpunet, 2, implementation, "channels_first") for implementation in (1, 2, 3)]
        for model in models:
            model.compile(loss="mse", optimizer="sgd")
            model.fit(x, y, epochs=1, verbose=0)
            want = model.predict(x, verbose=0)
            model.to("gpu")
            assert model.ops.name == "cupy"
            np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
            model.fit(x, y, epochs=1, verbose=0)
            trained = model.predict(x, verbose=0)
            assert np.abs(trained - want).max() > 1e-6  # (it trained on the GPU)
            model.to("cpu")
            np.testing.assert_allclose(model.predict(x, verbose=0), trained, rtol=1e-5, atol=1e-6)
            assert np.isfinite(model.train_on_batch(x, y))
