"""Lambda and a user's layer (``call``) on several tensors in functional models, as Keras 2 programs
write a siamese distance: trained against tf.keras 2.21, gradients, files."""
import numpy as np
import pytest

import gpunet
from gpunet.models import load_model
from graph_gradients import assert_trains_alike, check_model_gradients


def _network(lib):
    K = lib.backend

    def distance(tensors):
        a, b = tensors
        return K.sqrt(K.maximum(K.sum(K.square(a - b), axis=1, keepdims=True), 1e-7))

    class Gate(lib.layers.Layer):
        """``a * w + b`` with one weight per feature: a user layer over two tensors."""

        def build(self, input_shape):
            self.w = self.add_weight(name="w", shape=(input_shape[0][-1],), initializer="ones")
            super().build(input_shape)

        def call(self, inputs):
            a, b = inputs
            return a * self.w + b

    L = lib.layers
    a, b = lib.Input((5,), name="a"), lib.Input((5,), name="b")
    enc = L.Dense(4, activation="tanh", name="enc")
    ea, eb = enc(a), enc(b)
    d = L.Lambda(distance, name="distance")([ea, eb])
    g = Gate(name="gate")([ea, eb])
    out = L.Dense(1, activation="sigmoid", name="out")(L.concatenate([d, g], name="cat"))
    return lib.Model([a, b], out), {"distance": distance, "Gate": Gate}


def _data(n=80):
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(n, 5)).astype("float32"), rng.normal(size=(n, 5)).astype("float32")
    return a, b, (np.abs(a - b).sum(1) > 4).astype("float32")


def test_trains_as_tf_keras(tfk):
    a, b, y = _data()
    (model, _), (ref, _) = _network(gpunet), _network(tfk)
    assert [l.name for l in model.layers] == [l.name for l in ref.layers]
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.05, momentum=0.9), loss="binary_crossentropy", metrics=["accuracy"])
    assert_trains_alike(model, ref, [a, b], y)


def test_gradients_match_finite_differences(f64, ops):
    model, _ = _network(gpunet)
    model.compile(loss="mse", optimizer="sgd")
    rng = np.random.default_rng(1)
    x, g = ops.asarray(rng.normal(size=(4, 10))), rng.normal(size=(4, 1))
    check_model_gradients(model, ops, x, g)


@pytest.mark.parametrize("ext", ["h5", "keras"])
def test_saved_and_loaded_with_custom_objects(tmp_path, ext):
    a, b, y = _data()
    model, custom = _network(gpunet)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit([a, b], y, epochs=1, verbose=0)
    model.save(str(tmp_path / f"m.{ext}"))
    back = load_model(str(tmp_path / f"m.{ext}"), custom_objects=custom)
    np.testing.assert_array_equal(back.predict([a, b], verbose=0), model.predict([a, b], verbose=0))
    assert back.get_layer("gate").input_shape == [(None, 4), (None, 4)]


def test_a_layer_without_call_refuses_a_list():
    x1, x2 = gpunet.Input((3,)), gpunet.Input((3,))
    with pytest.raises(TypeError, match="takes one input tensor, received a list of 2"):
        gpunet.layers.Dense(2)([x1, x2])
