"""Training input is checked before the first step: non-empty, finite x / y / sample_weight (one
pass; GPUNET_CHECK_FINITE=0 skips it), integer epochs, integer labels in range for sparse losses."""
import numpy as np
import pytest

import gpunet
from gpunet.layers import Dense
from gpunet.models import Sequential

RNG = np.random.RandomState(8)
X = RNG.rand(20, 3).astype("float32")
Y = RNG.rand(20, 2).astype("float32")


def model_(loss="mse", units=2):
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(units, activation="softmax")])
    model.compile(loss=loss, optimizer="adam")
    return model


def _with(array, row, value, col=0):
    out = np.array(array, dtype=np.float64 if array.dtype.kind == "f" else array.dtype, copy=True)
    if out.ndim == 1:
        out[row] = value
    else:
        out[row, col] = value
    return out


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # 1e300 in float32
@pytest.mark.parametrize("call", ["fit", "train_on_batch", "evaluate", "validation_data", "generator"])
@pytest.mark.parametrize("where, value, kind", [("x", np.nan, "NaN"), ("y", np.inf, "inf"),
                                                ("sample_weight", -np.inf, "-inf"), ("x", 1e300, "inf")])
def test_non_finite_data_is_refused_naming_the_array_and_first_bad_row(ops, call, where, value, kind):
    model = model_()
    assert model.ops is ops
    before = [w.copy() for w in model.get_weights()]
    data = {"x": X, "y": Y, "sample_weight": np.ones(20)}
    data[where] = _with(data[where], 13, value)
    data[where] = _with(data[where], 17, value)
    kwargs = {"sample_weight": data["sample_weight"]}
    name = where
    with pytest.raises(ValueError) as err:
        if call == "fit":
            model.fit(data["x"], data["y"], epochs=1, verbose=0, **kwargs)
        elif call == "train_on_batch":
            model.train_on_batch(data["x"], data["y"], **kwargs)
        elif call == "evaluate":
            model.evaluate(data["x"], data["y"], verbose=0, **kwargs)
        elif call == "generator":  # (checked on the host before its upload: no device read per batch)
            model.fit(iter([(data["x"], data["y"], data["sample_weight"])]), steps_per_epoch=1, verbose=0)
        else:
            name = "validation_data " + where
            model.fit(X, Y, epochs=1, verbose=0, validation_data=(data["x"], data["y"], data["sample_weight"]))
    assert str(err.value).startswith(f"{name} holds {kind} at row 13 (2 row(s) in all)")
    assert "GPUNET_CHECK_FINITE=0" in str(err.value)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_finite_check_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("GPUNET_CHECK_FINITE", "0")
    history = model_().fit(_with(X, 2, np.nan), Y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    assert np.isnan(history.history["loss"][0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # training on 3e38 overflows, as it should
def test_huge_finite_values_whose_sum_overflows_pass():
    x = np.full((20, 3), 3e38, "float32")
    model_().fit(x, Y, epochs=1, verbose=0)  # sum is inf, every value is finite: accepted


@pytest.mark.parametrize("label, message", [(np.nan, "row 5 holds nan"), (1.5, "row 5 holds 1.5"),
                                            (np.inf, r"values from 0.0 to inf \(y row 5 holds inf\)"),
                                            (-1, r"\[0, 2\].*y row 5 holds -1"), (3, r"\[0, 2\].*y row 5 holds 3")])
def test_sparse_labels_must_be_integers_in_range(ops, label, message, monkeypatch):
    monkeypatch.setenv("GPUNET_CHECK_FINITE", "0")  # checked whatever the finite check says
    y = np.arange(20) % 3
    y = _with(y.astype("float64" if isinstance(label, float) else "int64"), 5, label)
    model = model_("sparse_categorical_crossentropy", units=3)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y, epochs=1, verbose=0)
    model.fit(X, np.arange(20.0) % 3, epochs=1, verbose=0)  # integer-valued floats are labels too


@pytest.mark.parametrize("call", ["fit", "evaluate", "train_on_batch"])
def test_empty_data_is_refused(ops, call):
    model = model_()
    x, y = np.zeros((0, 3), "float32"), np.zeros((0, 2), "float32")
    with pytest.raises(ValueError, match=r"x is empty \(0 samples\)"):
        if call == "fit":
            model.fit(x, y, verbose=0)
        elif call == "evaluate":
            model.evaluate(x, y, verbose=0)
        else:
            model.train_on_batch(x, y)


@pytest.mark.parametrize("kwargs, message", [({"epochs": 1.5}, "epochs must be a non-negative integer, received 1.5"),
                                             ({"epochs": "3"}, "epochs must be .* received '3'"),
                                             ({"epochs": True}, "epochs must be"),
                                             ({"epochs": 2, "initial_epoch": -1}, "initial_epoch must be"),
                                             ({"batch_size": 2.5}, "batch_size must be a positive integer")])
def test_epochs_and_batch_size_must_be_integers(kwargs, message):
    with pytest.raises(ValueError, match=message):
        model_().fit(X, Y, verbose=0, **kwargs)
    history = model_().fit(X, Y, epochs=np.int64(2), batch_size=np.int32(8), verbose=0)
    assert len(history.history["loss"]) == 2


def test_the_backends_own_arrays_train_as_the_same_host_arrays_do(ops):
    """x, y and sample_weight already on the device (CuPy arrays on a GPU, which NumPy refuses to
    read) train, validate and weight classes exactly as the same NumPy arrays; a wrong
    sample_weight shape is still named."""
    sw = RNG.rand(20)

    def run(to):
        gpunet.utils.set_random_seed(3)
        model = model_()
        history = model.fit(to(X), to(Y), sample_weight=to(sw), class_weight={0: 1.0, 1: 3.0}, batch_size=8,
                            epochs=2, shuffle=False, verbose=0, validation_data=(to(X), to(Y), to(sw)))
        loss = model.train_on_batch(to(X[:8]), to(Y[:8]), sample_weight=to(sw[:8]), class_weight={0: 2.0, 1: 1.0})
        with pytest.raises(ValueError, match=r"sample_weight must have shape \(8,\), received \(7,\)"):
            model.train_on_batch(to(X[:8]), to(Y[:8]), sample_weight=to(sw[:7]))
        return history.history, loss, model.get_weights()

    host, device = run(np.asarray), run(ops.asarray)
    assert sorted(device[0]) == ["loss", "val_loss"]
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(device[0][key], host[0][key], rtol=1e-6)
    np.testing.assert_allclose(device[1], host[1], rtol=1e-6)
    for a, b in zip(device[2], host[2]):
        np.testing.assert_allclose(a, b, rtol=1e-6)
