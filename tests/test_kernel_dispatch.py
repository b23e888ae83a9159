"""CupyBackend's Dense dispatch rule (fused kernels vs cuBLAS) against the table it
was set from: gpu_probe.log part C, measured on an NVIDIA H200 on 2026-11-29
(../shared/measurements/h200-2026-11-29/), forward and backward timed apart."""
import re

import pytest

from conftest import shared_path
from cuda_emulator import EmulatedCupyBackend
from gpunet.backend import cuda_kernels as K
from gpunet.backend import cupy_backend as CB

H200_SMS = 132
# The backward measured there summed its batch splits' partial dW / db with two CuPy
# reductions after the kernel (today's kernel adds them up in the same launch).
OLD_HOST_SUMS_US = 20.0


def part_c():
    """[(M, K, N, fused fwd, cuBLAS fwd, fused bwd, cuBLAS bwd)] in ms."""
    with open(shared_path("measurements", "h200-2026-11-29", "gpu_probe.log")) as f:
        text = f.read()
    table = text[text.index("C crossover"):text.index("# part_c")]
    rows = [tuple(float(v) for v in m.groups()) for m in re.finditer(
        r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+[FC]\s+[FC]\s*$", table, re.M)]
    assert len(rows) == 38, "part C measured 38 shapes"
    return [(int(M), int(Kd), int(N), *t) for M, Kd, N, *t in rows]


def measured_kernel_costs(M, Kd, N):
    """The model's price of the kernels part C timed: no split-K forward; backward
    with the old batch splits for dW, none for dX, and the host-side sums."""
    fwd = CB.fused_cost_us(M, N, Kd, True, H200_SMS, splits=1)
    old_sw = max(1, min(K.cdiv(M, 256), K.cdiv(2 * H200_SMS, K.cdiv(Kd, K.TILE) * K.cdiv(N, K.TILE))))
    bwd = CB.fused_cost_us(M, N, Kd, False, H200_SMS, splits=(old_sw, 1)) + (OLD_HOST_SUMS_US if old_sw > 1 else 0)
    return fwd, bwd


def test_rule_picks_the_measured_faster_path():
    """Forward: the measured winner on all 38 shapes. Backward: on 36; the other two
    were within 9% (a tie either way), and the fused backward has since become faster
    on both (split dX, in-launch sums)."""
    wrong = []
    for M, Kd, N, ff, fc, bf, bc in part_c():
        fwd, bwd = measured_kernel_costs(M, Kd, N)
        if (fwd <= CB.cublas_cost_us(M, N, Kd, True, H200_SMS)) != (ff < fc):
            wrong.append(("forward", M, Kd, N))
        if (bwd <= CB.cublas_cost_us(M, N, Kd, False, H200_SMS)) != (bf < bc):
            wrong.append(("backward", M, Kd, N))
            assert abs(bf - bc) / min(bf, bc) < 0.1, (M, Kd, N, bf, bc)
    assert wrong == [("backward", 128, 1024, 1024), ("backward", 1024, 512, 512)]


def test_model_tracks_the_measured_times():
    """Within a factor of 2 of every measured time (the model is coarse, the decisions
    above are what it is for)."""
    for M, Kd, N, ff, fc, bf, bc in part_c():
        fwd, bwd = measured_kernel_costs(M, Kd, N)
        for est, ms in ((fwd, ff), (CB.cublas_cost_us(M, N, Kd, True, H200_SMS), fc), (bwd, bf),
                        (CB.cublas_cost_us(M, N, Kd, False, H200_SMS), bc)):
            assert 0.5 < est / (ms * 1000) < 2, (M, Kd, N, est, ms)


@pytest.mark.parametrize("M", [10, 128])
def test_wide_network_runs_on_gpunet_kernels_at_small_batches(M):
    """784-512-512-10 at batch 10 and 128: every layer's forward (split-K) and backward
    take the fused kernels, so a training step can be captured as a CUDA graph."""
    ops = EmulatedCupyBackend(None, sm_count=H200_SMS)
    for Kd, N, first in ((784, 512, True), (512, 512, False), (512, 10, False)):
        assert ops._fused(M, N, Kd, True)
        assert ops._fused(M, N, Kd, False, (True, True, not first))


def test_large_layers_keep_cublas():
    ops = EmulatedCupyBackend(None, sm_count=H200_SMS)
    for M, N, Kd in ((8192, 512, 784), (65536, 1024, 1024), (1024, 4096, 4096)):
        assert not ops._fused(M, N, Kd, True) and not ops._fused(M, N, Kd, False)


def test_forced_paths_override_the_rule():
    assert EmulatedCupyBackend(None, dense_path="fused")._fused(65536, 1024, 1024, True)
    assert not EmulatedCupyBackend(None, dense_path="cublas")._fused(10, 8, 8, False)


def test_a_backward_without_dx_costs_only_its_dw_grid():
    """The first layer wants no dX: its dW grid of one chunk per block is all there is."""
    first = CB.fused_cost_us(10, 512, 784, False, H200_SMS, need=(True, True, False))
    assert first < CB.FUSED_FIXED_US[1] + 5 < CB.fused_cost_us(10, 512, 784, False, H200_SMS)
