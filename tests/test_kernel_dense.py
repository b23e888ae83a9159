"""The Dense kernels (kernels/dense_*.cu, bias_act.cu, softmax.cu) against the NumPy
reference, run on the CPU under the CUDA emulation with the launches CupyBackend
makes on an H100, through both of its paths (fused kernels; cuBLAS + fused
elementwise kernels)."""
import numpy
import pytest

from cuda_emulator import EmulatedCupyBackend, H100_SMS, emulator  # noqa: F401 (fixture)
from gpunet.backend import NumpyBackend
from gpunet.backend import cuda_kernels as K
from gpunet.backend import dense_launch as DL
from kernel_cases import (ACTIVATIONS, DTYPES, SHAPES, SPECIAL_DY, SPECIAL_Z, WAVE_BLOCKS, act_id, assert_close,
                          dense_inputs, elementwise_inputs, guarded, intact, shape_id)

REF = NumpyBackend()


def run_dense(ops, inputs, activation, params, use_bias=True, need_dx=True):
    """Forward and backward of one Dense layer on inputs (x, w, b, dy); dw / db
    written into views of one flat gradient buffer, as a model's training step does."""
    x, w, b, dy = inputs
    b = b if use_bias else None
    (M, K_), N, dtype = x.shape, w.shape[1], x.dtype
    y, z = ops.dense_forward(x, w, b, activation, params)
    grads = guarded(numpy.zeros(K_ * N + N, dtype=dtype))
    dw, db = grads[:K_ * N].reshape(K_, N), (grads[K_ * N:] if use_bias else None)
    dx = ops.dense_backward(dy, x, w, z, y, activation, params, dw, db, need_dx)
    assert all(intact(a) for a in (x, w, dy, grads)), "a kernel wrote outside its output"
    return y, dx, dw, (db if use_bias else None)


def check_against_reference(ops, shape, dtype, activation, params, inputs=None, **kw):
    """The kernels' y, dX, dW, db against the NumPy backend's, NaN and inf included;
    ``inputs`` (x, w, b, dy) default to dense_inputs(shape, dtype)."""
    inputs = inputs if inputs is not None else dense_inputs(shape, dtype)
    with numpy.errstate(invalid="ignore", over="ignore"):  # NaN and inf inputs are the point there
        got = run_dense(ops, inputs, activation, params, **kw)
        ref = run_dense(REF, inputs, activation, params, **kw)
    for what, g, r in zip(("y", "dx", "dw", "db"), got, ref):
        if r is None:
            assert g is None, what
        else:
            assert_close(g, r, dtype, f"{activation}{params} {shape} {numpy.dtype(dtype).name}: {what}")


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
@pytest.mark.parametrize("case", ACTIVATIONS, ids=act_id)
def test_kernel_dense_fused_matches_numpy(emulator, case, dtype, shape):
    check_against_reference(EmulatedCupyBackend(emulator, dense_path="fused"), shape, dtype, *case)


@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
@pytest.mark.parametrize("case", ACTIVATIONS, ids=act_id)
def test_kernel_dense_cublas_path_matches_numpy(emulator, case, dtype, shape):
    check_against_reference(EmulatedCupyBackend(emulator, dense_path="cublas"), shape, dtype, *case)


@pytest.mark.parametrize("path", ["fused", "cublas"])
@pytest.mark.parametrize("shape", [(7, 13, 5), (257, 70, 3)], ids=shape_id)
def test_kernel_dense_without_bias_or_dx(emulator, path, shape):
    ops = EmulatedCupyBackend(emulator, dense_path=path)
    check_against_reference(ops, shape, numpy.float32, "relu", {"alpha": 0.1}, use_bias=False)
    check_against_reference(ops, shape, numpy.float32, "tanh", {}, need_dx=False)


def test_kernel_dense_grid_exceeds_a_wave(emulator):
    """The largest case really launches more blocks than an H100 holds at once,
    and the backward splits its dW reduction over the batch."""
    ops = EmulatedCupyBackend(emulator, dense_path="fused")
    shape = SHAPES[-1]
    emulator.launches.clear()
    run_dense(ops, dense_inputs(shape, numpy.float32), "tanh", {})
    grids = {kernel.split("<")[0]: grid for kernel, grid, _ in emulator.launches}
    assert grids["dense_forward"][0] * grids["dense_forward"][1] > WAVE_BLOCKS
    assert grids["dense_backward"][0] > WAVE_BLOCKS
    assert DL._backward_geometry(shape[0], shape[1], shape[2], H100_SMS, True, True, True)[0] > 1


@pytest.mark.parametrize("path", ["fused", "cublas"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
@pytest.mark.parametrize("case", ACTIVATIONS, ids=act_id)
def test_kernel_dense_nan_and_inf_elementwise(emulator, case, dtype, path):
    """Every activation and its derivative on NaN, +-inf and the values each treats
    specially, crossed with NaN / inf upstream gradients: NaN and inf exactly where
    the NumPy reference has them (relu and the clamps used to turn NaN into 0)."""
    ops = EmulatedCupyBackend(emulator, dense_path=path)
    check_against_reference(ops, (len(SPECIAL_Z) * len(SPECIAL_DY), 1, 1), dtype, *case,
                            inputs=elementwise_inputs(dtype))


@pytest.mark.parametrize("path", ["fused", "cublas"])
@pytest.mark.parametrize("shape", [(7, 13, 5), (65, 129, 33)], ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
@pytest.mark.parametrize("case", ACTIVATIONS, ids=act_id)
def test_kernel_dense_nan_and_inf_inputs(emulator, case, dtype, shape, path):
    """A NaN and an inf in x and a -inf in dy: through the GEMMs, the bias, the
    activation, softmax's row max and the backward, as the NumPy reference."""
    ops = EmulatedCupyBackend(emulator, dense_path=path)
    check_against_reference(ops, shape, dtype, *case, inputs=dense_inputs(shape, dtype, nonfinite=True))


@pytest.mark.parametrize("path", ["fused", "cublas"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_kernel_softmax_rows_with_nan_and_inf(emulator, dtype, path):
    """Rows of 37 holding one NaN, +inf or -inf among finite values (z = x exactly: w =
    I, b = 0): the row's max and sum carry NaN wherever NumPy's softmax does, whatever
    lane of the reduction the value falls in."""
    rows = []
    for pos in (0, 1, 17, 31, 32, 36):
        for bad in (numpy.nan, numpy.inf, -numpy.inf):
            row = numpy.random.default_rng(pos).standard_normal(37)
            row[pos] = bad
            rows.append(row)
    x = numpy.array(rows + [numpy.full(37, -numpy.inf), numpy.linspace(-3, 3, 37)])
    dy = numpy.random.default_rng(1).standard_normal(x.shape)
    dy[-1, 5] = numpy.nan
    inputs = tuple(guarded(a.astype(dtype)) for a in (x, numpy.eye(37), numpy.zeros(37), dy))
    check_against_reference(EmulatedCupyBackend(emulator, dense_path=path), x.shape + (37,), dtype, "softmax", {},
                            inputs=inputs)


def test_kernel_dense_auto_dispatch_follows_the_rule(emulator):
    """Small layers take the fused kernels, large ones cuBLAS + one elementwise kernel
    (here on a GPU of 2 SMs, where the fused kernels' throughput runs out early)."""
    for shape, fused in (((8, 16, 4), True), ((512, 256, 256), False)):
        ops = EmulatedCupyBackend(emulator, sm_count=2)
        assert ops._fused(shape[0], shape[1], shape[2], True) == fused
        emulator.launches.clear()
        check_against_reference(ops, shape, numpy.float32, "swish", {})
        kernels = [k.split("<")[0] for k, _, _ in emulator.launches]
        expected = ["dense_forward", "dense_backward"] if fused else ["bias_act", "act_backward_db"]
        assert kernels == expected, (shape, kernels)


def test_kernel_dense_relu_keeps_a_byte_mask(emulator):
    """The relu family stores a uint8 mask for backward, not the float pre-activation."""
    x, w, b, _ = dense_inputs((9, 11, 4), numpy.float32)
    for path in ("fused", "cublas"):
        _, kept = EmulatedCupyBackend(emulator, dense_path=path).dense_forward(x, w, b, "relu", {})
        assert kept.dtype == numpy.uint8 and kept.shape == (9, 11)
        assert ((kept & 1).astype(bool) == (x @ w + b > 0)).all()


@pytest.mark.parametrize("dtype", [numpy.float16, numpy.int32])
def test_kernel_dense_other_dtypes_fall_back_to_the_reference(emulator, dtype):
    emulator.launches.clear()
    ops = EmulatedCupyBackend(emulator, dense_path="fused")
    x, w = numpy.ones((3, 2), dtype), numpy.ones((2, 4), dtype)
    y, _ = ops.dense_forward(x, w, None, "relu", {})
    assert y.dtype == dtype and (y == 2).all() and emulator.launches == []


def test_kernel_dense_unknown_activation_params_fall_back(emulator):
    assert K.activation_spec("log_softmax", {}) is None
    assert K.activation_spec("relu", {"negative_slope": 0.1}) is None
    assert K.activation_spec("softmax", {"axis": 0}) is None
