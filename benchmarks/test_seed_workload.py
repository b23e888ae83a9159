"""Suite 1, the seed workload: the Pima MLP 8-12-8-1 (relu, relu, sigmoid), binary
cross-entropy, Adam, batch 10, shuffled, ``seed_epochs`` epochs per call: us/step; and the same
data through a functional graph with a residual connection (residual.py)."""
from .residual import residual_model
from .workloads import PIMA, RESIDUAL, initial_weights, pima_data


def _run(benchmark, framework, sizes, run_bench, spec, model):
    x, y = pima_data(sizes.seed_rows)
    batch = 10
    steps = sizes.seed_epochs * ((x.shape[0] + batch - 1) // batch)
    run_bench(benchmark, lambda: framework.fit(model, x, y, sizes.seed_epochs, batch),
              suite="seed", case=spec.name, framework=framework.name, unit="us/step", work=steps,
              rounds=sizes.seed_rounds)


def test_seed_workload(benchmark, framework, sizes, run_bench):
    _run(benchmark, framework, sizes, run_bench, PIMA, framework.mlp(PIMA, initial_weights(PIMA)))


def test_residual_workload(benchmark, framework, sizes, run_bench):
    _run(benchmark, framework, sizes, run_bench, RESIDUAL, residual_model(framework, initial_weights(RESIDUAL)))
