"""The functional and subclassing tests' shared checks: a model's backward against central differences in
float64, and a model trained side by side with tf.keras."""
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


def assert_trains_alike(model, ref, x, y, epochs=3, history_atol=1e-5, weight_atol=1e-5):
    """``model`` (gpunet) and ``ref`` (tf.keras), compiled alike from the same weights, trained side by
    side (batches of 16, no shuffling): every History entry to rtol 1e-4 (and ``history_atol``), every
    weight to rtol 1e-4 (and ``weight_atol``). Returns the two Histories."""
    h = model.fit(x, y, epochs=epochs, batch_size=16, shuffle=False, verbose=0)
    r = ref.fit(x, y, epochs=epochs, batch_size=16, shuffle=False, verbose=0)
    assert set(r.history) <= set(h.history), (sorted(h.history), sorted(r.history))
    for key in r.history:
        np.testing.assert_allclose(h.history[key], r.history[key], rtol=1e-4, atol=history_atol, err_msg=key)
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=weight_atol)
    return h, r
