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
    missing = missing_entries(ptx, lowered)
    if missing:
        raise CompileError(f"NVRTC ({arch}): no kernel entry for {missing}")
    return ptx, lowered


def nvcc_path():
    return shutil.which("nvcc")


def _side_by_side(commands):
    """Run the commands at once (nvcc is single-threaded: two cores, two compiles); ``[(rc, stdout + stderr)]``."""
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    logs = ["".join(p.communicate()) for p in procs]
    return [(p.returncode, log) for p, log in zip(procs, logs)]


def _instantiating(source, names, workdir, tag):
    """The source written to ``workdir`` with host code taking each kernel's address, which makes nvcc
    instantiate every name expression; returns its path."""
    refs = ", ".join(f"(void*)&{name}" for name in names)
    path = os.path.join(workdir, f"gpunet_kernels_{tag}.cu")
    with open(path, "w") as f:
        f.write(source + f"\n\nvoid* gpunet_instantiate[] = {{{refs}}};\n")
    return path


def nvcc_ptx(source, names, archs, workdir, lowered=None):
    """PTX from ``nvcc --ptx`` for each of ``archs`` (one name, or several compiled side by side): one PTX
    text, or a list in ``archs``' order; warnings count as errors."""
    several = not isinstance(archs, str)
    archs = list(archs) if several else [archs]
    paths = [_instantiating(source, names, workdir, arch) for arch in archs]
    runs = _side_by_side([[nvcc_path(), "--ptx", f"-arch={arch}", "-std=c++17", "-Werror", "all-warnings",
                           "-o", path[:-3] + ".ptx", path] for arch, path in zip(archs, paths)])
    ptxs = []
    for arch, path, (rc, log) in zip(archs, paths, runs):
        if rc != 0:
            raise CompileError(f"nvcc ({arch}): exit {rc}\n{log[-4000:]}")
        with open(path[:-3] + ".ptx") as f:
            ptx = f.read()
        if lowered and (missing := missing_entries(ptx, lowered)):
            raise CompileError(f"nvcc ({arch}): no kernel entry for {missing}")
        ptxs.append(ptx)
    return ptxs if several else ptxs[0]


def missing_entries(ptx, lowered):
    """The name expressions of ``lowered`` (NVRTC's {name: mangled name}) with no kernel entry in ``ptx``."""
    return [n for n, low in lowered.items() if low not in _entries(ptx)]


def ptxas_resources(ptxs, sms, workdir):
    """ptxas's resource report for each kernel of the PTX texts ``ptxs`` (for the virtual archs of ``sms``:
    compute_80's PTX for sm_80...) compiled for those real GPUs side by side: what ``nvcc -cubin -arch=sm_XX
    --resource-usage`` reports, without compiling the C++ again. {sm: {mangled name: {"registers", "smem",
    "spill", "entry"}}}; ``entry`` is False for a device function ptxas kept as a call (``__noinline__``)."""
    paths = []
    for sm, ptx in zip(sms, ptxs):
        paths.append(os.path.join(workdir, f"gpunet_kernels_{sm}.ptx"))
        with open(paths[-1], "w") as f:
            f.write(ptx)
    ptxas = os.path.join(os.path.dirname(nvcc_path()), "ptxas")
    runs = _side_by_side([[ptxas if os.path.exists(ptxas) else "ptxas", f"-arch={sm}", "-v", "-o", path[:-4] + ".cubin",
                           path] for sm, path in zip(sms, paths)])
    reports = {}
    for sm, (rc, log) in zip(sms, runs):
        if rc != 0:
            raise CompileError(f"ptxas ({sm}): exit {rc}\n{log[-4000:]}")
        reports[sm] = _usage(log)
    return reports


def _usage(log):
    usage, current, entries = {}, None, set()
    for line in log.splitlines():
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
