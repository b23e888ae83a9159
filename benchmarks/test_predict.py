"""Suite 3, ``predict`` throughput: the wide MLP (784-512-512-10, softmax output) on
``predict_rows`` x 784 inputs (60,000 by default), batch 1024: samples/s."""
import numpy

from .workloads import WIDE, initial_weights, mnist_like


def test_predict(benchmark, framework, sizes, run_bench):
    x, _ = mnist_like(sizes.predict_rows)
    spec = WIDE
    model = framework.mlp(spec, initial_weights(spec), compile=False)  # inference only
    out = framework.predict(model, x[:8], 1024)
    assert out.shape == (8, 10) and numpy.allclose(out.sum(axis=1), 1.0, atol=1e-4)
    run_bench(benchmark, lambda: framework.predict(model, x, 1024),
              suite="predict", case=spec.name, framework=framework.name, unit="samples/s", work=x.shape[0],
              rounds=sizes.predict_rounds)
