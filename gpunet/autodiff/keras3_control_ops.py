"""Keras 3's functional control flow beyond control.py's: ``custom_gradient``, ``scan``, ``associative_scan``,
``map`` and ``vectorize``. They run eagerly, as Keras 3 on torch does: the ops ``f`` applies are recorded as they
run, so a Python loop over them is differentiable as it is; ``custom_gradient`` records its ``grad_fn`` instead.
Nested structures (lists, tuples, dicts: ``keras.tree``'s) are walked here, dicts in sorted key order.
"""
import builtins
import functools
import inspect
import itertools
import re

from .. import backend as B
from .array_ops import broadcast_to, flip
from .shape_ops import concatenate, getitem, reshape, stack
from .tensor import Operators, Tensor, lift, result, unbroadcast

__all__ = ["custom_gradient", "scan", "associative_scan", "map", "vectorize"]


def _flatten(tree):
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in _flatten(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in _flatten(item)]
    return [tree]


def _pack(structure, leaves):
    """``leaves`` in the shape of ``structure`` (the inverse of `_flatten`)."""
    it = iter(leaves)

    def build(s):
        if isinstance(s, dict):
            built = {k: build(s[k]) for k in sorted(s)}
            return type(s)((k, built[k]) for k in s)
        if isinstance(s, (list, tuple)):
            items = [build(v) for v in s]
            return type(s)(*items) if hasattr(s, "_fields") else type(s)(items)
        return next(it)
    return build(structure)


def _tensor(value):
    """``value`` as a tensor, Python ints as int32 and bools as bool (Keras 3's ``convert_to_tensor``)."""
    if isinstance(value, bool):
        return lift(value, "bool")
    if isinstance(value, int):
        return lift(value, "int32")
    return lift(value)


def _callable(f, name):
    if not callable(f):
        raise TypeError(f"{name}: expected a callable f, received {f!r}")


def _along(t, axis, index):
    return getitem(t, (builtins.slice(None),) * axis + (index,))


def custom_gradient(f):
    """Decorator: ``f(*args)`` returns ``(output, grad_fn)``; the decorated function returns ``output`` and
    differentiates through ``grad_fn`` only (the ops inside ``f`` are not recorded). ``grad_fn`` is called as
    Keras 3 on torch calls it, ``grad_fn(*args, upstream=g)``, when its signature takes that, else as on
    TensorFlow and JAX, ``grad_fn(g)``; it returns one gradient per argument (None: none). ``output`` may be a
    tensor or a list or tuple of them (``upstream`` is then a list, with zeros for the outputs not reached)."""
    _callable(f, "custom_gradient")

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        inputs = [lift(a) if isinstance(a, Operators) else a for a in args]
        detached = [Tensor(a.data) if isinstance(a, Tensor) else a for a in inputs]
        out = f(*detached, **kwargs)  # (keyword arguments pass as they are, taking no gradient)
        if not (isinstance(out, (list, tuple)) and len(out) == 2 and callable(out[1])):
            raise TypeError(f"custom_gradient: expected f to return (output, grad_fn), received {out!r}")
        output, grad_fn = out
        several = isinstance(output, (list, tuple))
        outs = [lift(o) for o in output] if several else [lift(output)]
        try:
            inspect.signature(grad_fn).bind(*detached, upstream=None)
            torch_style = True
        except (TypeError, ValueError):
            torch_style = False
        last = {}

        def grads_for(position, g):
            # gradients() calls each parent's vjp in turn with the same g: grad_fn runs once per output gradient
            if last.get("position") != position or last.get("upstream") is not g:
                xp = B.get_backend().xp
                ups = [Tensor(g if i == position else xp.zeros(o.shape, o.dtype)) for i, o in enumerate(outs)]
                upstream = ups if several else ups[0]
                got = grad_fn(*detached, upstream=upstream) if torch_style else grad_fn(upstream)
                got = list(got) if isinstance(got, (list, tuple)) else [got]
                if len(got) != len(args):
                    raise ValueError(f"custom_gradient: expected grad_fn to return {len(args)} gradient(s), one "
                                     f"per argument, received {len(got)}")
                last.update(position=position, upstream=g, grads=got)
            return last["grads"]

        def vjp(position, i, shape):
            def apply(g):
                grad = grads_for(position, g)[i]
                xp = B.get_backend().xp
                if grad is None:
                    return xp.zeros(shape, g.dtype)
                data = lift(grad).data
                return unbroadcast(xp.broadcast_to(data, shape) if data.ndim < len(shape) else data, shape)
            return apply
        made = [result(o.data, *[(a, vjp(p, i, a.shape)) for i, a in enumerate(inputs) if isinstance(a, Tensor)])
                for p, o in enumerate(outs)]
        return type(output)(made) if several else made[0]
    return wrapped


def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """``carry, y = f(carry, x)`` over the slices ``x`` of ``xs`` along axis 0 (or ``length`` times with
    ``x=None``), last to first when ``reverse``; returns the last carry and the ``y``s stacked (a None ``y``:
    zeros like the carry). ``init``, ``xs`` and ``y`` may be nested; ``unroll`` is checked and has no effect."""
    _callable(f, "scan")
    if not isinstance(unroll, bool) and (not isinstance(unroll, int) or unroll < 1):
        raise ValueError(f"scan: expected unroll to be a positive int or a bool, received {unroll!r}")
    if xs is None and length is None:
        raise ValueError("scan: expected xs to scan over or a length, received neither")
    xs_flat = [] if xs is None else [_tensor(x) for x in _flatten(xs)]
    lengths = {x.shape[0] if x.ndim else None for x in xs_flat}
    if None in lengths or len(lengths) > 1 or (length is not None and lengths and lengths != {int(length)}):
        raise ValueError(f"scan: expected every xs to have the same first axis (length={length}), received shapes "
                         f"{[x.shape for x in xs_flat]}")
    n = int(length) if length is not None else lengths.pop()
    carry = _pack(init, [_tensor(c) for c in _flatten(init)])
    ys = []
    for i in (reversed(range(n)) if reverse else range(n)):
        carry, y = f(carry, _pack(xs, [x[i] for x in xs_flat]) if xs_flat else None)
        ys.append(y if y is not None else [_zeros_like(c) for c in _flatten(carry)])
    if not ys:
        raise ValueError("scan: expected at least one step, received length 0")
    if reverse:
        ys.reverse()
    stacked = [stack([lift(leaf) for leaf in leaves], axis=0) for leaves in zip(*[_flatten(y) for y in ys])]
    return carry, _pack(ys[0], stacked)


def _zeros_like(t):
    """scan's stand-in for a None ``y``: a constant."""
    return Tensor(B.get_backend().xp.zeros_like(lift(t).data))


def map(f, xs):  # noqa: A001 (Keras's name)
    """``f`` on each slice of ``xs`` (nested: the slices packed alike) along axis 0, the results stacked."""
    _callable(f, "map")
    return scan(lambda _, x: ((), f(x)), (), xs)[1]


def _interleave(a, b, axis):
    """``a[0], b[0], a[1], b[1], ...`` along ``axis`` (``a`` as long as ``b`` or one longer)."""
    extra = a.shape[axis] - b.shape[axis]
    head = _along(a, axis, builtins.slice(0, b.shape[axis])) if extra else a
    pairs = stack([head, b], axis=axis + 1)
    merged = reshape(pairs, b.shape[:axis] + (2 * b.shape[axis],) + b.shape[axis + 1:])
    return concatenate([merged, _along(a, axis, builtins.slice(-1, None))], axis=axis) if extra else merged


def associative_scan(f, elems, reverse=False, axis=0):
    """The inclusive prefix of ``elems`` (a tensor or nested tensors) under the associative ``f(a, b)`` (``a`` the
    earlier part) along ``axis``, by the same parallel prefix as Keras 3 (JAX's): ``f`` gets slices, not
    elements, and results match a sequential fold for an associative ``f``, commutative or not."""
    _callable(f, "associative_scan")
    flat = [_tensor(e) for e in _flatten(elems)]
    if not flat or builtins.any(e.ndim == 0 for e in flat):
        raise ValueError(f"associative_scan: expected tensors with an axis to scan, received {elems!r}")
    axis = axis % flat[0].ndim
    if len({e.shape[axis] for e in flat}) > 1:
        raise ValueError(f"associative_scan: expected the same length along axis {axis}, received shapes "
                         f"{[e.shape for e in flat]}")
    if reverse:
        flat = [flip(e, axis) for e in flat]

    def combine(a, b):
        out = _flatten(f(_pack(elems, a), _pack(elems, b)))
        return [lift(o) for o in out]

    def part(es, start, stop=None, step=1):
        return [_along(e, axis, builtins.slice(start, stop, step)) for e in es]

    def prefix(es):
        n = es[0].shape[axis]
        if n < 2:
            return es
        odd = prefix(combine(part(es, 0, -1, 2), part(es, 1, None, 2)))
        even = combine(part(odd, 0, -1) if n % 2 == 0 else odd, part(es, 2, None, 2))
        even = [concatenate([first, e], axis=axis) for first, e in zip(part(es, 0, 1), even)]
        return [_interleave(e, o, axis) for e, o in zip(even, odd)]
    scanned = prefix(flat)
    if reverse:
        scanned = [flip(e, axis) for e in scanned]
    return _pack(elems, scanned)


def _core_dims(signature):
    m = re.fullmatch(r"\s*(\(\w*(?:,\w+)*\)(?:,\(\w*(?:,\w+)*\))*)\s*->\s*(\(\w*(?:,\w+)*\)(?:,\(\w*(?:,\w+)*\))*)\s*",
                     signature.replace(" ", ""))
    if not m:
        raise ValueError(f"vectorize: expected a signature such as '(n),(n)->()', received {signature!r}")
    return [[tuple(re.findall(r"\w+", g)) for g in re.findall(r"\(.*?\)", side)] for side in m.groups()]


def _broadcast_shapes(shapes):
    ndim = builtins.max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = tuple(builtins.max(sizes) for sizes in zip(*padded))
    if builtins.any(n not in (1, m) for s in padded for n, m in zip(s, out)):
        raise ValueError(f"vectorize: expected broadcastable loop shapes, received {shapes}")
    return out


def vectorize(pyfunc, *, excluded=None, signature=None):
    """``pyfunc`` mapped over its arguments' broadcast leading axes (NumPy's ``vectorize``: without
    ``signature``, over every element); ``signature`` ``"(m,n),(n)->(m)"`` names the trailing core axes each
    argument keeps and each result adds. ``excluded`` (positions or keyword names) pass unchanged, as keyword
    arguments do. Runs eagerly, one call per index, so it is differentiable but slow for large inputs."""
    _callable(pyfunc, "vectorize")
    excluded = set(excluded or ())
    ins, outs = _core_dims(signature) if signature is not None else (None, None)

    @functools.wraps(pyfunc)
    def wrapped(*args, **kwargs):
        mapped = [i for i, a in enumerate(args) if i not in excluded and a is not None]
        tensors = {i: _tensor(args[i]) for i in mapped}
        cores = ins if ins is not None else [()] * len(mapped)
        if len(cores) != len(mapped):
            raise ValueError(f"vectorize: the signature {signature!r} takes {len(cores)} argument(s), received "
                             f"{len(mapped)}")
        sizes, loops = {}, []
        for i, core in zip(mapped, cores):
            t = tensors[i]
            if t.ndim < len(core):
                raise ValueError(f"vectorize: argument {i} needs {len(core)} core axes {core}, received {t.shape}")
            for name, n in zip(core, t.shape[t.ndim - len(core):]):
                if sizes.setdefault(name, n) != n:
                    raise ValueError(f"vectorize: core axis {name!r} is {sizes[name]} and {n} in different arguments")
            loops.append(t.shape[:t.ndim - len(core)])
        loop = _broadcast_shapes(loops)
        for i, core, shape in zip(mapped, cores, loops):
            tensors[i] = broadcast_to(tensors[i], loop + tensors[i].shape[len(shape):])
        if 0 in loop:
            raise ValueError(f"vectorize: expected non-empty inputs, received loop shape {loop}")
        results = []
        for index in itertools.product(*[range(n) for n in loop]):
            call = [getitem(tensors[i], index) if i in tensors else a for i, a in enumerate(args)]
            results.append(pyfunc(*call, **kwargs))
        several = isinstance(results[0], tuple) if results else False
        columns = list(zip(*results)) if several else [results]
        if outs is not None and len(outs) != len(columns):
            raise ValueError(f"vectorize: the signature {signature!r} gives {len(outs)} output(s), pyfunc returned "
                             f"{len(columns)}")
        stacked = [reshape(stack([lift(r) for r in col], axis=0), loop + lift(col[0]).shape) for col in columns]
        return tuple(stacked) if several else stacked[0]
    return wrapped

