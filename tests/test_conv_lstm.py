"""Keras's ConvLSTM1D/2D/3D against tf.keras 2.21: outputs, states, weights and configs for paddings, strides,
dilations, go_backwards (channels_first against channels last: TensorFlow's CPU refuses it); masks; training side
by side (Keras's next-frame prediction model in small); gradients through time by central differences on every
backend; dropout; files both ways with tf.keras and Keras 3; refusals."""
import json

import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers
from gpunet.models import Sequential

from graph_gradients import assert_trains_alike, check_model_gradients
from keras_support import assert_files_travel

RNG = np.random.default_rng(43)

CASES = [("ConvLSTM2D", dict(filters=4, kernel_size=(3, 2), padding="same", return_sequences=True)),
         ("ConvLSTM2D", dict(filters=3, kernel_size=3, strides=2, return_state=True)),
         ("ConvLSTM2D", dict(filters=2, kernel_size=2, go_backwards=True, dilation_rate=2,
                             recurrent_activation="sigmoid", unit_forget_bias=False)),
         ("ConvLSTM1D", dict(filters=3, kernel_size=3, padding="same", return_sequences=True, activation="relu")),
         ("ConvLSTM3D", dict(filters=2, kernel_size=(2, 3, 2), use_bias=False))]
SHAPES = {"ConvLSTM1D": (2, 4, 7, 2), "ConvLSTM2D": (2, 3, 6, 5, 2), "ConvLSTM3D": (2, 3, 4, 5, 4, 2)}


@pytest.mark.parametrize("cls, kwargs", CASES, ids=[f"{c}-{'-'.join(k)}" for c, k in CASES])
def test_outputs_weights_and_configs_equal_tf_keras(tfk, ops, cls, kwargs):
    x = RNG.standard_normal(SHAPES[cls]).astype("float32")
    ref = getattr(tfk.layers, cls)(**kwargs)
    ref(x)
    ref.set_weights([RNG.normal(0, 0.4, w.shape).astype("float32") for w in ref.get_weights()])
    want = ref(x)
    with B.use_backend(ops):
        layer = getattr(layers, cls)(**kwargs)
        layer.build(x.shape)
        assert [w.shape for w in layer.get_weights()] == [tuple(w.shape) for w in ref.get_weights()]
        assert [w.name for w in layer.weights] == [w.name.split("/")[-1].split(":")[0] for w in ref.weights]
        layer.set_weights(ref.get_weights())
        got = layer(ops.asarray(x))
        got = [ops.to_host(g) for g in (got if isinstance(got, list) else [got])]
    want = want if isinstance(want, list) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-5, atol=1e-5)
    shapes = layer.compute_output_shape((None,) + x.shape[1:])
    shapes = shapes if isinstance(shapes, list) else [shapes]
    assert [s[1:] for s in shapes] == [tuple(w.shape[1:]) for w in want]
    config, ref_config = (json.loads(json.dumps(c)) for c in (layer.get_config(), ref.get_config()))
    for key, value in config.items():
        if key.endswith("_initializer"):
            assert value["class_name"] == ref_config[key]["class_name"], key
        elif key != "name":
            assert value == ref_config[key], key
    assert set(ref_config) - set(config) == {"time_major"}


def test_the_initial_weights_are_keras_s():
    layer = layers.ConvLSTM2D(3, 2)
    layer.build((None, 4, 5, 5, 2))
    kernel, recurrent, bias = layer.get_weights()
    assert kernel.shape == (2, 2, 2, 12) and recurrent.shape == (2, 2, 3, 12)
    np.testing.assert_array_equal(bias, [0] * 3 + [1] * 3 + [0] * 6)  # (unit_forget_bias)
    assert layer.filters == 3 and layer.kernel_size == (2, 2) and layer.recurrent_activation.name == "hard_sigmoid"


def _frames(lib, **kwargs):
    """Keras's next-frame prediction model, in small."""
    L = lib.layers
    return lib.Sequential([L.ConvLSTM2D(4, (3, 3), padding="same", return_sequences=True, activation="relu",
                                        input_shape=(None, 6, 6, 1), **kwargs),
                           L.BatchNormalization(),
                           L.Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same")])


def test_next_frame_prediction_trains_as_in_tf_keras(tfk):
    x = RNG.random((8, 4, 6, 6, 1)).astype("float32")
    y = np.roll(x, -1, axis=1)
    mine, ref = _frames(gpunet), _frames(tfk)
    mine.set_weights(ref.get_weights())
    mine.compile(loss="binary_crossentropy", optimizer=gpunet.optimizers.Adam(0.01))
    ref.compile(loss="binary_crossentropy", optimizer=tfk.optimizers.Adam(0.01))
    assert_trains_alike(mine, ref, x, y, epochs=2)


def test_channels_first_equals_channels_last_transposed(ops):
    x = RNG.standard_normal((2, 3, 5, 6, 2)).astype("float32")
    with B.use_backend(ops):
        last = layers.ConvLSTM2D(3, 2, padding="same", return_sequences=True, return_state=True)
        first = layers.ConvLSTM2D(3, 2, padding="same", return_sequences=True, return_state=True,
                                  data_format="channels_first")
        last.build(x.shape)
        first.build((2, 3, 2, 5, 6))
        first.set_weights(last.get_weights())
        want = [ops.to_host(t) for t in last(ops.asarray(x))]
        got = [ops.to_host(t) for t in first(ops.asarray(np.moveaxis(x, -1, 2)))]
    np.testing.assert_allclose(got[0], np.moveaxis(want[0], -1, 2), rtol=1e-5, atol=1e-6)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(g, np.moveaxis(w, -1, 1), rtol=1e-5, atol=1e-6)


def test_masked_steps_keep_the_states(ops):
    """Masking's mask (one per place: tf.keras 2.21 fails on it) masks a step where all its places are: a
    sequence whose last steps are padding gives the output of its unpadded part."""
    x = RNG.standard_normal((4, 5, 4, 4, 2)).astype("float32")
    x[1, 3:] = 0.0
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(2)
        model = Sequential([layers.Masking(input_shape=(5, 4, 4, 2)), layers.ConvLSTM2D(3, 2)])
        got = ops.to_host(model(ops.asarray(x)))
        alone = ops.to_host(model.layers[1](ops.asarray(x[1:2, :3])))
    np.testing.assert_allclose(got[1], alone[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(got[1], ops.to_host(model.layers[1](ops.asarray(x[1:2])))[0])


@pytest.mark.parametrize("make", [lambda: layers.ConvLSTM2D(2, 2, padding="same", return_sequences=True),
                                  lambda: layers.ConvLSTM1D(2, 2, strides=2, go_backwards=True)],
                         ids=["2d-sequences", "1d-strided-backwards"])
def test_gradients_through_time_by_central_differences(ops, f64, make):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(4)
        inner = make()
        shape = (3, 4, 3, 2) if inner.rank == 2 else (3, 5, 2)
        model = Sequential([layers.InputLayer(input_shape=shape), inner, layers.Flatten(), layers.Dense(2)])
        model.compile("sgd", "mse")
        bias = inner.cell.bias
        bias.assign(np.random.default_rng(7).normal(0, 0.5, bias.shape))
        x = np.random.default_rng(0).standard_normal((2,) + shape)
        check_model_gradients(model, ops, ops.asarray(x), np.random.default_rng(1).standard_normal((2, 2)))


def test_dropout_trains_and_leaves_inference_alone():
    x = RNG.standard_normal((4, 3, 5, 5, 2)).astype("float32")
    model = Sequential([layers.ConvLSTM2D(3, 3, input_shape=(3, 5, 5, 2), dropout=0.3, recurrent_dropout=0.2),
                        layers.Flatten(), layers.Dense(1)])
    model.compile("adam", "mse")
    first = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), first)
    assert not np.allclose(model(x, training=True).numpy(), first)
    assert model.fit(x, x[:, 0, 0, 0, :1], epochs=2, verbose=0).history["loss"][0] > 0


def test_files_both_ways_with_tf_keras_and_keras_3(tfk, tmp_path):
    x = RNG.random((4, 3, 6, 6, 1)).astype("float32")
    # (Keras 3's recurrent default, sigmoid: its "hard_sigmoid" is relu6(x + 3) / 6, not Keras 2's 0.2 x + 0.5)
    model = _frames(gpunet, recurrent_activation="sigmoid")
    model.compile(loss="mse", optimizer="adam")
    model.fit(x, x, epochs=1, verbose=0)
    assert_files_travel(model, x, tmp_path, tfk)
    again = gpunet.models.model_from_json(model.to_json())
    assert type(again.layers[0]).__name__ == "ConvLSTM2D" and again.layers[0].padding == "same"


@pytest.mark.parametrize("make, error, message", [
    (lambda: layers.ConvLSTM2D(3, 2, stateful=True), NotImplementedError, r"stateful=True\) is not implemented"),
    (lambda: layers.ConvLSTM2D(0, 2), ValueError, "`filters` must be an int >= 1"),
    (lambda: layers.ConvLSTM2D(3, (2, 2, 2)), ValueError, "`kernel_size` must be an int >= 1 or a tuple of 2"),
    (lambda: layers.ConvLSTM2D(3, 2, padding="causal"), ValueError, "`padding` must be one of"),
    (lambda: layers.ConvLSTM2D(3, 2, dropout=2.0), ValueError, r"`dropout` must be in \[0, 1\]"),
    (lambda: layers.ConvLSTM2D(3, 2).build((None, 5, 5, 2)), ValueError, "expected ndim=5"),
])
def test_refusals_name_what_was_expected(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bidirectional_equals_tf_keras_and_files_travel(tfk, tmp_path):
    x = RNG.random((4, 3, 6, 6, 1)).astype("float32")

    def make(lib):
        L = lib.layers
        return lib.Sequential([lib.Input((3, 6, 6, 1)), L.Bidirectional(L.ConvLSTM2D(2, 3, padding="same",
                                                                                  return_sequences=True,
                                                                                  recurrent_activation="sigmoid")),
                               L.Flatten(), L.Dense(1)])
    ref, mine = make(tfk), make(gpunet)
    mine.set_weights(ref.get_weights())
    np.testing.assert_allclose(mine.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    mine.compile(loss="mse", optimizer="adam")
    assert_files_travel(mine, x, tmp_path, tfk)
