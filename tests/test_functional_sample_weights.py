"""Per-output sample weights of a model with several outputs, against tf.keras 2.21: one array per
output as a list or a dict (None, or an output left out: unweighted), in fit, validation_data,
evaluate, train_on_batch and test_on_batch and in a Sequence's batches; one array for every output;
weighted_metrics per output; the errors."""
import numpy as np
import pytest

import gpunet

from test_functional_multi_io import _two_by_two as _model  # two inputs, two heads (sigmoid, softmax)


def _compile(model, lib):
    model.compile(optimizer=lib.optimizers.SGD(0.1, momentum=0.5),
                  loss=["binary_crossentropy", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.5],
                  metrics=["accuracy"], weighted_metrics=["accuracy"])


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    xa, xb = rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 3)).astype("float32")
    y1 = (xa.sum(1) > 0).astype("float32")
    y2 = np.abs(xb).argmax(1).astype("int64")
    w1, w2 = rng.uniform(0.0, 2.0, n), rng.uniform(0.5, 3.0, n)
    return xa, xb, y1, y2, w1, w2


def _pair(tfk):
    model, ref = _model(gpunet), _model(tfk)
    model.set_weights(ref.get_weights())
    _compile(model, gpunet)
    _compile(ref, tfk)
    return model, ref


def _same(got, want, what):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=what)


def _same_history(h, r):
    assert list(h.history) == list(r.history)
    for key in r.history:
        _same(h.history[key], r.history[key], key)


def _same_weights(model, ref):
    for got, want in zip(model.get_weights(), ref.get_weights()):
        _same(got, want, "weights")


@pytest.mark.parametrize("form", ["list", "dict", "list with None", "dict without o1", "one array"])
def test_fit_with_validation_data_and_evaluate_match_tf_keras(tfk, form):
    xa, xb, y1, y2, w1, w2 = _data()
    vxa, vxb, vy1, vy2, vw1, vw2 = _data(40, seed=1)
    sw, vsw = {"list": ([w1, w2], [vw1, vw2]),
               "dict": ({"o1": w1, "o2": w2}, {"o2": vw2, "o1": vw1}),
               "list with None": ([None, w2], [vw1, None]),
               "dict without o1": ({"o2": w2}, {"o2": vw2}),
               "one array": (w1, vw1)}[form]
    model, ref = _pair(tfk)
    kw = dict(epochs=2, batch_size=16, shuffle=False, verbose=0)
    h = model.fit([xa, xb], [y1, y2], sample_weight=sw, validation_data=([vxa, vxb], [vy1, vy2], vsw), **kw)
    r = ref.fit([xa, xb], [y1, y2], sample_weight=sw, validation_data=([vxa, vxb], [vy1, vy2], vsw), **kw)
    assert "o1_weighted_accuracy" in h.history
    _same_history(h, r)
    _same_weights(model, ref)
    assert model.metrics_names == ref.metrics_names
    got = model.evaluate([vxa, vxb], [vy1, vy2], sample_weight=vsw, batch_size=16, verbose=0)
    want = ref.evaluate([vxa, vxb], [vy1, vy2], sample_weight=vsw, batch_size=16, verbose=0)
    _same(got, want, "evaluate")


def test_validation_split_and_shuffle_keep_each_samples_weights(tfk):
    """The weights' columns follow their samples through validation_split and shuffling (one batch
    of all samples, shuffled, has the unshuffled batch's loss only where each keeps its weight)."""
    xa, xb, y1, y2, w1, w2 = _data()
    model, ref = _pair(tfk)
    kw = dict(epochs=2, batch_size=16, shuffle=False, verbose=0, validation_split=0.25)
    _same_history(model.fit([xa, xb], [y1, y2], sample_weight={"o1": w1, "o2": w2}, **kw),
                  ref.fit([xa, xb], [y1, y2], sample_weight={"o1": w1, "o2": w2}, **kw))
    _same_weights(model, ref)
    start = model.get_weights()
    gpunet.utils.set_random_seed(5)
    shuffled = model.fit([xa, xb], [y1, y2], sample_weight=[w1, np.zeros_like(w2)], epochs=1, batch_size=96,
                         verbose=0, shuffle=True)
    model.set_weights(start)
    plain = model.fit([xa, xb], [y1, y2], sample_weight=[w1, np.zeros_like(w2)], epochs=1,
                      batch_size=96, verbose=0, shuffle=False)
    _same(shuffled.history["o1_loss"], plain.history["o1_loss"], "o1_loss")
    assert shuffled.history["o2_loss"] == [0.0]


def test_train_and_test_on_batch_match_tf_keras(tfk):
    xa, xb, y1, y2, w1, w2 = _data(32)
    model, ref = _pair(tfk)
    for sw in ([w1, w2], {"o2": w2}):
        _same(model.train_on_batch([xa, xb], [y1, y2], sample_weight=sw),
              ref.train_on_batch([xa, xb], [y1, y2], sample_weight=sw), "train_on_batch")
        _same(model.test_on_batch([xa, xb], [y1, y2], sample_weight=sw),
              ref.test_on_batch([xa, xb], [y1, y2], sample_weight=sw), "test_on_batch")
    _same_weights(model, ref)


def test_a_sequence_of_weighted_batches_trains_as_the_arrays_do():
    xa, xb, y1, y2, w1, w2 = _data(64)

    class Batches(gpunet.utils.Sequence):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            s = slice(16 * i, 16 * (i + 1))
            return [xa[s], xb[s]], [y1[s], y2[s]], [w1[s], w2[s]]

    models, histories = [], []
    for source in ("arrays", "sequence"):
        gpunet.utils.set_random_seed(3)
        m = _model(gpunet)
        _compile(m, gpunet)
        if source == "arrays":
            h = m.fit([xa, xb], [y1, y2], sample_weight=[w1, w2], batch_size=16, epochs=2, shuffle=False,
                      verbose=0, validation_data=([xa, xb], [y1, y2], [w1, w2]))
        else:
            h = m.fit(Batches(), epochs=2, shuffle=False, verbose=0, validation_data=Batches())
        models.append(m)
        histories.append(h.history)
    assert list(histories[0]) == list(histories[1])
    for key in histories[0]:
        _same(histories[1][key], histories[0][key], key)
    for a, b in zip(*(m.get_weights() for m in models)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    _same(models[1].evaluate(Batches(), verbose=0), models[0].evaluate([xa, xb], [y1, y2], sample_weight=[w1, w2],
                                                                       batch_size=16, verbose=0), "evaluate")


def test_zero_weights_for_an_output_leave_its_loss_out_of_the_gradient():
    """Weights 0 for every sample of o2: the same step as a model trained on o1's loss alone."""
    xa, xb, y1, y2, w1, _ = _data(48)
    gpunet.utils.set_random_seed(4)
    base = _model(gpunet)
    start = base.get_weights()
    results = []
    for loss, sw, t2 in ((["binary_crossentropy", "sparse_categorical_crossentropy"], [w1, np.zeros(48)], y2),
                         ({"o1": "binary_crossentropy"}, {"o1": w1}, np.eye(3)[y2])):
        m = _model(gpunet)
        m.set_weights(start)
        m.compile(gpunet.optimizers.SGD(0.1), loss=loss)
        m.fit([xa, xb], [y1, t2], sample_weight=sw, batch_size=16, epochs=1, shuffle=False, verbose=0)
        results.append(m.get_weights())
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("sw, match", [
    (lambda d: [d[4]], r"one entry per output: the model has 2 outputs \['o1', 'o2'\], received a list of 1"),
    (lambda d: [d[4], d[5], d[4]], r"received a list of 3"),
    (lambda d: {"o1": d[4], "o3": d[5]}, r"keys \['o3'\] that are not outputs of the model; its outputs are "
                                          r"\['o1', 'o2'\]"),
    (lambda d: [d[4][:10], d[5]], r"sample_weight for output 'o1' must have shape \(96,\).*received \(10,\)"),
    (lambda d: {"o2": np.stack([d[5], d[5]], 1)}, r"output 'o2' must have shape \(96,\).*received \(96, 2\)"),
    (lambda d: np.stack([d[4], d[5]], 1), r"one array weights every output and must have shape \(96,\); "
                                          r"received \(96, 2\)"),
    (lambda d: d[4][:50], r"received \(50,\)"),
    (lambda d: [d[4], np.full(96, np.nan)], r"sample_weight for output 'o2' holds NaN at row 0"),
])
def test_bad_weights_are_refused_before_training(sw, match):
    model = _model(gpunet)
    _compile(model, gpunet)
    data = _data()
    before = model.get_weights()
    with pytest.raises(ValueError, match=match):
        model.fit([data[0], data[1]], [data[2], data[3]], sample_weight=sw(data), verbose=0)
    with pytest.raises(ValueError, match=match.replace("sample_weight", "validation_data sample_weight", 1)
                       if match.startswith("sample_weight") else match):
        model.fit([data[0], data[1]], [data[2], data[3]], verbose=0,
                  validation_data=([data[0], data[1]], [data[2], data[3]], sw(data)))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_weights_in_evaluate_and_on_batch():
    model = _model(gpunet)
    _compile(model, gpunet)
    xa, xb, y1, y2, w1, w2 = _data(32)
    with pytest.raises(ValueError, match="received a list of 3"):
        model.evaluate([xa, xb], [y1, y2], sample_weight=[w1, w2, w1], verbose=0)
    with pytest.raises(ValueError, match=r"keys \['x'\]"):
        model.train_on_batch([xa, xb], [y1, y2], sample_weight={"x": w1})
    with pytest.raises(ValueError, match=r"'o2' must have shape \(32,\)"):
        model.test_on_batch([xa, xb], [y1, y2], sample_weight=[w1, w2[:5]])


def test_compile_names_weighted_metrics_per_output_as_tf_keras(tfk):
    for metrics, weighted in ((["accuracy"], ["mse"]), ({"o1": ["mae"]}, {"o2": ["mse"], "o1": ["mae"]})):
        model, ref = _model(gpunet), _model(tfk)
        for m, lib in ((model, gpunet), (ref, tfk)):
            m.compile("sgd", loss=["binary_crossentropy", "sparse_categorical_crossentropy"], metrics=metrics,
                      weighted_metrics=weighted)
        xa, xb, y1, y2, w1, w2 = _data(16)
        ref.evaluate([xa, xb], [y1, y2], verbose=0)  # tf.keras names its metrics once built
        assert model.metrics_names == ref.metrics_names
