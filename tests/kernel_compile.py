"""Compile checks for the CUDA kernel modules, without a GPU.

`nvrtc_ptx` compiles a module's source exactly as CuPy's RawModule does (NVRTC,
every name expression instantiated) for a virtual architecture; `nvcc_ptx` does
the same with the toolkit's nvcc, which parses more strictly and runs its own
front end. Both raise `CompileError` with the compiler's log, and both check that
every name expression became an entry point of the PTX.
"""
import os
import re
import shutil
import subprocess

from gpunet.backend import cuda_kernels

ARCHS = ("compute_80", "compute_90")
# cuda_kernels' RawModule options, plus the one CuPy's compiler adds to every NVRTC run
CUPY_OPTIONS = cuda_kernels.NVRTC_OPTIONS + ("--device-as-default-execution-space",)


class CompileError(RuntimeError):
    pass


def _entries(ptx):
    return set(re.findall(r"\.entry\s+([A-Za-z0-9_]+)", ptx))


def nvrtc_ptx(source, names, arch):
    """PTX from NVRTC, and the lowered (mangled) name of each name expression."""
    from cupy_backends.cuda.libs import nvrtc
    prog = nvrtc.createProgram(source, "gpunet_kernels.cu", [], [])
    try:
        for name in names:
            nvrtc.addNameExpression(prog, name)
        try:
            nvrtc.compileProgram(prog, [f"--gpu-architecture={arch}", *CUPY_OPTIONS])
        except nvrtc.NVRTCError as exc:
            raise CompileError(f"NVRTC ({arch}): {exc}\n{nvrtc.getProgramLog(prog)}") from None
        lowered = {name: nvrtc.getLoweredName(prog, name) for name in names}
        ptx = nvrtc.getPTX(prog)
        ptx = ptx.decode() if isinstance(ptx, bytes) else ptx
    finally:
        nvrtc.destroyProgram(prog)
    missing = [n for n, low in lowered.items() if low not in _entries(ptx)]
    if missing:
        raise CompileError(f"NVRTC ({arch}): no kernel entry for {missing}")
    return ptx, lowered


def nvcc_path():
    return shutil.which("nvcc")


def nvcc_ptx(source, names, arch, workdir, lowered=None):
    """PTX from ``nvcc --ptx``; warnings count as errors. Host code that takes each
    kernel's address makes nvcc instantiate every name expression."""
    refs = ", ".join(f"(void*)&{name}" for name in names)
    path = os.path.join(workdir, f"gpunet_kernels_{arch}.cu")
    with open(path, "w") as f:
        f.write(source + f"\n\nvoid* gpunet_instantiate[] = {{{refs}}};\n")
    out = path[:-3] + ".ptx"
    proc = subprocess.run([nvcc_path(), "--ptx", f"-arch={arch}", "-std=c++17", "-Werror", "all-warnings",
                           "-o", out, path], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CompileError(f"nvcc ({arch}): exit {proc.returncode}\n{proc.stderr[-4000:]}")
    with open(out) as f:
        ptx = f.read()
    if lowered:
        missing = [n for n, low in lowered.items() if low not in _entries(ptx)]
        if missing:
            raise CompileError(f"nvcc ({arch}): no kernel entry for {missing}")
    return ptx


def nvcc_resources(source, names, sm, workdir):
    """ptxas's resource report for each kernel compiled for a real GPU (``sm`` e.g.
    "sm_90"): {mangled name: {"registers", "smem", "spill", "entry"}}; ``entry`` is False for a
    device function ptxas kept as a call (``__noinline__``)."""
    refs = ", ".join(f"(void*)&{name}" for name in names)
    path = os.path.join(workdir, f"gpunet_kernels_{sm}.cu")
    with open(path, "w") as f:
        f.write(source + f"\n\nvoid* gpunet_instantiate[] = {{{refs}}};\n")
    proc = subprocess.run([nvcc_path(), "-cubin", f"-arch={sm}", "-std=c++17", "--resource-usage", "-o",
                           path[:-3] + ".cubin", path], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CompileError(f"nvcc ({sm}): exit {proc.returncode}\n{proc.stderr[-4000:]}")
    usage, current, entries = {}, None, set()
    for line in (proc.stdout + proc.stderr).splitlines():
        if (m := re.search(r"Compiling entry function '([^']+)'", line)):
            entries.add(m.group(1))
        m = re.search(r"Function properties for (\S+)", line)
        if m:
            current = usage.setdefault(m.group(1), {"registers": 0, "smem": 0, "spill": 0,
                                                    "entry": m.group(1) in entries})
            continue
        if current is None:
            continue
        if (m := re.search(r"(\d+) bytes spill stores", line)):
            current["spill"] = int(m.group(1))
        if (m := re.search(r"Used (\d+) registers", line)):
            current["registers"] = int(m.group(1))
        if (m := re.search(r"(\d+) bytes smem", line)):
            current["smem"] = int(m.group(1))
    return usage
