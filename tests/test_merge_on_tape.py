"""Merge layers (``Concatenate()([a, b])``, Add, Multiply, Dot...) called on the tape's tensors inside a
layer's or a subclassed model's ``call``, as Keras code writes them: forward as on arrays, each input's
gradient from the layer's own backward, checked by finite differences (float64, a random upstream
gradient); a model using one trains, and traces into the graph steps (models/call_trace.py)."""
import numpy
import pytest

import gpunet
from gpunet import backend as B
from gpunet.autodiff import Tensor, gradients
from gpunet.layers import Add, Average, Concatenate, Dense, Dot, Maximum, Multiply, Subtract
from gpunet.models import Model

MERGES = {"concatenate": lambda: Concatenate(), "add": lambda: Add(), "subtract": lambda: Subtract(),
          "multiply": lambda: Multiply(), "average": lambda: Average(), "maximum": lambda: Maximum(),
          "dot": lambda: Dot(axes=1)}


@pytest.mark.parametrize("name", sorted(MERGES))
def test_a_merge_on_tape_tensors_gives_each_input_its_finite_difference_gradient(name):
    B.set_floatx("float64")
    rng = numpy.random.default_rng(1)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    with B.use_backend(B.resolve("numpy")):  # (the tape's arithmetic, NumPy's: the finite differences' too)
        layer = MERGES[name]()
        want = numpy.asarray(layer([a, b]))
        ta, tb = Tensor(a.copy(), requires_grad=True), Tensor(b.copy(), requires_grad=True)
        out = layer([ta * 1.0, tb])  # (one input made by an op on the tape, one a leaf)
        numpy.testing.assert_allclose(out.data, want, rtol=1e-12)
        upstream = rng.standard_normal(out.shape)
        got = gradients(out, [ta, tb], upstream=upstream)
    eps = 1e-6
    for k, x in enumerate((a, b)):
        fd = numpy.zeros_like(x)
        for i in numpy.ndindex(x.shape):
            hi, lo = [v.copy() for v in (a, b)], [v.copy() for v in (a, b)]
            hi[k][i] += eps
            lo[k][i] -= eps
            with B.use_backend(B.resolve("numpy")):
                fd[i] = ((numpy.asarray(layer(hi)) - numpy.asarray(layer(lo))) * upstream).sum() / (2 * eps)
        numpy.testing.assert_allclose(got[k], fd, rtol=1e-6, atol=1e-8, err_msg=f"input {k}")


class TwoTowers(Model):
    """Keras code's habit: merge layers made in ``call`` and held as attributes."""

    def __init__(self):
        super().__init__()
        self.left, self.right = Dense(8, activation="relu"), Dense(8, activation="tanh")
        self.join, self.out = Add(), Dense(1, activation="sigmoid")

    def call(self, x):
        left, right = self.left(x), self.right(x)
        return self.out(Concatenate()([self.join([left, right]), Multiply()([left, right])]))


def test_a_subclassed_model_with_merges_trains_on_the_tape_and_on_the_graph_plan_alike():
    B.set_floatx("float64")
    rng = numpy.random.default_rng(2)
    x = rng.standard_normal((64, 8))
    y = (x[:, :2].sum(1, keepdims=True) > 0).astype("float64")
    histories = {}
    for path in ("tape", "plan"):
        with B.use_backend(B.resolve("numpy")):  # (NumPy's graph plan; the GPU's: tests/test_subclassed_plans.py)
            gpunet.utils.set_random_seed(4)
            model = TwoTowers()
            model.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="binary_crossentropy")
            if path == "tape":
                model._train_plan = lambda: None
            histories[path] = model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False).history["loss"]
        if path == "plan":
            assert type(model._plan).__name__ == "GraphPlan"
    numpy.testing.assert_allclose(histories["plan"], histories["tape"], rtol=1e-10)
    assert histories["tape"][-1] < histories["tape"][0]
