"""The CUDA emulation itself (tests/cuda_emulation.h): its barrier is a real
barrier, shared memory is per block, the built-in indices cover the launch, and
what would be undefined or rejected on a GPU fails here rather than passing; run
with threads in reverse order, gpunet's kernels still agree with NumPy."""
import os
import re
import subprocess
import sys

import numpy
import pytest

from cuda_emulator import KernelEmulator, KernelError, build_dir
from gpunet.backend.cuda_kernels import Launch

HERE = os.path.dirname(os.path.abspath(__file__))

SOURCE = r"""
// out[b * 256 + i] = in[b * 256 + 255 - i], through shared memory: needs the barrier.
template <typename T> __global__ void reverse(const T* in, T* out, int n) {
    __shared__ T s[256];
    const int i = threadIdx.x, o = blockIdx.x * 256;
    s[i] = o + i < n ? in[o + i] : T(0);
    __syncthreads();
    if (o + i < n) out[o + i] = s[255 - i];
}
// The same without the barrier: a race on a GPU.
template <typename T> __global__ void reverse_racy(const T* in, T* out, int n) {
    __shared__ T s[256];
    const int i = threadIdx.x, o = blockIdx.x * 256;
    s[i] = o + i < n ? in[o + i] : T(0);
    if (o + i < n) out[o + i] = s[255 - i];
}
// out[i] = in[i - 1] through shared memory without the barrier: each thread reads the slot the
// thread before it writes, which forward order happens to run first and reverse order does not.
template <typename T> __global__ void shift_racy(const T* in, T* out) {
    __shared__ T s[256];
    const int i = threadIdx.x;
    s[i] = in[i];
    out[i] = i > 0 ? s[i - 1] : T(0);
}
// A barrier only some threads reach.
template <typename T> __global__ void divergent(T* out) {
    if (threadIdx.x < 10) __syncthreads();
    out[threadIdx.x] = T(1);
}
// A thread that leaves before the barrier.
template <typename T> __global__ void early_exit(T* out) {
    if (threadIdx.x == 3) return;
    __syncthreads();
    out[threadIdx.x] = T(1);
}
// Every thread of a 3-D grid of 3-D blocks writes its linear id once.
template <typename T> __global__ void ids(T* out) {
    const long long block = blockIdx.x + gridDim.x * (blockIdx.y + (long long)gridDim.y * blockIdx.z);
    const int thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    const long long id = block * blockDim.x * blockDim.y * blockDim.z + thread;
    out[id] += T(id + 1);
}
// Each block's shared word holds its own block index while blocks run side by side.
template <typename T> __global__ void own_shared(T* out) {
    __shared__ T word;
    if (threadIdx.x == 0) word = T(blockIdx.x);
    __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = word;
}
// Thread 0 of every block takes a ticket; every thread counts itself into total.
template <typename T> __global__ void tickets(int* counter, int* total, T* out) {
    if (threadIdx.x == 0) out[blockIdx.x] = T(atomicAdd(counter, 1));
    __threadfence();
    atomicAdd(total, 1);
}
"""
KERNELS = ["reverse", "reverse_racy", "shift_racy", "divergent", "early_exit", "ids", "own_shared", "tickets"]


@pytest.fixture(scope="module")
def emu(request, tmp_path_factory):
    names = [f"{k}<{t}>" for k in KERNELS for t in ("float", "double")]
    return KernelEmulator(build_dir(request, tmp_path_factory), workers=2, modules={"selftest": (SOURCE, names)})


def launch(emu, kernel, grid, block, *args):
    emu(Launch("selftest", kernel, grid, block, args))


def test_kernel_emulation_barrier_orders_shared_memory(emu):
    x = numpy.arange(1000, dtype=numpy.float32)
    out = numpy.zeros_like(x)
    launch(emu, "reverse<float>", (4, 1, 1), (256, 1, 1), x, out, numpy.int32(1000))
    padded = numpy.concatenate([x, numpy.zeros(24, numpy.float32)])  # the last block reads zeros past n
    expected = numpy.concatenate([padded[o:o + 256][::-1] for o in range(0, 1024, 256)])[:1000]
    numpy.testing.assert_array_equal(out, expected)


def test_kernel_emulation_exposes_a_missing_barrier(emu):
    """Without the barrier, threads read shared slots not yet written: wrong output,
    as a GPU may give; the emulation does not hide the race."""
    x = numpy.arange(1, 513, dtype=numpy.float64)
    out = numpy.zeros_like(x)
    launch(emu, "reverse_racy<double>", (2, 1, 1), (256, 1, 1), x, out, numpy.int32(512))
    expected = numpy.concatenate([x[255::-1], x[:255:-1]])
    assert not numpy.array_equal(out, expected)


def test_kernel_emulation_reverse_order_exposes_a_race_forward_order_hides(emu, monkeypatch):
    """GN_EMU_REVERSE=1 runs a block's threads from the last id to the first between barriers,
    so a thread reading what a lower-numbered one writes without a barrier reads a stale value."""
    out = numpy.zeros(256, numpy.float32)
    for order, start in (("0", 1.0), ("1", 1001.0)):  # new values: shared memory outlives a launch
        monkeypatch.setenv("GN_EMU_REVERSE", order)
        x = numpy.arange(start, start + 256, dtype=numpy.float32)
        launch(emu, "shift_racy<float>", (1, 1, 1), (256, 1, 1), x, out)
        expected = numpy.concatenate([[0.0], x[:-1]]).astype(numpy.float32)
        if order == "0":
            numpy.testing.assert_array_equal(out, expected)  # hidden: thread i - 1 ran first
        else:
            assert (out[1:] != expected[1:]).all()  # every thread read last launch's value


def test_kernels_agree_with_numpy_with_threads_run_in_reverse_order():
    """The kernel tests that check numerics (Dense, the step kernels, the one-launch step with every optimizer,
    streaming, regularizers) pass with each block's threads run in reverse order too: no kernel leans on forward
    order to hide a missing barrier. Their float64 cases only: the float32 ones run the same templates, so the
    order of their threads is the same, and the suite keeps within its time (40 s, not 75). Not
    test_kernel_optimizers.py: optimizers.cu has no barrier (one thread, one element), so its threads' order
    changes nothing. Two processes side by side, each half of the modules: the suite waits on them, and CI has
    two cores."""
    assert "__syncthreads" not in open(os.path.join(HERE, "..", "kernels", "optimizers.cu")).read()
    modules = ["test_kernel_dense.py", "test_kernel_dense_splits.py", "test_kernel_step.py", "test_kernel_step_plan.py",
               "test_kernel_streaming.py", "test_kernel_regularizers.py",
               "test_kernel_fused_forward.py", "test_kernel_batch_norm.py", "test_kernel_fused_batch_norm.py"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GN_EMU_"))}
    env["GN_EMU_REVERSE"] = "1"
    # (-m "not gpu": on a GPU machine the gpu-marked cases run on the device, not the emulator: nothing to reverse)
    procs = [subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-m", "not gpu",
                               "-k", "not float32", *half], cwd=HERE, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for half in (modules[0::2], modules[1::2])]
    for proc in procs:
        out = proc.communicate(timeout=900)[0]
        summary = out.strip().splitlines()[-1]
        assert proc.returncode == 0 and re.search(r"^\d+ passed", summary), out[-6000:]


@pytest.mark.parametrize("kernel", ["divergent<float>", "early_exit<float>"])
def test_kernel_emulation_reports_a_barrier_not_all_threads_reach(emu, kernel):
    out = numpy.zeros(64, numpy.float32)
    with pytest.raises(KernelError, match="deadlock"):
        launch(emu, kernel, (3, 1, 1), (64, 1, 1), out)


def test_kernel_emulation_covers_a_3d_launch_once(emu):
    grid, block = (3, 2, 2), (5, 3, 2)
    n = 12 * 30
    out = numpy.zeros(n, numpy.float64)
    launch(emu, "ids<double>", grid, block, out)
    numpy.testing.assert_array_equal(out, numpy.arange(1, n + 1))


def test_kernel_emulation_shared_memory_is_per_block(emu):
    out = numpy.full(200 * 32, -1.0, numpy.float32)
    launch(emu, "own_shared<float>", (200, 1, 1), (32, 1, 1), out)
    numpy.testing.assert_array_equal(out, numpy.repeat(numpy.arange(200, dtype=numpy.float32), 32))


@pytest.mark.parametrize("grid, block", [((1, 1, 1), (1025, 1, 1)), ((1, 65536, 1), (32, 1, 1)),
                                         ((0, 1, 1), (32, 1, 1)), ((1, 1, 1), (16, 16, 8))])
def test_kernel_emulation_rejects_what_cuda_rejects(emu, grid, block):
    with pytest.raises(KernelError, match="geometry"):
        launch(emu, "ids<float>", grid, block, numpy.zeros(1, numpy.float32))


@pytest.mark.parametrize("n", [numpy.int64(8), numpy.float32(8), numpy.uint32(8)], ids=["int64", "float32", "uint32"])
def test_kernel_emulation_rejects_arguments_of_the_wrong_type(emu, n):
    """On a GPU a wrongly typed scalar shifts every later parameter silently."""
    x = numpy.zeros(8, numpy.float32)
    with pytest.raises(KernelError, match="arguments"):
        launch(emu, "reverse<float>", (1, 1, 1), (256, 1, 1), x, x.copy(), n)


def test_kernel_emulation_rejects_python_scalars_and_unknown_kernels(emu):
    x = numpy.zeros(8, numpy.float32)
    with pytest.raises(KernelError, match="NumPy scalar"):
        launch(emu, "reverse<float>", (1, 1, 1), (256, 1, 1), x, x.copy(), 8)
    with pytest.raises(KernelError, match="no such kernel"):
        launch(emu, "reverse<int>", (1, 1, 1), (256, 1, 1), x, x.copy(), numpy.int32(8))


def test_kernel_emulation_atomics_are_atomic_across_blocks(emu):
    """Blocks run on several OS threads at once: every ticket is handed out exactly
    once and no increment is lost (a plain read-modify-write would lose some)."""
    counter, total = numpy.zeros(1, numpy.int32), numpy.zeros(1, numpy.int32)
    out = numpy.full(3000, -1.0, numpy.float64)
    launch(emu, "tickets<double>", (3000, 1, 1), (64, 1, 1), counter, total, out)
    numpy.testing.assert_array_equal(numpy.sort(out), numpy.arange(3000))
    assert counter[0] == 3000 and total[0] == 3000 * 64
