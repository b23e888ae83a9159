"""The machine a benchmark ran on: CPU, cores, BLAS and its threads, versions."""
import datetime
import importlib
import os
import platform
import sys


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas():
    """BLAS libraries loaded in this process with their thread counts (threadpoolctl when
    installed, else what ``numpy.show_config`` says it was built against)."""
    import numpy  # noqa: F401  (loads NumPy's BLAS so that threadpoolctl sees it)
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        return [{k: info.get(k) for k in ("user_api", "internal_api", "version", "num_threads", "architecture",
                                           "threading_layer", "prefix")} for info in threadpool_info()]
    try:
        cfg = numpy.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return [{"user_api": "blas", "internal_api": blas.get("name"), "version": blas.get("version"),
                 "num_threads": os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
                 or "default (threadpoolctl not installed)"}]
    except Exception as exc:  # numpy < 1.26 has no mode="dicts"
        return [{"user_api": "blas", "internal_api": f"unknown ({exc})"}]


def _version(module):
    try:
        mod = importlib.import_module(module)
    except Exception:
        return None
    return getattr(mod, "__version__", "?")


def machine_info():
    """A JSON-able dict describing this machine and the versions in this environment."""
    versions = {"python": platform.python_version()}
    for name, module in (("numpy", "numpy"), ("gpunet", "gpunet"), ("h5py", "h5py"), ("torch", "torch"),
                         ("keras", "keras"), ("tf_keras", "tf_keras"), ("tensorflow", "tensorflow"),
                         ("cupy", "cupy"), ("pytest_benchmark", "pytest_benchmark")):
        if name in ("torch", "keras", "tf_keras", "tensorflow", "cupy") and module not in sys.modules:
            # Importing a peer only to print its version costs seconds; ask the metadata.
            versions[name] = _dist_version(name)
        else:
            versions[name] = _version(module)
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "blas": _blas(),
        # OPENBLAS_CORETYPE matters as much as the thread count: it picks the kernels (Haswell: AVX2 only).
        "thread_env": {k: v for k, v in sorted(os.environ.items())
                       if k.startswith(("OMP_", "OPENBLAS_", "MKL_", "KMP_", "GOTO", "TF_NUM_", "GPUNET_"))},
        "versions": versions,
    }
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    info["gpu"], info["gpu_absent"] = gpu_info()
    return info


def gpu_info():
    """``(description, None)`` of the CUDA GPU CuPy would use, or ``(None, why there is none)``."""
    from gpunet.backend import cupy_unavailable_reason
    reason = cupy_unavailable_reason()
    if reason is not None:
        return None, reason
    import cupy
    runtime = cupy.cuda.runtime
    props = runtime.getDeviceProperties(cupy.cuda.Device().id)

    def version(v):
        return f"{v // 1000}.{v % 1000 // 10}"
    return {"name": props["name"].decode(), "sms": props["multiProcessorCount"],
            "memory_gib": round(props["totalGlobalMem"] / 2**30, 1), "driver_cuda": version(runtime.driverGetVersion()),
            "runtime_cuda": version(runtime.runtimeGetVersion()), "cupy": cupy.__version__}, None


def _dist_version(name):
    from importlib import metadata
    dist = {"torch": "torch", "keras": "keras", "tf_keras": "tf-keras", "tensorflow": "tensorflow",
            "cupy": None}[name]
    candidates = [dist] if dist else ["cupy-cuda12x", "cupy-cuda13x", "cupy"]
    for cand in candidates:
        try:
            return metadata.version(cand)
        except metadata.PackageNotFoundError:
            continue
    return None
