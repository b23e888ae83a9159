"""TimeDistributed (Keras's wrapper): outputs, weights and their names against tf.keras 2.21, training side by
side, gradients by central differences, a mask passed through, files both ways with tf.keras (.h5) and
Keras 3 (.keras, the inner layer under the wrapper's ``layer`` attribute), refusals."""
import h5py
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers
from gpunet.models import Sequential, load_model, model_from_json

from graph_gradients import assert_classifier_trains_as_tf_keras, check_model_gradients
from keras_support import assert_files_travel

RNG = np.random.default_rng(21)
X = RNG.standard_normal((12, 3, 5)).astype("float32")


def _stack(lib):
    return lib.Sequential([lib.layers.TimeDistributed(lib.layers.Dense(4, activation="tanh"), input_shape=(3, 5)),
                           lib.layers.TimeDistributed(lib.layers.Dropout(0.3)),
                           lib.layers.TimeDistributed(lib.layers.Dense(2)), lib.layers.Flatten(),
                           lib.layers.Dense(1, activation="sigmoid")])


@pytest.mark.parametrize("inner, shape", [
    (lambda lib: lib.layers.Dense(4, activation="relu"), (3, 5)),
    (lambda lib: lib.layers.Dense(4), (2, 3, 5)),
    (lambda lib: lib.layers.Flatten(), (3, 2, 2)),
    (lambda lib: lib.layers.LayerNormalization(), (3, 5)),
], ids=["dense", "dense-4d", "flatten", "layernorm"])
def test_outputs_weights_and_shapes_equal_tf_keras(tfk, ops, inner, shape):
    x = RNG.standard_normal((4,) + shape).astype("float32")
    with B.use_backend(ops):
        model = Sequential([layers.TimeDistributed(inner(gpunet), input_shape=shape)])
        ref = tfk.Sequential([tfk.layers.TimeDistributed(inner(tfk), input_shape=shape)])
        assert [w.shape for w in model.get_weights()] == [w.shape for w in ref.get_weights()]
        model.set_weights([RNG.standard_normal(w.shape).astype("float32") for w in ref.get_weights()])
        ref.set_weights(model.get_weights())
        np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert model.output_shape == ref.output_shape
    assert model.layers[0].count_params() == ref.layers[0].count_params()


def test_trains_as_in_tf_keras(tfk):
    y = (X[:, 0, 0] + X[:, 2, 1] > 0).astype("float32")[:, None]

    def net(lib):
        return lib.Sequential([lib.layers.TimeDistributed(lib.layers.Dense(4, activation="tanh"), input_shape=(3, 5)),
                               lib.layers.TimeDistributed(lib.layers.Dense(2)), lib.layers.Flatten(),
                               lib.layers.Dense(1, activation="sigmoid")])
    assert_classifier_trains_as_tf_keras(tfk, net, X, y)


def test_gradients_by_central_differences(ops, f64):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(4)
        model = Sequential([layers.TimeDistributed(layers.Dense(4, activation="tanh"), input_shape=(3, 5)),
                            layers.TimeDistributed(layers.Dense(2, activation="sigmoid")), layers.Flatten(),
                            layers.Dense(3)])
        model.compile("sgd", "mse")
        x = np.random.default_rng(0).standard_normal((4, 3, 5))
        check_model_gradients(model, ops, ops.asarray(x), np.random.default_rng(1).standard_normal((4, 3)))


def test_a_mask_passes_through_as_in_tf_keras(tfk):
    tokens = RNG.integers(1, 9, (8, 6))
    tokens[:, 4:] = 0

    def net(lib):
        return lib.Sequential([lib.layers.Embedding(10, 5, mask_zero=True, input_length=6),
                               lib.layers.TimeDistributed(lib.layers.Dense(3, activation="relu")),
                               lib.layers.GlobalAveragePooling1D(), lib.layers.Dense(1)])
    model, ref = net(gpunet), net(tfk)
    ref.build((None, 6))
    model.build((None, 6))
    model.set_weights(ref.get_weights())
    np.testing.assert_allclose(model.predict(tokens, verbose=0), ref.predict(tokens, verbose=0), rtol=1e-5, atol=1e-6)


def test_files_both_ways_with_tf_keras_and_keras_3(tfk, tmp_path):
    y = (X[:, 0, 0] > 0).astype("float32")
    model = _stack(gpunet)
    model.compile(loss="binary_crossentropy", optimizer="adam")
    model.fit(X, y, epochs=2, verbose=0)
    assert_files_travel(model, X, tmp_path, tfk)
    with h5py.File(tmp_path / "m.h5") as f:  # the inner layer's weights in the wrapper's group, in its order
        assert [n.decode().split("/")[-1] for n in f["model_weights/time_distributed"].attrs["weight_names"]] == [
            "kernel:0", "bias:0"]
    again = model_from_json(model.to_json())
    assert type(again.layers[0].layer) is layers.Dense and again.layers[0].layer.units == 4


def test_a_wrapped_layer_of_your_own_loads_with_custom_objects(tmp_path):
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(name="w", shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w

    model = Sequential([layers.TimeDistributed(Scale(), input_shape=(3, 5))])
    model.set_weights([np.arange(5, dtype="float32")])
    model.save(tmp_path / "own.keras")
    back = load_model(tmp_path / "own.keras", custom_objects={"Scale": Scale})
    np.testing.assert_allclose(back.predict(X, verbose=0), X * np.arange(5), rtol=1e-6)


@pytest.mark.parametrize("make, shape, error, message", [
    (lambda: layers.TimeDistributed("dense"), None, ValueError, "expects a Layer instance to wrap"),
    (lambda: layers.TimeDistributed(layers.Dense(2)), (None, 5), ValueError,
     r"expects inputs of rank 3 or more \(samples, steps, ...\), received input shape \(None, 5\)"),
])
def test_refusals_name_what_was_expected(make, shape, error, message):
    with pytest.raises(error, match=message):
        make().build(shape)
