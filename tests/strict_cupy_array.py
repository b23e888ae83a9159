"""Device arrays for ``pytest --gpu-dryrun-strict`` (strict_cupy.py): `DArray` holds a NumPy array
but follows CuPy's rules outside, so the emulated GPU refuses what a real one refuses.

Why: the plain emulation (gpu_dryrun.py) keeps device arrays as NumPy arrays, so a test that only
works because of that (``numpy.testing`` on a backend array, NumPy arrays handed to a backend
function, ``numpy.asarray`` of a model's eager output) passes on the CPU and fails on a GPU. Here
implicit conversion to NumPy (``__array__``) and mixing with NumPy arrays in operations raise
TypeError, as CuPy's do; what CuPy accepts stays accepted (host values assigned into a device
array, host index arrays, ``asarray`` of host data, Python and NumPy scalars).
"""
import os
import sys

import numpy as np

_NP_DIR = os.path.dirname(np.__file__)
# the emulation's own code stands in for the driver (it hands kernels their arrays): not checked
_DRIVER = ("/cuda_emulator.py", "/gpu_dryrun.py")
_OWN = ("/strict_cupy.py", "/strict_cupy_array.py")  # (the fake CuPy itself: its caller is the one asking)


def _caller():
    """(filename, line) of the nearest frame outside this module, NumPy and pytest's machinery."""
    f = sys._getframe(2)
    while f is not None:
        fn = f.f_code.co_filename
        if not (fn.endswith(_OWN) or fn.startswith(_NP_DIR) or "/_pytest/" in fn or "/pluggy/" in fn
                or fn.startswith("<frozen") or fn.endswith(("/contextlib.py", "/functools.py"))):
            return fn, f.f_lineno
        f = f.f_back
    return "?", 0


def _violation(kind):
    """Raise TypeError for what real CuPy refuses, unless the emulation's driver code did it."""
    fn, line = _caller()
    if not fn.endswith(_DRIVER):
        raise TypeError(f"[strict-cupy] {kind} (from {fn}:{line}): real CuPy refuses this")


def _is_host(x):
    return isinstance(x, np.ndarray) and not isinstance(x, np.generic)


def unwrap(x, what="argument"):
    """Backend arrays to their numpy data; NumPy arrays are violations (converted when tolerated)."""
    if isinstance(x, DArray):
        return x._a
    if _is_host(x):
        if x.ndim > 0:
            _violation(f"numpy.ndarray passed as a CuPy {what}: shape {x.shape}")
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(unwrap(i, what) for i in x)
    if isinstance(x, dict):
        return {k: unwrap(v, what) for k, v in x.items()}
    return x


def unwrap_lenient(x):
    if isinstance(x, DArray):
        return x._a
    if isinstance(x, (list, tuple)):
        return type(x)(unwrap_lenient(i) for i in x)
    return x


def wrap(r):
    if isinstance(r, np.ndarray):
        if isinstance(r, DArray):
            return r
        out = DArray.__new__(DArray)
        out._a = r
        return out
    if isinstance(r, np.generic) and not isinstance(r, (np.str_, np.bytes_)):
        return wrap(np.asarray(r))
    if isinstance(r, tuple):
        return tuple(wrap(i) for i in r)
    if isinstance(r, list):
        return [wrap(i) for i in r]
    return r


class DArray:
    """A device array: numpy data inside, CuPy's rules outside."""
    __module__ = "cupy._core.core"
    __slots__ = ("_a", "__dict__")

    def __init__(self, *a, **k):
        raise TypeError("use fakecupy functions to make arrays")

    # --- conversions CuPy refuses -------------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        _violation("implicit conversion of a CuPy array to NumPy (__array__)")
        a = self._a
        return a if dtype is None else a.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # NEP-13: numpy ufuncs on CuPy arrays run CuPy's (NumPy arrays among the inputs: TypeError)
        ins = unwrap(inputs, "ufunc operand")
        kw = {k: unwrap(v, "ufunc operand") for k, v in kwargs.items()}
        with np.errstate(all="ignore"):
            r = getattr(ufunc, method)(*ins, **kw)
        if "out" in kwargs and kwargs["out"] is not None:
            outs = kwargs["out"]
            return outs[0] if isinstance(outs, tuple) and len(outs) == 1 else outs
        return wrap(r)

    def __array_function__(self, func, types_, args, kwargs):
        # NEP-18: numpy functions on CuPy arrays run CuPy's
        a, k = unwrap(args, "function operand"), unwrap(kwargs, "function operand")
        with np.errstate(all="ignore"):
            r = func(*a, **k)
        if "out" in kwargs and kwargs["out"] is not None:
            return kwargs["out"]
        return wrap(r)

    # --- CuPy's host transfers ------------------------------------------------------------------
    def get(self, stream=None, out=None, order="C", blocking=True):
        return np.array(self._a, copy=True)

    def set(self, arr, stream=None):
        self._a[...] = np.asarray(arr)

    def tolist(self):
        return self._a.tolist()

    def item(self, *args):
        return self._a.item(*args)

    # --- attributes ---------------------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    ctypes = property(lambda self: self._a.ctypes)
    data = property(lambda self: self._a.data)
    T = property(lambda self: wrap(self._a.T))
    base = property(lambda self: None if self._a.base is None else wrap(self._a.base)
                    if isinstance(self._a.base, np.ndarray) else self._a.base)
    real = property(lambda self: wrap(self._a.real))

    def view(self, dtype=None, type=None):
        if type is not None and isinstance(type, builtins_type) and issubclass(type, DArray):
            out = type.__new__(type)
            out._a = self._a if dtype is None else self._a.view(dtype)
            return out
        if type is not None:
            _violation("view as a numpy type")
            return self._a.view(type) if dtype is None else self._a.view(dtype, type)
        return wrap(self._a.view(dtype) if dtype is not None else self._a.view())

    def __getattr__(self, name):
        if name.startswith("__") or name == "_a":
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            def method(*args, **kwargs):
                a, k = unwrap(args, "method argument"), unwrap(kwargs, "method argument")
                with np.errstate(all="ignore"):
                    r = attr(*a, **k)
                return wrap(r)
            return method
        return wrap(attr)

    # --- Python protocols -----------------------------------------------------------------------
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        for i in range(len(self._a)):
            yield wrap(self._a[i])

    def __getitem__(self, index):
        index = unwrap_lenient(index)
        return wrap(self._a[index])

    def __setitem__(self, index, value):
        index = unwrap_lenient(index)
        if _is_host(value) and value.ndim > 0:
            pass  # CuPy copies a NumPy value in (cupy.ndarray.__setitem__ accepts host arrays)
        self._a[index] = unwrap_lenient(value)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __index__(self):
        return self._a.__index__()

    def __complex__(self):
        return complex(self._a)

    def __repr__(self):
        return "array(" + repr(self._a)[6:] if repr(self._a).startswith("array(") else repr(self._a)

    def __str__(self):
        return str(self._a)

    def __format__(self, spec):
        return format(self._a if self._a.ndim else self._a[()], spec)

    def __reduce__(self):
        return (_rebuild, (np.array(self._a, copy=True),))

    def __copy__(self):
        return wrap(self._a.copy())

    def __deepcopy__(self, memo):
        return wrap(self._a.copy())

    __hash__ = None


builtins_type = type


def _rebuild(a):
    return wrap(a)


def _binop(name, inplace=False, reflected=False):
    op = getattr(np.ndarray, name)

    def f(self, other):
        if isinstance(other, DArray):
            o = other._a
        elif _is_host(other):
            if other.ndim > 0:
                _violation(f"CuPy array {name} numpy.ndarray of shape {other.shape}")
            o = other
        elif isinstance(other, (int, float, complex, bool, np.generic)):
            o = other
        else:
            return NotImplemented
        with np.errstate(all="ignore"):
            r = op(self._a, o)
        if r is NotImplemented:
            return r
        if inplace:
            return self
        return wrap(r)
    f.__name__ = name
    return f


for _n in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift",
           "rshift", "divmod"):
    for _form in ("__%s__", "__r%s__", "__i%s__"):
        _name = _form % _n
        if hasattr(np.ndarray, _name):
            setattr(DArray, _name, _binop(_name, inplace=_form == "__i%s__"))
for _name in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
    setattr(DArray, _name, _binop(_name))


def _unop(name):
    op = getattr(np.ndarray, name)

    def f(self):
        with np.errstate(all="ignore"):
            return wrap(op(self._a))
    return f


for _name in ("__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(DArray, _name, _unop(_name))


