"""Suite 4, one Adam step: the Pima net's 221 parameters in 6 tensors (per-step
overhead), and 1e6 / 1e7 parameters (memory bandwidth): us/step."""
import numpy
import pytest

from .workloads import PIMA, adam_shapes, gradients


def _cases(sizes):
    return [PIMA.n_params] + list(sizes.opt_sizes)


@pytest.fixture(params=[0, 1, 2], ids=["pima221", "large1", "large2"])
def n_params(request, sizes):
    cases = _cases(sizes)
    if request.param >= len(cases):
        pytest.skip("smoke mode runs one large size")
    return cases[request.param]


def case_name(n):
    shapes = adam_shapes(n)
    total = sum(int(numpy.prod(s)) for s in shapes)
    return f"adam {total} params in {len(shapes)} tensors"


def test_adam_step(benchmark, framework, n_params, run_bench):
    shapes = adam_shapes(n_params)
    step = framework.adam_step(shapes, gradients(shapes))
    step()  # builds slots / traces, outside the timing
    run_bench(benchmark, step, suite="optimizer", case=case_name(n_params), framework=framework.name,
              unit="us/step", work=1, rounds=None)
