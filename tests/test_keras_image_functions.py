"""Keras 2's backend functions for images (``K.conv2d``, ``K.pool2d``, ``K.conv2d_transpose``,
``K.spatial_2d_padding``, ``K.resize_images``...): values against tf.keras 2.21's ``backend`` on the same
arrays, gradients by finite differences on every backend, and a layer of one's own written with them trains."""
import numpy as np
import pytest

import gpunet
import gpunet.backend as K
from test_autodiff_gradients import check, rand

R = np.random.default_rng(71)


def _r(*shape):
    return R.standard_normal(shape).astype("float32")


X2, X3, X1 = _r(2, 7, 6, 3), _r(1, 4, 5, 6, 2), _r(2, 9, 3)
CASES = {
    "conv1d causal": ("conv1d", (X1, _r(3, 3, 2)), dict(padding="causal", dilation_rate=2)),
    "conv2d same strided": ("conv2d", (X2, _r(3, 2, 3, 4)), dict(strides=(2, 2), padding="same")),
    "conv3d": ("conv3d", (X3, _r(2, 2, 2, 2, 3)), dict()),
    "conv2d_transpose": ("conv2d_transpose", (X2, _r(3, 3, 2, 3), (2, 14, 12, 2)), dict(strides=(2, 2),
                                                                                        padding="same")),
    "conv3d_transpose": ("conv3d_transpose", (X3, _r(2, 2, 2, 1, 2), (1, 8, 10, 12, 1)), dict(strides=(2, 2, 2))),
    "depthwise_conv2d": ("depthwise_conv2d", (X2, _r(3, 3, 3, 2)), dict(padding="same")),
    "separable_conv1d": ("separable_conv1d", (X1, _r(2, 3, 2), _r(1, 6, 4)), dict()),
    "separable_conv2d": ("separable_conv2d", (X2, _r(2, 2, 3, 1), _r(1, 1, 3, 5)), dict(strides=(2, 2))),
    "pool2d max": ("pool2d", (X2, (3, 3)), dict(strides=(2, 2), padding="same")),
    "pool2d avg": ("pool2d", (X2, (2, 3)), dict(pool_mode="avg", padding="same")),
    "pool3d avg": ("pool3d", (X3, (2, 2, 2)), dict(strides=(2, 2, 2), pool_mode="avg")),
    "temporal_padding": ("temporal_padding", (X1, (2, 1)), dict()),
    "spatial_2d_padding": ("spatial_2d_padding", (X2, ((1, 0), (2, 3))), dict()),
    "spatial_3d_padding": ("spatial_3d_padding", (X3,), dict()),
    "resize_images nearest": ("resize_images", (X2, 2, 3, "channels_last"), dict()),
    "resize_images bilinear": ("resize_images", (X2, 2, 2, "channels_last"), dict(interpolation="bilinear")),
    "resize_volumes": ("resize_volumes", (X3, 1, 2, 2, "channels_last"), dict()),
}


def _tf_keras_has_not(fn, tfk):
    """Keras 2.2's conv3d_transpose and separable_conv1d, which tf.keras 2.21 dropped: TensorFlow's own ops."""
    import tensorflow as tf
    if fn == "conv3d_transpose":
        return lambda x, k, shape, strides: tf.nn.conv3d_transpose(x, k, shape, strides, "VALID")
    return lambda x, d, p: tfk.backend.separable_conv2d(x[:, :, None], d[:, None], p[:, None])[:, :, 0]


@pytest.mark.parametrize("name", list(CASES))
def test_values_equal_tf_keras_backend(tfk, name):
    import tensorflow as tf
    fn, args, kwargs = CASES[name]
    reference = getattr(tfk.backend, fn, None) or _tf_keras_has_not(fn, tfk)
    want = reference(*[tf.constant(a) if isinstance(a, np.ndarray) else a for a in args], **kwargs).numpy()
    got = K.get_backend().to_host(getattr(K, fn)(*args, **kwargs).data)  # (on the active backend)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fn, arrays", [
    (lambda x, k: K.conv1d(x, k, padding="causal"), (rand(2, 5, 2), rand(2, 2, 3))),
    (lambda x, k: K.conv2d_transpose(x, k, (2, 6, 6, 2), (2, 2), "same"), (rand(2, 3, 3, 2), rand(3, 3, 2, 2))),
    (lambda x: K.pool2d(x, (2, 2), pool_mode="avg"), (rand(2, 4, 3, 2),)),
    (lambda x: K.resize_images(x, 2, 2, "channels_last", "bilinear"), (rand(1, 3, 2, 2),))],
    ids=["conv1d", "conv2d_transpose", "pool2d", "resize_images"])
def test_gradients_by_finite_differences(ops, fn, arrays):
    check(ops, fn, *arrays)


class BlurThenPool(gpunet.layers.Layer):
    """A layer of one's own in Keras 2's style: a learned 3 x 3 convolution, then K.pool2d."""

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (3, 3, input_shape[-1], 2), initializer="glorot_uniform")

    def call(self, x):
        return K.pool2d(K.relu(K.conv2d(x, self.kernel, padding="same")), (2, 2), strides=(2, 2))


def test_a_layer_written_with_them_trains():
    gpunet.utils.set_random_seed(4)
    x = R.random((64, 6, 6, 1)).astype("float32")
    y = (x[:, :3].mean((1, 2, 3)) > x[:, 3:].mean((1, 2, 3))).astype("float32")
    model = gpunet.Sequential([gpunet.Input((6, 6, 1)), BlurThenPool(), gpunet.layers.Flatten(),
                               gpunet.layers.Dense(1, activation="sigmoid")])
    model.compile(gpunet.optimizers.Adam(0.02), "binary_crossentropy")
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < 0.8 * history[0], history


def test_pool_mode_and_output_shape_refusals():
    with pytest.raises(ValueError, match="Invalid pool_mode: mean. Expected 'max' or 'avg'"):
        K.pool2d(X2, (2, 2), pool_mode="mean")
    with pytest.raises(ValueError, match=r"output_shape must be \(batch, 2 spatial lengths, channels\)"):
        K.conv2d_transpose(X2, _r(3, 3, 2, 3), (2, 14, 2))
