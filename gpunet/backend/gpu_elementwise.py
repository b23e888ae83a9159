"""Elementwise operations into a GPU plan's buffers (gpu_graph_step.py's training step,
gpu_graph_forward.py's inference): CuPy ufuncs writing into arrays made beforehand, so they allocate
nothing and a step that holds them is captured as a CUDA graph with its kernels. Each function
returns the operation, to run later (as the step's entries run)."""
import numpy


class Elementwise:
    """A step entry that is a CuPy elementwise operation into the plan's buffers (no allocation): run
    as it is, and captured with the kernels."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self):
        self.fn()


def copy_into(xp, dst, src):
    """``dst[...] = src``."""
    return lambda: xp.copyto(dst, src)


def multiply_into(xp, a, b, out):
    """``out = a * b`` (``b`` an array or a scalar)."""
    return lambda: xp.multiply(a, b, out=out)


def add_into(xp, a, b, out):
    """``out = a + b``."""
    return lambda: xp.add(a, b, out=out)


def negate_into(xp, a, out):
    """``out = -a``."""
    return lambda: xp.negative(a, out=out)


def merge_into(xp, kind, ins, out):
    """The operation writing the merge ``kind`` (Add, Subtract, Average, Concatenate) of the 2-D
    arrays ``ins`` into ``out`` (no allocation), to run later."""
    if kind == "Concatenate":
        edges = numpy.cumsum([0] + [a.shape[1] for a in ins]).tolist()

        def concatenate():
            for a, lo, hi in zip(ins, edges[:-1], edges[1:]):
                xp.copyto(out[:, lo:hi], a)
        return concatenate
    if kind == "Subtract":
        return lambda: xp.subtract(ins[0], ins[1], out=out)

    def add():
        xp.add(ins[0], ins[1], out=out)
        for a in ins[2:]:
            xp.add(out, a, out=out)
        if kind == "Average":
            xp.multiply(out, 1.0 / len(ins), out=out)
    return add
