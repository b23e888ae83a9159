"""Suite 2, the wide MLP: 784-512-512-10 (relu, relu, softmax), categorical
cross-entropy, Adam, batch 128, one shuffled epoch of ``wide_samples`` per call: samples/s."""
import pytest

from .workloads import WIDE, initial_weights, mnist_like


def wide_model(framework):
    try:
        return framework.mlp(WIDE, initial_weights(WIDE))
    except ValueError as exc:
        if framework.name == "gpunet" and "categorical_crossentropy" in str(exc):
            pytest.skip(f"gpunet has no categorical_crossentropy yet: {exc}")
        raise


def test_wide_mlp(benchmark, framework, sizes, run_bench):
    x, y = mnist_like(sizes.wide_samples)
    model = wide_model(framework)
    run_bench(benchmark, lambda: framework.fit(model, x, y, 1, 128),
              suite="wide", case=WIDE.name, framework=framework.name, unit="samples/s", work=x.shape[0],
              rounds=sizes.wide_rounds)
