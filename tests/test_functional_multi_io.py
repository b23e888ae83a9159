"""Functional models with several inputs and outputs: training, evaluation and prediction against
tf.keras 2.21, data as lists, dicts and Sequences, files both ways, gradients."""
import numpy as np
import pytest

import gpunet
from gpunet.models import load_model

from keras_support import keras_on_torch
from graph_gradients import check_model_gradients


def _two_by_two(lib):
    """Two inputs merged, two heads: a sigmoid one and a softmax one (tf.keras's functional guide's shape)."""
    L = lib.layers
    a, b = lib.Input((4,), name="a_in"), lib.Input((3,), name="b_in")
    h = L.concatenate([L.Dense(5, activation="relu", name="da")(a), L.Dense(5, activation="tanh", name="db")(b)],
                      name="cat")
    o1 = L.Dense(1, activation="sigmoid", name="o1")(h)
    o2 = L.Dense(3, activation="softmax", name="o2")(L.Dense(4, activation="relu", name="mid")(h))
    return lib.Model([a, b], [o1, o2])


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    xa, xb = rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 3)).astype("float32")
    y1 = (xa.sum(1) > 0).astype("float32")
    y2 = (np.abs(xb).argmax(1)).astype("int64")
    return xa, xb, y1, y2


def _compile(model, lib, metrics=("accuracy",)):
    """tf.keras 2 applies a flat metrics list to every output; Keras 3 wants one list per output."""
    model.compile(optimizer=lib.optimizers.SGD(0.1, momentum=0.5),
                  loss=["binary_crossentropy", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.5],
                  metrics=list(metrics))


def test_trains_evaluates_and_predicts_as_tf_keras(tfk):
    xa, xb, y1, y2 = _data()
    model, ref = _two_by_two(gpunet), _two_by_two(tfk)
    assert [l.name for l in model.layers] == [l.name for l in ref.layers]
    model.set_weights(ref.get_weights())
    _compile(model, gpunet)
    _compile(ref, tfk)
    h = model.fit([xa, xb], {"o1": y1, "o2": y2}, epochs=3, batch_size=16, shuffle=False, verbose=0,
                  validation_split=0.25)
    r = ref.fit([xa, xb], {"o1": y1, "o2": y2}, epochs=3, batch_size=16, shuffle=False, verbose=0,
                validation_split=0.25)
    assert list(h.history) == list(r.history)
    for key in r.history:
        np.testing.assert_allclose(h.history[key], r.history[key], rtol=1e-4, atol=1e-5, err_msg=key)
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert model.metrics_names == ref.metrics_names
    np.testing.assert_allclose(model.evaluate({"a_in": xa, "b_in": xb}, [y1, y2], verbose=0),
                               ref.evaluate({"a_in": xa, "b_in": xb}, [y1, y2], verbose=0), rtol=1e-4)
    got, want = model.predict([xa, xb], verbose=0), ref.predict([xa, xb], verbose=0)
    assert [g.shape for g in got] == [(120, 1), (120, 3)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    one = model.predict_on_batch([xa[:5], xb[:5]])
    np.testing.assert_allclose(one[1], got[1][:5], rtol=1e-6)


def test_a_sequence_of_batches_trains_as_the_arrays_do():
    xa, xb, y1, y2 = _data(64)

    class Batches(gpunet.utils.Sequence):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            s = slice(16 * i, 16 * (i + 1))
            return [xa[s], xb[s]], [y1[s], y2[s]]

    models = []
    for source in ("arrays", "sequence"):
        gpunet.utils.set_random_seed(3)
        m = _two_by_two(gpunet)
        _compile(m, gpunet)
        if source == "arrays":
            m.fit([xa, xb], [y1, y2], batch_size=16, epochs=2, shuffle=False, verbose=0)
        else:
            m.fit(Batches(), epochs=2, shuffle=False, verbose=0)
        models.append(m)
    for a, b in zip(*(m.get_weights() for m in models)):
        np.testing.assert_array_equal(a, b)


def test_gradients_match_finite_differences(f64, ops):
    """An output that also feeds another layer (outputs=[h, out]): its gradient is the sum of both."""
    x1, x2 = gpunet.Input((3,)), gpunet.Input((2,))
    h = gpunet.layers.Dense(4, activation="tanh")(gpunet.layers.concatenate([x1, x2]))
    out = gpunet.layers.Dense(2, activation="sigmoid")(gpunet.layers.multiply([h, gpunet.layers.Dense(4)(x1)]))
    model = gpunet.Model([x1, x2], [h, out])
    model.compile(loss=["mse", "mse"], optimizer="sgd")
    rng = np.random.default_rng(5)
    x = ops.asarray(rng.normal(size=(6, 5)))  # the two inputs, packed as fit packs them
    g = rng.normal(size=(6, 6))
    check_model_gradients(model, ops, x, g)


@pytest.mark.parametrize("call, error, match", [
    (lambda m, d: m.fit([d[0]], [d[2], d[3]], verbose=0), ValueError, r"has 2 inputs \['a_in', 'b_in'\]"),
    (lambda m, d: m.fit({"a_in": d[0], "c": d[1]}, [d[2], d[3]], verbose=0), ValueError,
     r"x input given as a dict has keys \['c'\] that are not inputs of the model and no entry for \['b_in'\]; its "
     r"inputs are \['a_in', 'b_in'\]"),
    (lambda m, d: m.fit([d[0], d[1]], {"o1": d[2]}, verbose=0), ValueError,
     r"y output given as a dict has no entry for \['o2'\]; its outputs are \['o1', 'o2'\]"),
    (lambda m, d: m.fit([d[0], d[1][:10]], [d[2], d[3]], verbose=0), ValueError, "same number of samples"),
    (lambda m, d: m.fit([d[0], d[0]], [d[2], d[3]], verbose=0), ValueError, r"'b_in' has shape \(120, 4\)"),
    (lambda m, d: m.fit([d[0], d[1]], [d[2], d[3] + 7], verbose=0), ValueError, "o2"),
    (lambda m, d: m.fit([d[0], d[1]], [d[2], d[3]], sample_weight=[d[2]], verbose=0), ValueError,
     "one entry per output"),  # (per-output weights: tests/test_functional_sample_weights.py)
    (lambda m, d: m.fit([d[0], d[1]], [d[2], d[3]], class_weight={0: 1, 1: 2}, verbose=0), ValueError,
     "single output"),
])
def test_bad_data_is_refused_before_training(call, error, match):
    model = _two_by_two(gpunet)
    _compile(model, gpunet)
    before = model.get_weights()
    with pytest.raises(error, match=match):
        call(model, _data())
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_compile_per_output_dicts_and_errors():
    model = _two_by_two(gpunet)
    model.compile("adam", loss={"o1": "binary_crossentropy", "o2": "sparse_categorical_crossentropy"},
                  metrics={"o2": ["accuracy"]}, loss_weights={"o2": 2.0})
    assert model.metrics_names == ["loss", "o1_loss", "o2_loss", "o2_accuracy"]
    with pytest.raises(ValueError, match=r"compile's loss given as a dict has keys \['o3'\] that are not outputs of "
                                         r"the model; its outputs are \['o1', 'o2'\]"):
        model.compile("adam", loss={"o3": "mse"})
    with pytest.raises(ValueError, match="list has 3 entries; the model has 2 outputs"):
        model.compile("adam", loss=["mse"] * 3)


@pytest.mark.parametrize("ext", ["h5", "keras"])
def test_files_resume_exactly_and_load_in_tf_keras(tmp_path, tfk, ext):
    xa, xb, y1, y2 = _data()
    gpunet.utils.set_random_seed(9)
    whole = _two_by_two(gpunet)
    start = whole.get_weights()
    _compile(whole, gpunet)
    whole.fit([xa, xb], [y1, y2], epochs=4, batch_size=16, verbose=0)
    gpunet.utils.set_random_seed(9)
    half = _two_by_two(gpunet)
    half.set_weights(start)
    _compile(half, gpunet)
    half.fit([xa, xb], [y1, y2], epochs=2, batch_size=16, verbose=0)
    half.save(str(tmp_path / f"m.{ext}"))
    resumed = load_model(str(tmp_path / f"m.{ext}"))
    assert resumed.metrics_names == half.metrics_names
    resumed.fit([xa, xb], [y1, y2], epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    for got, want in zip(resumed.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(got, want)
    if ext == "h5":
        ref = tfk.models.load_model(str(tmp_path / "m.h5"))
        for g, w in zip(ref.predict([xa, xb], verbose=0), half.predict([xa, xb], verbose=0)):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ref.evaluate([xa, xb], [y1, y2], verbose=0),
                                   half.evaluate([xa, xb], [y1, y2], verbose=0), rtol=1e-4)


def test_keras_files_load_here(tmp_path, tfk):
    keras3 = keras_on_torch()
    xa, xb, y1, y2 = _data()
    for lib, name in ((tfk, "t.h5"), (keras3, "k.keras")):
        ref = _two_by_two(lib)
        _compile(ref, lib, metrics=(["accuracy"], ["accuracy"]))
        ref.fit([xa, xb], [y1, y2], epochs=1, verbose=0)
        ref.save(str(tmp_path / name))
        model = load_model(str(tmp_path / name))
        for g, w in zip(model.predict([xa, xb], verbose=0), ref.predict([xa, xb], verbose=0)):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(model.evaluate([xa, xb], [y1, y2], verbose=0),
                                   ref.evaluate([xa, xb], [y1, y2], verbose=0), rtol=1e-4, err_msg=name)


def test_gpunet_keras_file_loads_in_keras3(tmp_path):
    keras3 = keras_on_torch()
    xa, xb, y1, y2 = _data()
    model = _two_by_two(gpunet)
    _compile(model, gpunet)
    model.fit([xa, xb], [y1, y2], epochs=1, verbose=0)
    model.save(str(tmp_path / "g.keras"))
    ref = keras3.models.load_model(str(tmp_path / "g.keras"))
    for g, w in zip(ref.predict([xa, xb], verbose=0), model.predict([xa, xb], verbose=0)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    got = ref.evaluate([xa, xb], [y1, y2], verbose=0, return_dict=True)
    want = model.evaluate([xa, xb], [y1, y2], verbose=0, return_dict=True)
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-4, err_msg=key)


def test_one_input_and_output_by_name_or_in_a_list_of_one():
    x, y = _data(40)[0], _data(40)[2]
    inp = gpunet.Input((4,), name="features")
    model = gpunet.Model(inp, gpunet.layers.Dense(1, activation="sigmoid", name="score")(inp))
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    start = model.get_weights()
    model.fit({"features": x}, {"score": y}, epochs=1, batch_size=8, shuffle=False, verbose=0)
    by_name = model.get_weights()
    model.set_weights(start)
    model.fit([x], [y], epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(by_name, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict({"features": x}, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match=r"x input given as a dict has keys \['other'\] that are not inputs of the "
                                         r"model and no entry for \['features'\]"):
        model.predict({"other": x}, verbose=0)


def test_sparse_labels_of_one_output_are_checked_as_a_single_outputs_are():
    xa, xb, y1, y2 = _data()
    model = _two_by_two(gpunet)
    _compile(model, gpunet)
    with pytest.raises(ValueError, match=r"expects integer class labels of shape \(120,\) in y output 'o2', "
                                         r"received \(120, 2\)"):
        model.fit([xa, xb], [y1, np.stack([y2, y2], axis=1)], verbose=0)
    with pytest.raises(ValueError, match=r"expects integer class labels in y output 'o2'; row 0 holds 0.5"):
        model.fit([xa, xb], [y1, np.full(120, 0.5)], verbose=0)
