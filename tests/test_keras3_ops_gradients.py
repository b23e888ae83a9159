"""Keras 3's ops in gpunet.ops (autodiff/math_ops.py, array_ops.py, control.py) by finite differences in float64
with a random upstream gradient, on every backend (the CuPy case runs on a GPU, and on the dry run's strict fake
CuPy: no host array slips into a device computation)."""
import math

import numpy as np
import pytest

from gpunet import ops as O
from test_autodiff_gradients import check, positive, rand

IDX = np.array([[2, 0, 1, 3], [3, 3, 0, 1], [1, 2, 2, 0]])
WEIGHTS = positive(3, 4)
CASES = {
    "log1p": (O.log1p, positive(3, 4)), "expm1": (O.expm1, rand(3, 4)), "erf": (O.erf, rand(3, 4)),
    "rsqrt": (O.rsqrt, positive(3, 4)), "reciprocal": (O.reciprocal, positive(3, 4)),
    "relu6": (lambda x: O.relu6(x * 4), rand(3, 4)), "log_sigmoid": (O.log_sigmoid, rand(3, 4) * 5),
    "mod": (lambda a, b: O.mod(a, b), positive(3, 4) * 3, positive(4) + 0.1),
    "nan_to_num": (O.nan_to_num, rand(3, 4)),
    "norm": (lambda x: O.norm(x, axis=-1), rand(2, 3, 4)), "norm ord 3": (lambda x: O.norm(x, 3, axis=0), rand(3, 4)),
    "norm matrix inf": (lambda x: O.norm(x, math.inf), rand(3, 4)), "norm fro": (lambda x: O.norm(x, "fro"), rand(3, 4)),
    "moments": (lambda x: O.moments(x, [0, 2])[1], rand(2, 3, 4)),
    "normalize": (O.normalize, rand(2, 3, 4)), "normalize order 1": (lambda x: O.normalize(x, 0, 1), rand(3, 4)),
    "average": (lambda x: O.average(x, 1, WEIGHTS), rand(3, 4)),
    "take": (lambda x: O.take(x, [2, 0, 2, -1], axis=1), rand(2, 3, 4)),
    "take_along_axis": (lambda x: O.take_along_axis(x, IDX, axis=1), rand(3, 4)),
    "split": (lambda x: O.split(x, [1, 3], axis=1)[1], rand(2, 4)),
    "repeat": (lambda x: O.repeat(x, [1, 0, 3]), rand(3)), "flip": (O.flip, rand(2, 3)),
    "moveaxis": (lambda x: O.moveaxis(x, 0, -1), rand(2, 3, 4)),
    "broadcast_to": (lambda x: O.broadcast_to(x, (2, 3)), rand(3)),
    "pad constant": (lambda x: O.pad(x, ((1, 0), (2, 1))), rand(3, 4)),
    "pad reflect": (lambda x: O.pad(x, 2, mode="reflect"), rand(3, 4)),
    "pad wrap": (lambda x: O.pad(x, ((0, 2), (1, 1)), mode="wrap"), rand(3, 4)),
    "tril": (lambda x: O.tril(x, 1), rand(3, 4)), "triu": (O.triu, rand(2, 3, 3)),
    "sort": (lambda x: O.sort(x, 0), rand(3, 4)), "top_k": (lambda x: O.top_k(x, 2)[0], rand(3, 4)),
    "slice_update": (lambda x, u: O.slice_update(x, (1, 1), u), rand(3, 4), rand(2, 2)),
    "einsum": (lambda a, b: O.einsum("bij,bkj->bik", a, b), rand(2, 3, 4), rand(2, 2, 4)),
    "einsum summed away": (lambda a, b: O.einsum("ij,k->j", a, b), rand(3, 4), rand(2)),
    "outer": (O.outer, rand(3), rand(2, 2)), "diagonal": (lambda x: O.diagonal(x, -1), rand(4, 3)),
    "while_loop": (lambda x: O.while_loop(lambda v, n: n < 2, lambda v, n: (O.sin(v) * x, n + 1), (x, 0))[0],
                   rand(3)),
    "vectorized_map": (lambda x: O.vectorized_map(lambda r: O.sum(r * r), x), rand(3, 4)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradients_by_finite_differences(ops, name):
    fn, *arrays = CASES[name]
    check(ops, fn, *arrays)
