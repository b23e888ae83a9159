"""The split reductions of the Dense kernels (split-K forward; batch splits for dW /
db and N splits for dX backward), each added up by the last block of its tile in the
same launch, under the CUDA emulation: against NumPy, one launch per pass, the
workspace left ready for the next launch, and bit-identical results whatever order
the blocks finish in. Small odd shapes on a GPU of few SMs, where the kernels split
as they do on an H100 for a small batch and long reductions."""
import numpy
import pytest

from cuda_emulator import EmulatedCupyBackend, KernelEmulator, build_dir, emulator  # noqa: F401 (fixture)
from gpunet.backend import cuda_kernels as K
from gpunet.backend import dense_launch as DL
from kernel_cases import DTYPES, act_id, dense_inputs, guarded, intact
from test_kernel_dense import check_against_reference

SMS = 4
# (M, N, K): forward S > 1 (K long, one or two tiles); backward Sw > 1 (M long) and
# Sx > 1 (N long); all three with partial tiles in each direction; M = 1.
SHAPES = [(7, 13, 200), (70, 65, 97), (300, 13, 5), (9, 150, 7), (82, 86, 84), (1, 3, 90)]
ALL_SPLIT = (82, 86, 84)
CASES = [("relu", {"alpha": 0.1, "max_value": 1.5, "threshold": 0.25}), ("elu", {}), ("tanh", {}), ("linear", {}),
         ("softmax", {})]


def splits(shape, sm_count=SMS):
    M, N, Kd = shape
    return DL.forward_splits(M, N, Kd, sm_count), DL._backward_geometry(M, N, Kd, sm_count, True, True, True)


def test_kernel_split_shapes_do_split():
    """Each shape above exercises what it is here for."""
    geo = {s: splits(s) for s in SHAPES}
    assert geo[(7, 13, 200)][0] > 1 and geo[(70, 65, 97)][0] > 1 and geo[(1, 3, 90)][0] > 1
    assert geo[(300, 13, 5)][1][0] > 1 and geo[(9, 150, 7)][1][2] > 1
    assert geo[ALL_SPLIT][0] > 1 and geo[ALL_SPLIT][1][0] > 1 and geo[ALL_SPLIT][1][2] > 1


def test_kernel_splits_never_leave_a_split_empty():
    for sm in (2, 132):
        for tiles in (1, 3, 17, 300):
            for n in range(1, 5000, 37):
                s = DL.reduction_splits(tiles, n, sm)
                chunks = K.cdiv(n, DL.CHUNK)
                assert 1 <= s <= DL.MAX_SPLITS and (s - 1) * K.cdiv(chunks, s) < chunks, (tiles, n, sm, s)


@pytest.mark.parametrize("nonfinite", [False, True], ids=["finite", "nan-inf"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
@pytest.mark.parametrize("case", CASES, ids=act_id)
def test_kernel_split_dense_matches_numpy(emulator, case, dtype, shape, nonfinite):
    ops = EmulatedCupyBackend(emulator, sm_count=SMS, dense_path="fused")
    emulator.launches.clear()
    check_against_reference(ops, shape, dtype, *case, inputs=dense_inputs(shape, dtype, nonfinite=nonfinite))
    dense = [k.split("<")[0] for k, _, _ in emulator.launches if k.startswith("dense")]
    assert dense == ["dense_forward", "dense_backward"], "one launch each way, no follow-up reduction"
    assert emulator.launches[0][1][2] == splits(shape)[0], "the forward grid's z is the split-K factor"


@pytest.mark.parametrize("shape", [(300, 13, 5), (9, 150, 7), ALL_SPLIT], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("need", [(False, True, True), (True, False, False), (False, True, False), (True, True, False)],
                         ids=["frozen-kernel", "no-bias-no-dx", "bias-only", "first-layer"])
def test_kernel_split_backward_partial_outputs(emulator, shape, need):
    """Frozen kernels, no bias, no dX: the workspace and the grid follow what is asked."""
    M, N, Kd = shape
    x, w, b, dy = dense_inputs(shape, numpy.float64)
    ops = EmulatedCupyBackend(emulator, sm_count=SMS, dense_path="fused")
    y, z = ops.dense_forward(x, w, b, "tanh", {})
    dw = guarded(numpy.zeros((Kd, N))) if need[0] else None
    db = guarded(numpy.zeros(N)) if need[1] else None
    dx = ops.dense_backward(dy, x, w, z, y, "tanh", {}, dw, db, need[2])
    dz = dy * (1 - y * y)
    if need[0]:
        numpy.testing.assert_allclose(dw, x.T @ dz, rtol=1e-12, atol=1e-12)
        assert intact(dw)
    if need[1]:
        numpy.testing.assert_allclose(db, dz.sum(axis=0), rtol=1e-12, atol=1e-12)
        assert intact(db)
    assert (dx is None) == (not need[2])
    if need[2]:
        numpy.testing.assert_allclose(dx, dz @ w.T, rtol=1e-12, atol=1e-12)


def run_twice(emu, shape, dtype):
    """Forward and backward twice through one backend (so one workspace); returns
    both results and the workspaces as the launches left them."""
    x, w, b, dy = dense_inputs(shape, dtype, seed=5)
    ops = EmulatedCupyBackend(emu, sm_count=SMS, dense_path="fused")
    out = []
    for _ in range(2):
        y, z = ops.dense_forward(x, w, b, "relu", {"alpha": 0.1})
        dw, db = numpy.zeros((shape[2], shape[1]), dtype), numpy.zeros(shape[1], dtype)
        dx = ops.dense_backward(dy, x, w, z, y, "relu", {"alpha": 0.1}, dw, db)
        out.append((y, dw, db, dx))
    return out, ops._workspaces


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_kernel_split_results_repeat_bit_for_bit(request, tmp_path_factory, emulator, dtype):
    """Partials are added in split order, not arrival order: the same bits from a
    second launch on the same workspace and from a run on 1 OS thread instead of
    several (other blocks finish last); the counters are back at 0 after each launch."""
    shape = ALL_SPLIT
    single = KernelEmulator(build_dir(request, tmp_path_factory), workers=1)
    runs, workspaces = run_twice(emulator, shape, dtype)
    other, _ = run_twice(single, shape, dtype)
    for got in (runs[1], other[0], other[1]):
        for a, b in zip(runs[0], got):
            assert a.tobytes() == b.tobytes()
    counters = [a for ws in workspaces.values() for a in ws if a.dtype == numpy.int32]
    assert len(counters) == 3 and all((c == 0).all() for c in counters)  # forward, dW / db, dX


def test_kernel_split_workspace_of_another_shape_is_refused():
    x, w, b, _ = dense_inputs((7, 13, 200), numpy.float32)
    y = numpy.empty((7, 13), numpy.float32)
    spec = K.activation_spec("tanh", {})
    wrong = [numpy.zeros(shape, dtype) for shape, dtype in DL.forward_workspace(8, 13, 200, numpy.float32, SMS)]
    with pytest.raises(ValueError, match=r"workspace does not fit this layer shape: expected \[\(\(4, 7, 13\)"):
        DL.dense_forward_launch(x, w, b, y, None, None, spec, SMS, wrong)
    with pytest.raises(ValueError, match="nothing to compute"):
        DL.dense_backward_launch(y, x, w, None, y, None, None, None, None, spec, SMS, [])
    with pytest.raises(ValueError, match=r"y must have shape \(7, 13\), received \(13, 7\)"):
        DL.dense_forward_launch(x, w, b, y.reshape(13, 7), None, None, spec, SMS, [])
    with pytest.raises(ValueError, match=r"expected x \(M, K\) and w \(K, N\) of one dtype.*float64"):
        DL.dense_forward_launch(x, w.astype(numpy.float64), b, y, None, None, spec, SMS, [])
    half = x.astype(numpy.float16)
    with pytest.raises(ValueError, match="the kernels take float32 or float64, received float16"):
        DL.dense_forward_launch(half, w.astype(numpy.float16), None, y.astype(numpy.float16), None, None, spec, SMS, [])


def test_kernel_workspaces_of_the_wide_network_on_an_h100():
    """784-512-512-10 at batch 128 on 132 SMs: split-K forward on every layer, a
    split dX where N = 512; the workspace stays a few MB."""
    layers = [(784, 512), (512, 512), (512, 10)]
    for Kd, N in layers:
        assert DL.forward_splits(128, N, Kd, 132) > 1
    assert DL._backward_geometry(128, 512, 512, 132, True, True, True)[2] > 1
    total = sum(numpy.prod(shape) * numpy.dtype(dt).itemsize for Kd, N in layers
                for shape, dt in DL.forward_workspace(128, N, Kd, numpy.float32, 132)
                + DL.backward_workspace(128, N, Kd, numpy.float32, 132, True, True, True))
    assert total < 16 * 2**20
