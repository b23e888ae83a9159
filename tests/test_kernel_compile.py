"""Every kernel module compiles for sm_80 and sm_90 class GPUs with every name
expression instantiated through CuPy's own NVRTC (what runs on a user's GPU), and
through nvcc --ptx, whose stricter parse sees warnings; ptxas finds each kernel's
registers and shared memory within its launch. The checker is tested too: broken
kernels must fail it."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from gpunet.backend import cuda_kernels
from gpunet.backend.kernel_source import MODULE_FILES, kernel_dir, module_source
from kernel_compile import ARCHS, CompileError, missing_entries, nvcc_path, nvcc_ptx, nvrtc_ptx, ptxas_resources

MODULES = sorted(cuda_kernels.KERNELS)
needs_nvcc = pytest.mark.skipif(nvcc_path() is None, reason="nvcc is not on the PATH")

# A kernel that compiles as float but not as double: only instantiation finds it.
BROKEN_ON_DOUBLE = """
template <typename T> struct Only;
template <> struct Only<float> { static __device__ float one() { return 1.0f; } };
template <typename T> __global__ void k(T* a) { a[threadIdx.x] = Only<T>::one(); }
"""
SYNTAX_ERROR = "template <typename T> __global__ void k(T* a) { a[threadIdx.x] = 1 }\n"
NEEDS_A_HEADER = "#include <cuda_fp16.h>\ntemplate <typename T> __global__ void k(T* a) { a[0] = T(0); }\n"
GOOD = "template <typename T> __global__ void k(T* a) { a[threadIdx.x] = T(2) * a[threadIdx.x]; }\n"
NAMES = ["k<float>", "k<double>"]


@pytest.mark.parametrize("module", MODULES)
def test_kernel_module_compiles_and_its_resources_fit_their_launches(module, tmp_path):
    """NVRTC (what CuPy runs on a user's GPU) compiles the module for every arch of ARCHS, and nvcc --ptx, which
    parses more strictly, compiles it with warnings as errors, side by side (NVRTC lets go of the GIL). Then what
    ptxas allots each kernel of NVRTC's PTX for sm_80 and sm_90 (what the driver makes of it) lets its block
    launch: every kernel runs 256 threads a block, an SM has 64K registers, and static shared memory stops at
    48 KiB; and no kernel (nor a device function it calls) spills registers to local memory. nvcc compiles for
    one arch only: no kernel source asks for __CUDA_ARCH__, so the other would parse the same text again."""
    source, names = module_source(module), cuda_kernels.name_expressions(module)
    assert "__CUDA_ARCH__" not in source
    with ThreadPoolExecutor(len(ARCHS) + 1) as pool:
        nvcc = pool.submit(nvcc_ptx, source, names, ARCHS[0], str(tmp_path)) if nvcc_path() else None
        results = list(pool.map(lambda arch: nvrtc_ptx(source, names, arch), ARCHS))
        for arch, (ptx, lowered) in zip(ARCHS, results):
            assert set(lowered) == set(names), arch
            assert f".target sm_{arch.split('_')[1]}" in ptx
        if nvcc is None:
            pytest.skip("nvcc is not on the PATH: NVRTC compiled the module; the nvcc and ptxas checks need the "
                        "CUDA toolkit")
        assert f".target sm_{ARCHS[0].split('_')[1]}" in nvcc.result()
    lowered = results[0][1]
    assert missing_entries(nvcc.result(), lowered) == []
    sms = ["sm_" + arch.split("_")[1] for arch in ARCHS]
    for sm, usage in ptxas_resources([ptx for ptx, _ in results], sms, str(tmp_path)).items():
        assert sum(u["entry"] for u in usage.values()) == len(names), sm
        for kernel, u in usage.items():
            assert u["registers"] * 256 <= 65536, (sm, kernel, u)
            assert u["smem"] <= 48 * 1024, (sm, kernel, u)
            assert u["spill"] == 0, (sm, kernel, u)


BROKEN = [(BROKEN_ON_DOUBLE, "Only<double>"), (SYNTAX_ERROR, "expected a"), (NEEDS_A_HEADER, "cuda_fp16.h")]
BROKEN_IDS = ["broken-on-double", "syntax-error", "toolkit-header"]


@pytest.mark.parametrize("source, why", BROKEN, ids=BROKEN_IDS)
def test_kernel_checker_rejects_broken_kernels_nvrtc(source, why):
    with pytest.raises(CompileError, match=why):
        nvrtc_ptx(source, NAMES, ARCHS[0])


def test_kernel_checker_needs_every_instantiation():
    """The float half of BROKEN_ON_DOUBLE is fine: only instantiating double finds the error."""
    nvrtc_ptx(BROKEN_ON_DOUBLE, NAMES[:1], ARCHS[0])


@needs_nvcc
@pytest.mark.parametrize("source, why", BROKEN[:2], ids=BROKEN_IDS[:2])
def test_kernel_checker_rejects_broken_kernels_nvcc(source, why, tmp_path):
    with pytest.raises(CompileError, match=why):
        nvcc_ptx(source, NAMES, ARCHS[0], str(tmp_path))


def test_kernel_checker_rejects_a_name_that_is_no_kernel():
    with pytest.raises(CompileError, match="non-__global__"):
        nvrtc_ptx(GOOD + "template <typename T> __device__ T twice(T v) { return v + v; }\n",
                  NAMES + ["twice<float>"], ARCHS[0])


def test_kernel_checker_accepts_a_good_kernel(tmp_path):
    ptx, lowered = nvrtc_ptx(GOOD, NAMES, ARCHS[1])
    assert len(set(lowered.values())) == 2
    if nvcc_path():
        nvcc_ptx(GOOD, NAMES, ARCHS[1], str(tmp_path), lowered)


def test_kernel_sources_name_no_toolkit_header():
    """NVRTC ships no toolkit headers, and a module is one string: no #include at all."""
    for module, files in MODULE_FILES.items():
        for name in files:
            with open(f"{kernel_dir()}/{name}") as f:
                assert "#include" not in f.read(), name


def test_kernel_every_source_file_belongs_to_a_module():
    import os
    on_disk = {f for f in os.listdir(kernel_dir()) if f.endswith((".cu", ".cuh"))}
    assert on_disk == {f for files in MODULE_FILES.values() for f in files}
    assert set(MODULE_FILES) == set(cuda_kernels.KERNELS)
