"""``Softmax()(x, mask=m)``, tf.keras 2's masked softmax (attention scores over padded keys): values and gradients
as tf.keras 2.21's, on arrays, inside a layer's ``call`` and in the functional API; models with it train as
tf.keras's and their files travel both ways."""
import numpy as np
import pytest

import gpunet

from graph_gradients import assert_trains_alike
from keras_support import assert_files_travel

R = np.random.default_rng(9)
SCORES = R.standard_normal((6, 3, 5)).astype("float32")
KEEP = np.ones((6, 3, 5), bool)
KEEP[::2, :, 3:] = False
KEEP[1, :, 1:] = False


@pytest.mark.parametrize("robust", [False, True])
@pytest.mark.parametrize("mask", [KEEP, KEEP.astype("float32")], ids=["bool", "float"])
def test_values_equal_tf_keras(tfk, robust, mask):
    got = gpunet.layers.Softmax(robust_masking=robust)(SCORES, mask=mask)
    import tensorflow as tf  # (a tensor mask: tf.keras's robust_masking compares a NumPy bool mask with 0.5 and fails)
    want = tfk.layers.Softmax(robust_masking=robust)(SCORES, mask=tf.convert_to_tensor(mask)).numpy()
    np.testing.assert_allclose(np.asarray(gpunet.backend.get_backend().to_host(got)), want, rtol=1e-6, atol=1e-7)
    assert np.asarray(gpunet.backend.get_backend().to_host(got))[~KEEP].max() < 1e-6


def _attention(lib):
    """Scores of a query against padded keys, masked, as a model of two inputs (the scores and the keys' mask)."""
    L = lib.layers
    scores, keep = lib.Input((3, 5)), lib.Input((3, 5))
    weights = L.Softmax()(L.Dense(5)(scores), mask=keep)
    return lib.Model([scores, keep], L.Dense(1)(L.Flatten()(weights)))


def test_a_model_with_it_trains_as_tf_keras_and_files_travel(tfk, tmp_path):
    ref, model = _attention(tfk), _attention(gpunet)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
    x, y = [SCORES, KEEP.astype("float32")], R.random((6, 1)).astype("float32")
    assert_trains_alike(model, ref, x, y, epochs=2)
    assert_files_travel(model, x, tmp_path, tfk)


def test_inside_a_layer_s_call_the_gradient_skips_the_masked_places(tfk):
    class Attend(gpunet.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.softmax = gpunet.layers.Softmax()

        def call(self, scores, keep):
            return self.softmax(scores, mask=keep)
    layer = Attend()
    from gpunet.autodiff import Tensor, gradients
    scores = Tensor(gpunet.backend.get_backend().asarray(np.asarray(SCORES, np.float64)), requires_grad=True)
    out = layer(scores, KEEP)
    upstream = R.standard_normal(SCORES.shape)
    ops = gpunet.backend.get_backend()
    grad = np.asarray(ops.to_host(gradients(out, [scores], ops.asarray(upstream))[0]))
    assert np.abs(grad[~KEEP]).max() < 1e-12
    import tensorflow as tf
    t = tf.Variable(np.asarray(SCORES, np.float64))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tfk.layers.Softmax(dtype="float64")(tf.identity(t), mask=KEEP) * upstream)
    np.testing.assert_allclose(grad, tape.gradient(loss, t).numpy(), rtol=1e-9, atol=1e-12)


def test_tf_keras_and_keras_3_files_compute_with_the_mask(tfk, tmp_path):
    """Their configs give the call its ``mask`` tensor: gpunet's Softmax computes with it (not only hands it on)."""
    from keras_support import keras_on_torch
    x = [SCORES, KEEP.astype("float32")]
    ref = _attention(tfk)
    theirs = [(ref, "tf.h5"), (ref, "tf.keras")]
    keras = keras_on_torch()
    k3 = _attention(keras)
    theirs.append((k3, "k3.keras"))
    for model, name in theirs:
        model.save(tmp_path / name)
        np.testing.assert_allclose(gpunet.models.load_model(tmp_path / name).predict(x, verbose=0),
                                   model.predict(x, verbose=0), rtol=1e-5, atol=1e-6, err_msg=name)
