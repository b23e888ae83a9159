"""The functional tests' gradient check: a model's backward against central differences in float64."""
import numpy as np


def check_model_gradients(model, ops, x, upstream, count=None, seed=0):
    """``model._backward`` of the random upstream gradient ``upstream`` (host array shaped like the
    model's packed output) against central differences of ``sum(output * upstream)``, for every
    parameter or ``count`` of them drawn at random. ``model`` is compiled; ``x`` a backend array."""
    model._ensure_ready(x.shape, train=True)
    model._grads[...] = 0
    model._forward(x, True)
    model._backward(ops.asarray(upstream))
    analytic = ops.to_host(model._grads).copy()
    params = model._params
    indices = range(params.shape[0]) if count is None else np.random.default_rng(seed).choice(
        params.shape[0], count, replace=False)
    for i in indices:
        keep = float(ops.to_host(params[i:i + 1])[0])
        values = []
        for step in (1e-6, -1e-6):
            params[i:i + 1] = keep + step
            values.append(float((ops.to_host(model._forward(x, False)[0]) * upstream).sum()))
        params[i:i + 1] = keep
        np.testing.assert_allclose(analytic[i], (values[0] - values[1]) / 2e-6, rtol=1e-5, atol=1e-8,
                                   err_msg=f"parameter {i}")
