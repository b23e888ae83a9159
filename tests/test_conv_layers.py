"""The 2-D and 3-D convolution family (Conv2D/3D, the transposed, depthwise and separable convolutions, the
poolings, global poolings, zero padding, cropping and upsampling): values, output shapes and configs against
tf.keras 2.21 for Keras's arguments; channels_first as channels_last transposed; gradients by central
differences in float64; a small MNIST-style CNN and a convolutional autoencoder trained side by side with
tf.keras; files both ways with tf.keras (.h5) and Keras 3 (.keras); refusals."""

import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers
from gpunet.models import Sequential

from graph_gradients import assert_classifier_trains_as_tf_keras, assert_trains_alike, check_model_gradients
from keras_support import assert_files_travel, configs_agree

RNG = np.random.default_rng(52)
INPUTS = {1: RNG.standard_normal((2, 9, 3)).astype("float32"), 2: RNG.standard_normal((2, 9, 8, 3)).astype("float32"),
          3: RNG.standard_normal((2, 5, 6, 7, 3)).astype("float32")}

CASES = [("Conv2D", 2, dict(filters=4, kernel_size=3)),
         ("Conv2D", 2, dict(filters=4, kernel_size=(3, 2), strides=(2, 3), padding="same", activation="relu")),
         ("Conv2D", 2, dict(filters=2, kernel_size=3, dilation_rate=2, padding="same", use_bias=False)),
         ("Conv2D", 2, dict(filters=6, kernel_size=2, groups=3)),
         ("Conv3D", 3, dict(filters=2, kernel_size=(2, 3, 2), padding="same", strides=2)),
         ("Conv1DTranspose", 1, dict(filters=2, kernel_size=3, strides=2)),
         ("Conv2DTranspose", 2, dict(filters=4, kernel_size=3, strides=2, padding="same")),
         ("Conv2DTranspose", 2, dict(filters=2, kernel_size=(3, 2), strides=(3, 2), output_padding=(1, 0))),
         ("Conv2DTranspose", 2, dict(filters=2, kernel_size=3, dilation_rate=2)),
         ("Conv3DTranspose", 3, dict(filters=2, kernel_size=2, strides=2, padding="same")),
         ("DepthwiseConv1D", 1, dict(kernel_size=3, depth_multiplier=2, padding="same")),
         ("DepthwiseConv2D", 2, dict(kernel_size=3, depth_multiplier=2, strides=2)),
         ("SeparableConv1D", 1, dict(filters=4, kernel_size=2, dilation_rate=2)),
         ("SeparableConv2D", 2, dict(filters=5, kernel_size=3, padding="same", depth_multiplier=2)),
         ("MaxPooling2D", 2, dict()), ("MaxPooling2D", 2, dict(pool_size=3, strides=2, padding="same")),
         ("AveragePooling2D", 2, dict(pool_size=(3, 2), padding="same")),
         ("AveragePooling2D", 2, dict(pool_size=(3, 2), strides=(2, 1), padding="same")), ("MaxPooling3D", 3, dict(padding="same")),
         ("AveragePooling3D", 3, dict(pool_size=2, strides=1)),
         ("GlobalAveragePooling2D", 2, dict()), ("GlobalMaxPooling2D", 2, dict(keepdims=True)),
         ("GlobalAveragePooling3D", 3, dict(keepdims=True)), ("GlobalMaxPooling3D", 3, dict()),
         ("ZeroPadding1D", 1, dict(padding=(1, 2))), ("ZeroPadding2D", 2, dict(padding=((1, 0), (2, 3)))),
         ("ZeroPadding3D", 3, dict(padding=1)), ("Cropping1D", 1, dict(cropping=(2, 1))),
         ("Cropping2D", 2, dict(cropping=((1, 2), (0, 3)))), ("Cropping3D", 3, dict(cropping=(1, 2, 0))),
         ("UpSampling1D", 1, dict(size=3)), ("UpSampling2D", 2, dict(size=(2, 3))),
         ("UpSampling2D", 2, dict(size=3, interpolation="bilinear")), ("UpSampling3D", 3, dict(size=(1, 2, 2)))]
IDS = [f"{c}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for c, _, kw in CASES]


@pytest.mark.parametrize("cls, rank, kwargs", CASES, ids=IDS)
def test_values_shapes_and_configs_equal_tf_keras(tfk, ops, cls, rank, kwargs):
    x = INPUTS[rank]
    shape = (None,) + x.shape[1:]
    ref = getattr(tfk.layers, cls)(**kwargs)
    want = ref(x).numpy()
    with B.use_backend(ops):
        layer = getattr(layers, cls)(**kwargs)
        layer.build(shape)
        if ref.weights:
            assert [w.shape for w in layer.get_weights()] == [tuple(w.shape) for w in ref.get_weights()]
            layer.set_weights(ref.get_weights())
        got = ops.to_host(layer(ops.asarray(x)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert layer.compute_output_shape(shape) == tuple(ref.compute_output_shape(shape))
    configs_agree(layer.get_config(), ref.get_config())
    again = type(layer).from_config(layer.get_config())
    assert again.get_config() == layer.get_config()


FIRST = [("Conv2D", dict(filters=3, kernel_size=3, strides=2, padding="same")),
         ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2)), ("SeparableConv2D", dict(filters=2,
                                                                                                  kernel_size=2)),
         ("MaxPooling2D", dict(padding="same", pool_size=3)), ("GlobalAveragePooling2D", dict()),
         ("ZeroPadding2D", dict(padding=(1, 2))), ("Cropping2D", dict(cropping=1)),
         ("UpSampling2D", dict(interpolation="bilinear")), ("Conv3D", dict(filters=2, kernel_size=2))]


@pytest.mark.parametrize("cls, kwargs", FIRST, ids=[c for c, _ in FIRST])
def test_channels_first_is_channels_last_transposed(cls, kwargs):
    rank = 3 if cls.endswith("3D") else 2
    x = INPUTS[rank]
    last = getattr(layers, cls)(**kwargs)
    host = B.get_backend().to_host
    want = host(last(x))
    first = getattr(layers, cls)(data_format="channels_first", **kwargs)
    moved = np.moveaxis(x, -1, 1)
    first.build((None,) + moved.shape[1:])
    first.set_weights(last.get_weights())
    got = host(first(moved))
    np.testing.assert_allclose(got, want if want.ndim == 2 else np.moveaxis(want, -1, 1), rtol=1e-5, atol=1e-6)
    assert first.compute_output_shape(moved.shape) == got.shape


@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(2, 3, strides=2, padding="same", activation="tanh"),
    lambda: layers.Conv2D(4, 2, groups=2, dilation_rate=2),
    lambda: layers.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1),
    lambda: layers.DepthwiseConv2D(2, depth_multiplier=2, padding="same"),
    lambda: layers.SeparableConv2D(3, 2, strides=2),
    lambda: layers.MaxPooling2D(3, strides=2, padding="same"), lambda: layers.AveragePooling2D(2, padding="same"),
    lambda: layers.UpSampling2D(interpolation="bilinear"), lambda: layers.UpSampling2D(2),
    lambda: layers.ZeroPadding2D(((0, 1), (2, 0))), lambda: layers.Cropping2D(((1, 0), (0, 1))),
    lambda: layers.GlobalMaxPooling2D()],
    ids=["conv-same", "conv-groups", "transpose", "depthwise", "separable", "max", "average", "bilinear", "nearest",
         "zero-padding", "cropping", "global-max"])
def test_gradients_by_central_differences(ops, f64, make):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(3)
        model = Sequential([layers.Dense(4, input_shape=(5, 4, 2), activation="tanh"), make(), layers.Flatten(),
                            layers.Dense(2)])
        model.compile("sgd", "mse")
        x = np.random.default_rng(0).standard_normal((2, 5, 4, 2))
        check_model_gradients(model, ops, ops.asarray(x), np.random.default_rng(1).standard_normal((2, 2)))


def test_max_pooling_sends_a_tied_windows_gradient_to_its_first_maximum_as_tensorflow(tfk):
    import tensorflow as tf
    x = np.array([[1., 3., 3., 0.], [3., 2., 0., 0.], [0., 1., 5., 5.], [1., 0., 5., 2.]], "float32")[None, :, :, None]
    upstream = RNG.standard_normal((1, 2, 2, 1)).astype("float32")
    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        y = tfk.layers.MaxPooling2D()(t)
    want = tape.gradient(y, t, output_gradients=tf.constant(upstream)).numpy()
    got, = gpunet.ops.grad(lambda v: gpunet.ops.sum(layers.MaxPooling2D()(v) * upstream))(x)
    np.testing.assert_array_equal(B.get_backend().to_host(got), want)
    assert np.count_nonzero(want) == 4



@pytest.mark.parametrize("make, shape", [
    (lambda L: L.MaxPooling2D(3, 2, padding="same"), (1, 5, 6, 2)),  # (windows overlap; padded places never win)
    (lambda L: L.MaxPooling1D(3, 1), (2, 7, 3))], ids=["2d overlapping same", "1d stride 1"])
def test_max_pooling_gradients_with_many_ties_equal_tensorflows(tfk, make, shape):
    import tensorflow as tf
    x = np.maximum(RNG.integers(-2, 3, shape), 0).astype("float32")  # (relu'd whole numbers: most windows tie)
    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        y = make(tfk.layers)(t)
    upstream = RNG.standard_normal(tuple(y.shape)).astype("float32")
    want = tape.gradient(y, t, output_gradients=tf.constant(upstream)).numpy()
    got, = gpunet.ops.grad(lambda v: gpunet.ops.sum(make(layers)(v) * upstream))(B.get_backend().asarray(x))
    np.testing.assert_allclose(B.get_backend().to_host(got), want, rtol=1e-6, atol=1e-6)


def test_max_pooling_3d_gradients_with_ties_equal_pytorchs():
    """In 3D too a tied window's gradient goes to its first maximum, as PyTorch's max_pool3d sends it (and
    TensorFlow's 2D kernel; its 3D kernel gives the whole gradient to every tied place, so a window's
    gradient is counted as many times as it has ties)."""
    torch = pytest.importorskip("torch")
    x = np.maximum(RNG.integers(-2, 3, (2, 4, 4, 5, 3)), 0).astype("float32")
    upstream = RNG.standard_normal((2, 2, 2, 2, 3)).astype("float32")
    t = torch.tensor(x.transpose(0, 4, 1, 2, 3), requires_grad=True)
    torch.nn.functional.max_pool3d(t, 2).backward(torch.tensor(upstream.transpose(0, 4, 1, 2, 3)))
    got, = gpunet.ops.grad(lambda v: gpunet.ops.sum(layers.MaxPooling3D(2)(v) * upstream))(B.get_backend().asarray(x))
    np.testing.assert_array_equal(B.get_backend().to_host(got), t.grad.numpy().transpose(0, 2, 3, 4, 1))


def test_max_pooling_propagates_nan_and_sends_its_gradient_to_the_windows_first_place():
    """A NaN in a window makes its maximum NaN (PyTorch's rule, so TerminateOnNaN sees it: TensorFlow's CPU
    kernel passes over it); that window's gradient goes to its first place, the other windows' as always."""
    x = np.array([[1., 5., 2., 0.], [np.nan, 0., 7., 7.]], "float32")[None, :, :, None]
    out, pull = gpunet.ops.vjp(lambda v: layers.MaxPooling2D()(v), B.get_backend().asarray(x))
    host = B.get_backend().to_host
    assert np.isnan(host(out)[0, 0, 0, 0]) and host(out)[0, 0, 1, 0] == 7.0
    grad = host(pull(B.get_backend().asarray(np.array([2., 3.], "float32").reshape(1, 1, 2, 1)))[0])
    np.testing.assert_array_equal(grad[0, :, :, 0], [[2., 0., 0., 0.], [0., 0., 3., 0.]])

def _cnn(lib):
    return lib.Sequential([lib.layers.Conv2D(4, 3, activation="relu", input_shape=(10, 10, 1)),
                           lib.layers.Conv2D(6, 3, activation="relu"), lib.layers.MaxPooling2D(),
                           lib.layers.Dropout(0.0), lib.layers.Flatten(), lib.layers.Dense(8, activation="relu"),
                           lib.layers.Dense(1, activation="sigmoid")])


IMAGES = RNG.random((48, 10, 10, 1)).astype("float32")
LABELS = (IMAGES[:, 2:5, 2:5, 0].mean((1, 2)) > IMAGES[:, 5:8, 5:8, 0].mean((1, 2))).astype("float32")[:, None]


def test_an_mnist_style_cnn_trains_as_in_tf_keras(tfk):
    assert_classifier_trains_as_tf_keras(tfk, _cnn, IMAGES, LABELS)


def test_a_channels_first_cnn_trains_as_its_channels_last_twin():
    """Flatten(data_format="channels_first") moves the channels last first, as Keras's does: the same weights
    give the same predictions and the same training from images with their channels first."""
    L = layers
    last = _cnn(gpunet)
    first = Sequential([L.Conv2D(4, 3, activation="relu", input_shape=(1, 10, 10), data_format="channels_first"),
                        L.Conv2D(6, 3, activation="relu", data_format="channels_first"),
                        L.MaxPooling2D(data_format="channels_first"), L.Dropout(0.0),
                        L.Flatten(data_format="channels_first"), L.Dense(8, activation="relu"),
                        L.Dense(1, activation="sigmoid")])
    first.set_weights(last.get_weights())
    moved = np.moveaxis(IMAGES, -1, 1)
    np.testing.assert_allclose(first.predict(moved, verbose=0), last.predict(IMAGES, verbose=0), rtol=1e-5,
                               atol=1e-6)
    for model, x in ((last, IMAGES), (first, moved)):
        model.compile("sgd", "binary_crossentropy")
        model.fit(x, LABELS, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(first.get_weights(), last.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_a_leading_channels_first_flatten_trains_as_tf_keras(tfk):
    """The plans read a leading Flatten as rows; a channels-first one moves the channels last first: the layer
    path runs it, with tf.keras's values."""
    def make(lib):
        return lib.Sequential([lib.layers.Flatten(data_format="channels_first", input_shape=(2, 3, 4)),
                               lib.layers.Dense(3, activation="relu"), lib.layers.Dense(1, activation="sigmoid")])
    x = RNG.random((32, 2, 3, 4)).astype("float32")
    assert_classifier_trains_as_tf_keras(tfk, make, x, (x[:, 0].sum((1, 2)) > x[:, 1].sum((1, 2))).astype("float32"))


def _autoencoder(lib):
    L = lib.layers
    return lib.Sequential([L.Conv2D(4, 3, activation="relu", padding="same", input_shape=(8, 8, 1)),
                           L.MaxPooling2D(padding="same"), L.SeparableConv2D(3, 3, padding="same"),
                           L.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu"),
                           L.UpSampling2D(), L.AveragePooling2D(), L.ZeroPadding2D(1), L.Cropping2D(1),
                           L.Conv2D(1, 3, activation="sigmoid", padding="same")])


def test_a_convolutional_autoencoder_trains_as_in_tf_keras(tfk):
    x = IMAGES[:32, :8, :8]
    model, ref = _autoencoder(gpunet), _autoencoder(tfk)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(loss="binary_crossentropy", optimizer=lib.optimizers.Adam(0.01))
    assert_trains_alike(model, ref, x, x, epochs=2)


def test_files_both_ways_with_tf_keras_and_keras_3(tfk, tmp_path):
    model = _autoencoder(gpunet)
    model.compile(loss="mse", optimizer="adam")
    model.fit(IMAGES[:16, :8, :8], IMAGES[:16, :8, :8], epochs=1, verbose=0)
    assert_files_travel(model, IMAGES[:4, :8, :8], tmp_path, tfk)
    assert layers.Convolution2D is layers.Conv2D and layers.MaxPool2D is layers.MaxPooling2D
    assert layers.GlobalAvgPool2D is layers.GlobalAveragePooling2D and layers.AvgPool3D is layers.AveragePooling3D


@pytest.mark.parametrize("make, shape, error, message", [
    (lambda: layers.Conv2D(3, 2, groups=2), None, ValueError, "filters must be evenly divisible by the number of"),
    (lambda: layers.Conv2D(4, 2, groups=2), (None, 5, 5, 3), ValueError,
     "number of input channels must be evenly divisible"),
    (lambda: layers.Conv2D(3, 2, padding="causal"), None, ValueError, r"`padding` must be one of \['valid', 'same'\]"),
    (lambda: layers.Conv2D(3, (2, 2, 2)), None, ValueError, "`kernel_size` must be an int >= 1 or a tuple of 2"),
    (lambda: layers.Conv2D(3, 2, data_format="channels_middle"), None, ValueError, "`data_format` must be"),
    (lambda: layers.Conv2D(3, 2, strides=2, dilation_rate=2), None, ValueError, "`strides > 1` not supported"),
    (lambda: layers.Conv2D(3, 2), (None, 5, 5), ValueError,
     r"Conv2D '.*' expects inputs \(batch, height, width, channels\) with known channels"),
    (lambda: layers.Conv2DTranspose(3, 2, strides=2, output_padding=2), None, ValueError,
     "must be greater than output padding"),
    (lambda: layers.UpSampling2D(interpolation="bicubic"), None, NotImplementedError,
     r"UpSampling2D\(interpolation='bicubic'\) is not implemented"),
    (lambda: layers.ZeroPadding2D(((1, 2, 3), (0, 0))), None, ValueError, "`padding` must be an int >= 0"),
    (lambda: layers.Cropping2D(3), (None, 5, 6, 1), ValueError, r"cropping .* leaves nothing"),
    (lambda: layers.MaxPooling2D(padding="full"), None, ValueError, "`padding` must be one of"),
])
def test_refusals_name_what_was_expected(make, shape, error, message):
    with pytest.raises(error, match=message):
        layer = make()
        layer.build(shape)
        layer.compute_output_shape(shape)


def test_a_window_larger_than_the_image_is_refused_by_name():
    with pytest.raises(ValueError, match=r"A window of 5 step\(s\) does not fit an axis of 3"):
        layers.Conv2D(2, 5)(np.zeros((1, 3, 6, 2), "float32"))
