"""Keras 3's convolution and pooling ops (``ops.conv``, ``conv_transpose``, ``depthwise_conv``,
``separable_conv``, ``max_pool``, ``average_pool``) against Keras 3 on torch in float64, values and gradients
(a random upstream gradient through torch autograd), for 1, 2 and 3 spatial axes, both paddings, strides,
dilations, groups and channels_first; by finite differences on every backend; argument refusals."""
import numpy as np
import pytest

from gpunet import ops as O
from keras_support import keras_float64_on_numpy, keras_on_torch, matches_torch
from test_autodiff_gradients import check, rand

keras = keras_on_torch()
KO = keras.ops
R = np.random.default_rng(61)


def _r(*shape):
    return R.standard_normal(shape)


CASES = {
    "conv 1d causal-free same stride": (dict(strides=2, padding="same"), "conv", _r(2, 9, 3), _r(3, 3, 4)),
    "conv 2d valid": (dict(), "conv", _r(2, 7, 6, 3), _r(3, 2, 3, 4)),
    "conv 2d same strides": (dict(strides=(2, 3), padding="same"), "conv", _r(2, 7, 8, 2), _r(3, 3, 2, 3)),
    "conv 2d dilated": (dict(dilation_rate=2, padding="same"), "conv", _r(1, 7, 6, 2), _r(3, 2, 2, 2)),
    "conv 2d groups": (dict(), "conv", _r(2, 5, 5, 4), _r(2, 2, 2, 6)),
    "conv 2d channels_first": (dict(data_format="channels_first", padding="same"), "conv", _r(2, 3, 6, 5),
                               _r(3, 3, 3, 2)),
    "conv 3d": (dict(padding="same", strides=2), "conv", _r(1, 4, 5, 3, 2), _r(2, 2, 3, 2, 2)),
    "conv_transpose 2d valid": (dict(strides=2), "conv_transpose", _r(2, 4, 3, 3), _r(3, 3, 2, 3)),
    "conv_transpose 2d same": (dict(strides=2, padding="same"), "conv_transpose", _r(1, 4, 5, 2), _r(3, 3, 3, 2)),
    "conv_transpose 1d output_padding": (dict(strides=3, output_padding=1), "conv_transpose", _r(2, 4, 2),
                                         _r(3, 2, 2)),
    "depthwise_conv 2d": (dict(strides=2, padding="same"), "depthwise_conv", _r(2, 6, 7, 3), _r(3, 3, 3, 2)),
    "depthwise_conv 1d": (dict(dilation_rate=2), "depthwise_conv", _r(2, 9, 2), _r(3, 2, 3)),
    "separable_conv 2d": (dict(padding="same"), "separable_conv", _r(2, 5, 6, 3), _r(3, 3, 3, 2), _r(1, 1, 6, 4)),
    "max_pool 2d same": (dict(pool_size=3, strides=2, padding="same"), "max_pool", _r(2, 7, 6, 3)),
    "max_pool 3d": (dict(pool_size=2), "max_pool", _r(1, 4, 5, 4, 2)),
    "max_pool 1d channels_first": (dict(pool_size=2, data_format="channels_first"), "max_pool", _r(2, 3, 8)),
    # (Keras 3.15 on torch averages pool_size=(3, 2), strides=(2, 1) "same" windows wrongly; tf.keras's are
    # checked in test_conv_layers.py)
    "average_pool 2d same": (dict(pool_size=3, strides=2, padding="same"), "average_pool", _r(2, 7, 5, 3)),
    "average_pool 1d valid": (dict(pool_size=3, strides=1), "average_pool", _r(2, 8, 2)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_values_and_gradients_equal_keras3_on_torch(name):
    kwargs, op, *arrays = CASES[name]
    if op == "max_pool":  # (ties have measure zero in random data; both send a window's gradient to its maximum)
        arrays = [arrays[0] + np.arange(arrays[0].size).reshape(arrays[0].shape) * 1e-3]
    with keras_float64_on_numpy(keras):
        matches_torch(lambda *a: getattr(O, op)(*a, **kwargs), lambda *a: getattr(KO, op)(*a, **kwargs), arrays)


@pytest.mark.parametrize("fn, arrays", [
    (lambda x, k: O.conv(x, k, 2, "same"), (rand(2, 5, 5, 2), rand(3, 3, 2, 3))),
    (lambda x, k: O.conv_transpose(x, k, 2, "same"), (rand(2, 3, 3, 2), rand(3, 3, 2, 2))),
    (lambda x, k: O.depthwise_conv(x, k, 1, "same"), (rand(2, 4, 4, 2), rand(2, 2, 2, 2))),
    (lambda x: O.max_pool(x, 2, 1, "same"), (rand(2, 4, 4, 2),)),
    (lambda x: O.average_pool(x, 3, 2, "same"), (rand(2, 5, 4, 2),))],
    ids=["conv", "conv_transpose", "depthwise", "max_pool", "average_pool"])
def test_gradients_by_finite_differences_on_every_backend(ops, fn, arrays):
    check(ops, fn, *arrays)


@pytest.mark.parametrize("chunk_bytes", [1, 200], ids=["one image a chunk", "two images a chunk"])
def test_convolution_input_gradient_in_chunks_of_the_batch(monkeypatch, chunk_bytes):
    """NumPy adds a convolution's input gradient a few images at a time (the CPU cache): chunks that do not
    divide the batch give the whole batch's gradient and pass the finite differences."""
    from gpunet.backend import numpy_backend, use_backend
    from gpunet.ops import vjp
    x, k = rand(5, 6, 5, 3), rand(3, 3, 3, 2)
    fn = lambda x, k: O.conv(x, k, (2, 1), "same")  # noqa: E731
    dy = rand(5, 3, 5, 2)
    with use_backend("numpy") as ops:  # (NumPy's chunking, on any machine: "auto" is CuPy on a GPU)
        whole = [np.asarray(g) for g in vjp(fn, ops.asarray(x), ops.asarray(k))[1](ops.asarray(dy))]
        monkeypatch.setattr(numpy_backend.NumpyBackend, "_CHUNK_BYTES", chunk_bytes)
        chunked = [np.asarray(g) for g in vjp(fn, ops.asarray(x), ops.asarray(k))[1](ops.asarray(dy))]
        np.testing.assert_allclose(chunked[0], whole[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(chunked[1], whole[1])
        # (linear in each input: a wide step costs no truncation error, and a 1e-6 one's rounding error reached the
        # tolerance for some of the random upstream gradients that the tests run before it leave the generator at)
        check(ops, fn, x, k, eps=1e-3)


@pytest.mark.parametrize("call, message", [
    (lambda: O.conv(np.zeros((1, 5, 5, 2)), np.zeros((3, 3, 2, 4)), padding="full"), "`padding` must be one of"),
    (lambda: O.conv(np.zeros((1, 5, 5, 3)), np.zeros((3, 3, 2, 4))), "split into equal groups"),
    (lambda: O.conv(np.zeros((5, 5, 2)), np.zeros((3, 3, 2, 4))), r"Expected inputs with 4 axes"),
    (lambda: O.max_pool(np.zeros((1, 5, 5, 2)), (2, 2, 2)), "`pool_size` must be an int >= 1 or a tuple of 2"),
    (lambda: O.conv(np.zeros((1, 5, 5, 2)), np.zeros((3, 3, 2, 4)), data_format="nhwc"), "`data_format` must be"),
    (lambda: O.conv_transpose(np.zeros((1, 3, 2)), np.zeros((3, 2, 2)), 2, output_padding=2),
     "`output_padding` must be an int >= 0|below its stride"),
])
def test_refusals_name_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
