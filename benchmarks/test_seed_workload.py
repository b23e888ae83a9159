"""Suite 1, the seed workload: the Pima MLP 8-12-8-1 (relu, relu, sigmoid), binary
cross-entropy, Adam, batch 10, shuffled, ``seed_epochs`` epochs per call: us/step."""
from .workloads import PIMA, initial_weights, pima_data


def test_seed_workload(benchmark, framework, sizes, run_bench):
    x, y = pima_data(sizes.seed_rows)
    model = framework.mlp(PIMA, initial_weights(PIMA))
    batch = 10
    steps = sizes.seed_epochs * ((x.shape[0] + batch - 1) // batch)
    run_bench(benchmark, lambda: framework.fit(model, x, y, sizes.seed_epochs, batch),
              suite="seed", case=PIMA.name, framework=framework.name, unit="us/step", work=steps,
              rounds=sizes.seed_rounds)
