"""``pytest --gpu-dryrun-strict``: the whole suite with "auto" the emulated GPU (as
``--gpu-dryrun-auto``) whose device arrays follow CuPy's rules (strict_cupy_array.py): what would
fail on a real GPU because a test (or gpunet) treats a device array as a NumPy array fails here.

`FAKE` is the ``xp`` module: NumPy's functions and ufuncs over `DArray`s, refusing NumPy array
operands where CuPy does; `StrictCupyBackend` is the emulated CupyBackend with it.
"""
import types

import numpy as np

from cuda_emulator import EmulatedCupyBackend
from strict_cupy_array import DArray, _is_host, unwrap, unwrap_lenient, wrap


_ACCEPT_HOST = {"asarray", "array", "asanyarray", "ascontiguousarray", "asfortranarray"}


class FakeUfunc:
    def __init__(self, uf):
        self._uf = uf
        self.__name__ = uf.__name__

    def _run(self, meth, args, kwargs):
        a, k = unwrap(args, f"{self.__name__} operand"), unwrap(kwargs, f"{self.__name__} operand")
        with np.errstate(all="ignore"):
            r = meth(*a, **k)
        if kwargs.get("out") is not None:
            out = kwargs["out"]
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return wrap(r)

    def __call__(self, *args, **kwargs):
        return self._run(self._uf, args, kwargs)

    def __getattr__(self, name):
        meth = getattr(self._uf, name)
        if name == "at":  # cupy's scatter: host indices and values are converted (core.array)
            def at(*a, **k):
                with np.errstate(all="ignore"):
                    return meth(*unwrap_lenient(a), **k)
            return at
        if callable(meth):
            return lambda *a, **k: self._run(meth, a, k)
        return meth


def _function(name, fn):
    host_ok = name in _ACCEPT_HOST

    def f(*args, **kwargs):
        if name == "take":  # cupy converts host indices (core.array)
            args = (args[0],) + tuple(wrap(np.array(a)) if _is_host(a) else a for a in args[1:2]) + args[2:]
            if "indices" in kwargs and _is_host(kwargs["indices"]):
                kwargs = dict(kwargs, indices=wrap(np.array(kwargs["indices"])))
        if host_ok:
            a, k = unwrap_lenient(args), unwrap_lenient(kwargs)
        else:
            a, k = unwrap(args, f"{name} argument"), unwrap(kwargs, f"{name} argument")
        with np.errstate(all="ignore"):
            r = fn(*a, **k)
        if kwargs.get("out") is not None:
            return kwargs["out"]
        if host_ok and args:
            first = args[0]
            if isinstance(first, DArray) and r is first._a:
                return first  # cupy.asarray(x) is x
            if isinstance(r, np.ndarray) and _is_host(first) and np.shares_memory(r, first):
                r = r.copy()  # device memory of its own
        return wrap(r)
    f.__name__ = name
    return f


class _Sub(types.ModuleType):
    def __init__(self, name, src):
        super().__init__(name)
        self._src = src

    def __getattr__(self, name):
        obj = getattr(self._src, name)
        if callable(obj) and not isinstance(obj, type):
            obj = _function(name, obj)
        setattr(self, name, obj)
        return obj


class FakeCupy(types.ModuleType):
    """``xp``: numpy's functions on DArrays."""

    def __init__(self):
        super().__init__("fakecupy")
        self.ndarray = DArray
        self.linalg = _Sub("fakecupy.linalg", np.linalg)

    def __getattr__(self, name):
        if name in ("errstate", "cuda", "testing", "ctypeslib", "ma", "char", "rec", "polynomial"):
            raise AttributeError(f"fakecupy has no {name}")
        if name.startswith("__"):
            raise AttributeError(name)
        obj = getattr(np, name)
        if isinstance(obj, np.ufunc):
            obj = FakeUfunc(obj)
        elif isinstance(obj, types.ModuleType):
            obj = _Sub("fakecupy." + name, obj)
        elif callable(obj) and not isinstance(obj, type):
            obj = _function(name, obj)
        setattr(self, name, obj)
        return obj

    @staticmethod
    def asnumpy(a, stream=None, order="C", out=None):
        if isinstance(a, DArray):
            return np.array(a._a, copy=True)
        return np.asarray(a)

    @staticmethod
    def get_array_module(*args):
        return FAKE


FAKE = FakeCupy()


class StrictCupyBackend(EmulatedCupyBackend):
    """EmulatedCupyBackend with `FAKE` for ``xp``: device arrays are `DArray`s; the kernels'
    emulation gets their NumPy data."""

    def __init__(self, emulator):
        super().__init__(_Unwrapping(emulator))
        self.xp = FAKE

    def to_host(self, x):
        self.host_reads += 1
        return FAKE.asnumpy(x)


class _Unwrapping:
    """The kernel emulator, handed each launch's arrays as NumPy arrays."""

    def __init__(self, emulator):
        self.emulator = emulator

    def __call__(self, plan):
        return self.emulator(plan._replace(args=tuple(a._a if isinstance(a, DArray) else a for a in plan.args)))

    def __getattr__(self, name):
        return getattr(self.emulator, name)
