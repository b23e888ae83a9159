"""The functional and subclassing tests' shared checks: a model's backward against central differences in
float64, the whole loss's gradient (added losses included) likewise, and a model trained side by side
with tf.keras."""
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


def check_loss_gradient(model, x, y=None, points=1, seed=0):
    """The whole training loss's gradient (compiled loss, added losses, regularizers) against central
    differences of ``test_on_batch``, at ``points`` random entries of each weight (float64, a model whose
    training and inference passes agree). One SGD step at learning rate 1 takes the gradient off the
    weights. ``model`` is recompiled with that optimizer, its loss kept."""
    import gpunet
    model.compile(optimizer=gpunet.optimizers.SGD(1.0), loss=model.loss)
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, y)
    step = [b - a for b, a in zip(before, model.get_weights())]
    rng = np.random.default_rng(seed)
    for i, w in enumerate(before):
        for idx in [tuple(rng.integers(0, s) for s in w.shape) for _ in range(points)]:
            values = []
            for sign in (1, -1):
                trial = [v.copy() for v in before]
                trial[i][idx] += sign * 1e-6
                model.set_weights(trial)
                values.append(model.test_on_batch(x, y))
            np.testing.assert_allclose(step[i][idx], (values[0] - values[1]) / 2e-6, rtol=1e-6, atol=1e-9,
                                       err_msg=f"weight {i} at {idx}")


def assert_trains_alike(model, ref, x, y, epochs=3, history_atol=1e-5, weight_atol=1e-5, validation_data=None,
                        weights=None):
    """``model`` (gpunet) and ``ref`` (tf.keras), compiled alike from the same weights, trained side by
    side (batches of 16, no shuffling; ``y`` None for a model trained on its added losses): every History
    entry to rtol 1e-4 (and ``history_atol``), every weight to rtol 1e-4 (and ``weight_atol``); ``weights``
    (a function of a model) picks which. Returns the two Histories."""
    h = model.fit(x, y, epochs=epochs, batch_size=16, shuffle=False, verbose=0, validation_data=validation_data)
    r = ref.fit(x, y, epochs=epochs, batch_size=16, shuffle=False, verbose=0, validation_data=validation_data)
    assert set(r.history) <= set(h.history), (sorted(h.history), sorted(r.history))
    for key in r.history:
        np.testing.assert_allclose(h.history[key], r.history[key], rtol=1e-4, atol=history_atol, err_msg=key)
    weights = weights or (lambda m: m.get_weights())
    for got, want in zip(weights(model), weights(ref)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=weight_atol)
    return h, r


def assert_classifier_trains_as_tf_keras(tfk, make, x, y, epochs=3, learning_rate=0.01, input_shape=None):
    """``make(lib)`` (a binary classifier, made with gpunet and with tf.keras: built by ``input_shape`` when it
    has no input shape of its own) from tf.keras's initial weights, compiled alike (Adam, binary crossentropy,
    accuracy), trained side by side by `assert_trains_alike`. Returns the two models."""
    import gpunet
    model, ref = make(gpunet), make(tfk)
    if input_shape is not None:
        ref.build(input_shape)
        model.build(input_shape)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(loss="binary_crossentropy", optimizer=lib.optimizers.Adam(learning_rate), metrics=["accuracy"])
    assert_trains_alike(model, ref, x, y, epochs=epochs)
    return model, ref
