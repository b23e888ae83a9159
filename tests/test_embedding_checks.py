"""Embedding's index check made once per fit/evaluate/predict call (layers/model_input.py,
models/checked_input.py) instead of once per batch, and the per-batch check wherever the whole x is
not at hand; Masking's mask computed once per batch (layers/masking_layer.py).

The checks are counted by wrapping the backend's ``check_indices`` on the instance the model uses:
real training, real outcomes. The per-batch path, forced by taking the layer's hook away, is the
reference the once-per-call path must match bit for bit."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet.callbacks import Callback
from gpunet.layers import Dense, Embedding, Flatten, GlobalAveragePooling1D, Masking, Reshape
from gpunet.models import Sequential

VOCAB, LEN, N, BATCH = 30, 6, 40, 8  # 5 batches an epoch
X = np.random.default_rng(11).integers(0, VOCAB, (N, LEN))
Y = (X.sum(1) > X.sum(1).mean()).astype("float64")[:, None]
BAD = X.copy()
BAD[N - 1, 4] = VOCAB  # out of range, in the last batch: the first batches would train before it fails
OUT_OF_RANGE = (rf"Embedding layer 'embedding' expects indices in \[0, {VOCAB}\) \(input_dim={VOCAB}\), "
                rf"received {VOCAB}\.0 at input position \({N - 1}, 4\)")


def _model(mask_zero=False, first=None):
    gpunet.utils.set_random_seed(5)
    layers = [Embedding(VOCAB, 4, input_length=LEN, mask_zero=mask_zero)]
    if first is not None:
        layers.insert(0, first)
    layers += [GlobalAveragePooling1D() if mask_zero else Flatten(), Dense(1, activation="sigmoid")]
    model = Sequential(layers)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def checks(ops, monkeypatch):
    """The shapes checked by ``check_indices`` so far, on every backend instance a check may run on
    (``ops``, the model's; NumPy's, where a GPU's streamed x is checked on the host)."""
    calls = []

    def count(ops):
        original = ops.check_indices  # the bound method: the wrapper calls the real check

        def counted(x, limit, what):
            calls.append(x.shape)
            return original(x, limit, what)
        monkeypatch.setattr(ops, "check_indices", counted)

    for backend in {id(o): o for o in (ops, B.resolve("numpy"))}.values():
        count(backend)
    return calls


def _per_batch(monkeypatch):
    """Force the per-batch check (the behaviour before the once-per-call check)."""
    monkeypatch.delattr(Embedding, "check_model_input")


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def _session(mask_zero, checks):
    """fit (shuffled: each epoch's batches gathered anew), evaluate, predict and a fit with
    validation; returns the model, the logs and outputs, and the shapes checked by each call."""
    model, results, counts = _model(mask_zero), [], []
    for call in (lambda: model.fit(X, Y, batch_size=BATCH, epochs=3, verbose=0).history,
                 lambda: model.evaluate(X, Y, batch_size=BATCH, verbose=0),
                 lambda: model.predict(X, batch_size=BATCH, verbose=0),
                 lambda: model.fit(X, Y, batch_size=BATCH, validation_split=0.25, verbose=0).history):
        start = len(checks)
        results.append(call())
        counts.append(checks[start:])
    return model, results, counts


@pytest.mark.parametrize("mask_zero", [False, True], ids=["flatten", "mask_zero"])
def test_fit_checks_the_whole_input_once_and_trains_as_per_batch_checks_do(ops, checks, monkeypatch, mask_zero):
    model, results, counts = _session(mask_zero, checks)
    # 15 batches in the first fit, 5 in evaluate and predict: one check over all of x each; the
    # training and validation arrays once each in the last fit (4 batches of 30 samples, 2 of 10)
    assert counts == [[(N, LEN)], [(N, LEN)], [(N, LEN)], [(30, LEN), (10, LEN)]]
    _per_batch(monkeypatch)
    reference, ref_results, ref_counts = _session(mask_zero, checks)
    assert [len(c) for c in ref_counts] == [15, 5, 5, 4 + 2]  # every batch checked on its own
    assert results[0] == ref_results[0] and results[1] == ref_results[1] and results[3] == ref_results[3]
    np.testing.assert_array_equal(results[2], ref_results[2])
    for got, want in zip(_weights(model), _weights(reference)):
        np.testing.assert_array_equal(got, want)


def test_a_bad_index_fails_each_call_before_any_step(ops, checks):
    model = _model()
    model.fit(X, Y, batch_size=BATCH, epochs=1, verbose=0)
    before, iterations = _weights(model), int(model.optimizer.iterations)
    calls = {
        "fit": lambda: model.fit(BAD, Y, batch_size=BATCH, epochs=2, verbose=0),
        "fit_validation_data": lambda: model.fit(X, Y, batch_size=BATCH, validation_data=(BAD, Y), verbose=0),
        "fit_steps_per_epoch": lambda: model.fit(BAD, Y, batch_size=BATCH, steps_per_epoch=3, verbose=0),
        "evaluate": lambda: model.evaluate(BAD, Y, batch_size=BATCH, verbose=0),
        "predict": lambda: model.predict(BAD, batch_size=BATCH, verbose=0),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=OUT_OF_RANGE):
            call()
        for got, want in zip(_weights(model), before):  # not one batch trained before the error
            np.testing.assert_array_equal(got, want, err_msg=name)
        assert int(model.optimizer.iterations) == iterations, name
    # one batch: the layer checks it in its forward, before the step
    with pytest.raises(ValueError, match=r"received 30\.0 at input position \(1, 4\)"):
        model.train_on_batch(BAD[-2:], Y[-2:])
    with pytest.raises(ValueError, match=r"integer indices, received 2.5 at input position \(0, 1\)"):
        model.test_on_batch(np.array([[1, 2.5, 0, 0, 0, 0]]), Y[:1])
    with pytest.raises(ValueError, match=r"received -1\.0 at input position \(0, 0\)"):
        model.predict_on_batch(np.array([[-1, 2, 0, 0, 0, 0]]))
    for got, want in zip(_weights(model), before):
        np.testing.assert_array_equal(got, want)


def _batches(x, y):
    while True:
        for lo in range(0, N, BATCH):
            yield x[lo:lo + BATCH], y[lo:lo + BATCH]


def test_where_the_whole_input_is_not_at_hand_each_batch_is_checked(ops, checks):
    model = _model()
    model.fit(_batches(X, Y), steps_per_epoch=5, epochs=2, verbose=0)  # a generator: batch by batch
    assert len(checks) == 10
    del checks[:]
    model.predict(_batches(X, Y), steps=5, verbose=0)
    assert len(checks) == 5
    with pytest.raises(ValueError, match=r"received 30\.0 at input position \(7, 4\)"):  # the position in its batch
        model.fit(_batches(BAD, Y), steps_per_epoch=5, verbose=0)
    # after another layer, the Embedding's input is not the model's: checked batch by batch
    after = _model(first=Reshape((LEN,), input_shape=(LEN,)))
    del checks[:]
    after.fit(X, Y, batch_size=BATCH, epochs=1, verbose=0)
    assert len(checks) == 5
    with pytest.raises(ValueError, match=r"received 30\.0 at input position \(7, 4\)"):
        after.predict(BAD, batch_size=BATCH, verbose=0)


class _CallsInside(Callback):
    """During fit (whose x was checked, so its Embedding skips the per-batch check), calls the
    model's Embedding directly and the model's single-batch methods on a bad batch."""

    def __init__(self):
        super().__init__()
        self.errors = []

    def on_train_batch_end(self, batch, logs=None):
        if batch:
            return
        bad = BAD[-1:]
        embedding = self.model.layers[0]
        for call in (lambda: embedding(embedding.ops.asarray(bad.astype("float32"))),
                     lambda: self.model.predict_on_batch(bad), lambda: self.model(bad),
                     lambda: self.model.predict(bad, verbose=0)):
            try:
                call()
            except ValueError as exc:
                self.errors.append(str(exc))


def test_calls_inside_a_checked_fit_still_check_their_own_input(ops):
    model, inside = _model(), _CallsInside()
    model.fit(X, Y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[inside])
    assert len(inside.errors) == 4
    assert all("received 30.0 at input position (0, 4)" in e for e in inside.errors)


def test_an_embedding_in_a_nested_model_is_checked_batch_by_batch(ops, checks):
    model = Sequential([Sequential([Embedding(VOCAB, 4, input_length=LEN)]), Flatten(), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, Y, batch_size=BATCH, epochs=1, verbose=0)
    assert len(checks) == 5  # the first layer is the nested model, which has no whole-input check
    with pytest.raises(ValueError, match=r"received 30\.0 at input position \(7, 4\)"):
        model.predict(BAD, batch_size=BATCH, verbose=0)


# ---- Masking: one mask a batch ---------------------------------------------------------------------
XM = np.random.default_rng(3).standard_normal((12, 5, 3))
XM[0, 1] = XM[4, 3] = XM[9, 0] = 0.0
YM = (XM.sum(axis=(1, 2)) > 0).astype("float64")[:, None]


def test_masking_computes_its_mask_once_a_batch(ops, monkeypatch):
    gpunet.utils.set_random_seed(2)
    model = Sequential([Masking(input_shape=(5, 3)), Dense(4, activation="tanh"), GlobalAveragePooling1D(),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    layer = model.layers[0]
    reference = model.predict(XM, batch_size=4, verbose=0)  # before counting: the values to keep
    made = []
    original = layer._mask_of
    monkeypatch.setattr(layer, "_mask_of", lambda x: made.append(x.shape) or original(x))
    np.testing.assert_array_equal(model.predict(XM, batch_size=4, verbose=0), reference)
    assert len(made) == 3  # 3 batches, one mask each (forward_and_mask's: layers/masking.py asks for both at once)
    model.fit(XM, YM, batch_size=4, epochs=2, verbose=0)
    assert len(made) == 3 + 6
    # forward and compute_mask called on their own each compute the mask once
    x = layer.ops.asarray(XM)
    layer.forward(x)
    want = ~np.all(XM == 0.0, axis=-1)
    np.testing.assert_array_equal(layer.ops.to_host(layer.compute_mask(x)), want)
    np.testing.assert_array_equal(layer.ops.to_host(layer.compute_mask(x)), want)
    assert len(made) == 3 + 6 + 3
    layer.forward(x)
    np.testing.assert_array_equal(layer.ops.to_host(layer.compute_mask(layer.ops.asarray(XM[:6]))), want[:6])


def test_a_gpu_models_host_data_is_checked_on_the_host(ops, monkeypatch):
    """Streamed x stays on the host on a GPU: its check runs there, not on the device."""
    from gpunet.models import checked_input as module
    model, seen = _model(), []
    monkeypatch.setattr(module, "transport_for", lambda backend: object())  # as on a real GPU (upload.py)
    monkeypatch.setattr(model.layers[0], "check_model_input", lambda backend, x: seen.append(backend))
    with module.checked_input(model, X, None):
        pass
    assert seen == [B.resolve("numpy")]


def test_a_functional_models_embeddings_on_its_inputs_are_checked_once(ops, checks):
    """A shared Embedding over two inputs (packed side by side) and one over a third: each input's
    columns are checked once per fit, not per batch; a bad index in the second input fails the fit
    before any step."""
    from gpunet.layers import Input, concatenate
    from gpunet.models import Model
    gpunet.utils.set_random_seed(5)
    a, b, c = Input((LEN,), name="a"), Input((LEN,), name="b"), Input((LEN,), name="c")
    shared, own = Embedding(VOCAB, 3, name="shared"), Embedding(VOCAB, 2, name="own")
    pooled = [GlobalAveragePooling1D()(t) for t in (shared(a), shared(b), own(c))]
    model = Model([a, b, c], Dense(1, activation="sigmoid")(concatenate(pooled)))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit([X, X[::-1], X], Y, batch_size=BATCH, epochs=2, verbose=0)
    assert checks == [(N, LEN)] * 3  # one per input, for the whole fit
    before = model.get_weights()
    with pytest.raises(ValueError, match=rf"received {VOCAB}\.0 at input position \({N - 1}, 4\)"):
        model.fit([X, BAD, X], Y, batch_size=BATCH, verbose=0)
    for w, v in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w, v)
