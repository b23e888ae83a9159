"""CupyBackend's Dense dispatch rule (fused kernels vs cuBLAS) against the table it
was fitted to: benchmarks/dense_timings_h200.txt, measured by benchmarks/gpu_check.py on an
NVIDIA H200 on 2026-11-29 with today's kernels, forward and backward timed apart."""
import os
import re

import pytest

from cuda_emulator import EmulatedCupyBackend
from gpunet.backend import cupy_backend as CB

H200_SMS = 132
TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks", "dense_timings_h200.txt")
TIE = 0.05  # measured times this close are a tie: either path is right


def measured():
    """[(M, K, N, fused fwd, cuBLAS fwd, fused bwd, cuBLAS bwd)] in ms."""
    with open(TABLE) as f:
        text = f.read()
    rows = [tuple(float(v) for v in m.groups()) for m in re.finditer(
        r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+[FC]\s+[FC]", text, re.M)]
    assert len(rows) == 43, "the table holds 43 shapes"
    return [(int(M), int(Kd), int(N), *t) for M, Kd, N, *t in rows]


def test_rule_picks_the_measured_faster_path():
    """On every measured shape, forward and backward, the rule picks the faster path, but for
    ties (within 5%)."""
    wrong = []
    for M, Kd, N, ff, fc, bf, bc in measured():
        for forward, fused_ms, cublas_ms in ((True, ff, fc), (False, bf, bc)):
            picks_fused = CB.fused_cost_us(M, N, Kd, forward, H200_SMS) <= CB.cublas_cost_us(M, N, Kd, forward, H200_SMS)
            if picks_fused != (fused_ms < cublas_ms) and abs(fused_ms - cublas_ms) > TIE * min(fused_ms, cublas_ms):
                wrong.append(("forward" if forward else "backward", M, Kd, N, fused_ms, cublas_ms))
    assert wrong == []


def test_model_tracks_the_measured_times():
    """Within a factor of 2 of every measured time (the model is coarse, the decisions
    above are what it is for)."""
    for M, Kd, N, ff, fc, bf, bc in measured():
        for forward, fused_ms, cublas_ms in ((True, ff, fc), (False, bf, bc)):
            for est, ms in ((CB.fused_cost_us(M, N, Kd, forward, H200_SMS), fused_ms),
                            (CB.cublas_cost_us(M, N, Kd, forward, H200_SMS), cublas_ms)):
                assert 0.5 < est / (ms * 1000) < 2, (M, Kd, N, forward, est, ms)


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
