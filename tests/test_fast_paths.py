"""The fused training step of Dense stacks (gpunet/backend/dense_plan.py) and what it relies
on: it trains as the layer-by-layer path does, its fused sigmoid + binary cross-entropy
gradient is the exact derivative of the loss, and the losses and metrics it reports once
per epoch equal those reported batch by batch.

dense_plan.py is the NumPy backend's step, so these tests select the NumPy backend (the
default "auto" picks CuPy on a GPU machine); the tests that take ``ops`` hold for the
training paths of every backend and run on each."""
import warnings

import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import constraints, losses, metrics, regularizers
from gpunet.callbacks import Callback
from gpunet.layers import Activation, BatchNormalization, Dense, Dropout
from gpunet.models import Sequential, load_model
from gpunet.backend.dense_plan import DensePlan, build_plan
from gpunet.testing import numeric_gradient

RNG = np.random.default_rng(0)
X = RNG.standard_normal((53, 5))


@pytest.fixture
def numpy_backend():
    with B.use_backend("numpy") as backend:
        yield backend


pytestmark = pytest.mark.usefixtures("numpy_backend")


def _targets(loss, units, n=53, seed=1):
    rng = np.random.default_rng(seed)
    if loss == "binary_crossentropy":
        return (rng.random((n, units)) > 0.5).astype("float64")
    if loss == "sparse_categorical_crossentropy":
        return rng.integers(0, units, n)
    if loss == "categorical_crossentropy":
        return np.eye(units)[rng.integers(0, units, n)]
    return rng.standard_normal((n, units))


def _model(acts, units, loss, seed=7, reg=None, con=None, metric_names=("accuracy",), optimizer="adam"):
    gpunet.utils.set_random_seed(seed)
    layers = [Dense(u, activation=a, kernel_regularizer=reg, bias_constraint=con, **({"input_dim": 5} if i == 0 else {}))
              for i, (u, a) in enumerate(zip(units, acts))]
    model = Sequential(layers)
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metric_names))
    return model


def _layer_path(model):
    model._train_plan = lambda: None  # what fit and train_on_batch do for models the plan does not cover
    return model


class _WantsBatches(Callback):
    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append(dict(logs))


CASES = [
    (("relu", "relu", "sigmoid"), (7, 4, 1), "binary_crossentropy"),
    (("tanh", "sigmoid"), (6, 3), "binary_crossentropy"),
    (("relu", "softmax"), (6, 3), "categorical_crossentropy"),
    (("elu", "softmax"), (6, 3), "sparse_categorical_crossentropy"),
    (("relu", "linear"), (6, 2), "mse"),
    (("sigmoid",), (1,), "binary_crossentropy"),
    (("linear", "relu", "linear"), (4, 4, 2), "mae"),
]


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "weights-reg-constraint"])
@pytest.mark.parametrize("acts, units, loss", CASES, ids=["-".join(a) + "-" + loss for a, _, loss in CASES])
def test_plan_trains_as_the_layer_path(acts, units, loss, weighted):
    B.set_floatx("float64")
    y = _targets(loss, units[-1])
    sw = np.random.default_rng(2).random(53) if weighted else None
    extra = {"reg": regularizers.l2(0.01), "con": constraints.MaxNorm(0.5)} if weighted else {}
    names = ("accuracy",) if loss.startswith("sparse") else ("accuracy", "mse")
    runs = []
    for fused in (True, False):
        model = _model(acts, units, loss, metric_names=names, **extra)
        if not fused:
            _layer_path(model)
        history = model.fit(X, y, epochs=3, batch_size=8, sample_weight=sw, verbose=0).history
        runs.append((history, model.get_weights()))
    assert build_plan(_model(acts, units, loss)) is not None
    (h1, w1), (h2, w2) = runs
    assert h1.keys() == h2.keys()
    for key in h1:  # the folded bias sums in another order: float64 rounding only
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-12, err_msg=key)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("weighted", [False, True])
def test_batch_logs_or_not_give_identical_history_and_weights(ops, weighted):
    x = np.random.default_rng(3).standard_normal((77, 5)).astype("float32")
    y = (x[:, :2].sum(1) > 0).astype("float32")
    sw = np.random.default_rng(4).random(77) if weighted else None
    runs = []
    for callbacks in ([], [_WantsBatches()]):
        model = _model(("relu", "relu", "sigmoid"), (6, 4, 1), "binary_crossentropy", reg=regularizers.l2(1e-3),
                       metric_names=("accuracy", "mse"))
        history = model.fit(x, y, epochs=3, batch_size=10, sample_weight=sw, callbacks=callbacks, verbose=0)
        runs.append((history.history, model.get_weights(), callbacks))
    (h1, w1, _), (h2, w2, cbs) = runs
    assert h1 == h2
    assert all(np.array_equal(a, b) for a, b in zip(w1, w2))
    batch_logs = cbs[0].logs
    assert len(batch_logs) == 3 * 8 and batch_logs[7]["loss"] == h2["loss"][0]


def test_batch_losses_equal_compute_per_batch():
    rng = np.random.default_rng(5)
    ops = B.get_backend()
    cases = [(losses.BinaryCrossentropy(), "binary_crossentropy", 1), (losses.MeanSquaredError(), "mse", 3),
             (losses.CategoricalCrossentropy(reduction="sum"), "categorical_crossentropy", 4),
             (losses.SparseCategoricalCrossentropy(), "sparse_categorical_crossentropy", 4),
             (losses.BinaryCrossentropy(reduction="mean_with_sample_weight"), "binary_crossentropy", 2)]
    for loss, kind, units in cases:
        y = ops.asarray(_targets(kind, units, n=47), dtype="int64" if kind.startswith("sparse") else "float32")
        p = ops.asarray(rng.random((47, units)) + 0.01, dtype="float32")
        for sw in (None, ops.asarray(rng.random(47), dtype="float32")):
            got = loss.batch_losses(ops, y, p, sw, 10)
            want = [float(loss.compute(ops, y[lo:lo + 10], p[lo:lo + 10], None if sw is None else sw[lo:lo + 10])[0])
                    for lo in range(0, 47, 10)]
            assert got == want, (loss, sw is None)
    assert losses.BinaryCrossentropy().batch_losses(ops, y[:0], p[:0], None, 10) == []
    # The hinge losses read 0/1 labels as -1/1 only in a batch whose every label is 0 or 1 (Keras):
    # batch_losses converts batch by batch, as compute on each batch alone does.
    y = _mixed_hinge_labels(ops, 47, 2)
    p = ops.asarray(rng.standard_normal((47, 2)), dtype="float32")
    for loss in (losses.Hinge(), losses.SquaredHinge()):
        for sw in (None, ops.asarray(rng.random(47), dtype="float32")):
            got = loss.batch_losses(ops, y, p, sw, 10)
            want = [float(loss.compute(ops, y[lo:lo + 10], p[lo:lo + 10], None if sw is None else sw[lo:lo + 10])[0])
                    for lo in range(0, 47, 10)]
            assert got == want, (loss, sw is None)


def _mixed_hinge_labels(ops, n, units):
    """0/1 labels, but the third batch of 10 holds a soft label (0.5): Keras converts every batch but that one."""
    y = (np.random.default_rng(8).random((n, units)) > 0.5).astype("float32")
    y[25, 0] = 0.5
    return ops.asarray(y)


def test_update_batches_equals_update_per_batch(ops):
    rng = np.random.default_rng(6)
    y = ops.asarray((rng.random((47, 1)) > 0.5), dtype="float32")
    p = ops.asarray(rng.random((47, 1)), dtype="float32")
    sw = ops.asarray(rng.random(47), dtype="float32")

    def user_fn(y_true, y_pred):  # may use the whole batch: updated batch by batch, never in one call
        return (y_pred - y_true.mean()) ** 2

    hinge_y = _mixed_hinge_labels(ops, 47, 1)
    for make in (lambda: metrics.get("accuracy", losses.get("binary_crossentropy")), lambda: metrics.get("mse"),
                 lambda: metrics.MeanMetricWrapper(user_fn), lambda: metrics.get("hinge"),
                 lambda: metrics.SquaredHinge()):
        labels = hinge_y if "hinge" in make().name else y
        for w in (None, sw):
            one, each = make(), make()
            one.update_batches(ops, labels, p, w, 10)
            for lo in range(0, 47, 10):
                each.update(ops, labels[lo:lo + 10], p[lo:lo + 10], None if w is None else w[lo:lo + 10])
            assert one.result() == each.result()


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_hinge_losses_on_the_plan_report_what_the_layer_path_reports(loss):
    """The plan tallies an epoch's loss and metrics at once; with labels that Keras converts in some
    batches and not in others, its history and evaluate still equal the layer path's."""
    ops = B.get_backend()
    x = np.random.default_rng(3).standard_normal((47, 5)).astype("float32")
    y = ops.to_host(_mixed_hinge_labels(ops, 47, 1))
    results = []
    for layer_path in (False, True):
        model = _model(("tanh", "tanh"), (6, 1), loss, metric_names=("hinge", "squared_hinge"))
        if layer_path:
            _layer_path(model)
        history = model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0).history
        assert isinstance(model._plan, DensePlan) != layer_path
        results.append((history, model.evaluate(x, y, batch_size=10, verbose=0)))
    (plan, plan_eval), (layers, layer_eval) = results
    for key in layers:  # (the plan's tanh rounds a little differently: float32 outputs)
        assert plan[key] == pytest.approx(layers[key], rel=1e-6), key
    assert plan_eval == pytest.approx(layer_eval, rel=1e-6)
    whole = _model(("tanh", "tanh"), (6, 1), loss).evaluate(x, y, batch_size=47, verbose=0)
    parts = _model(("tanh", "tanh"), (6, 1), loss).evaluate(x, y, batch_size=10, verbose=0)
    assert whole != pytest.approx(parts, rel=1e-3), "the soft label's batch is read differently"


class CenteredMSE(losses.Loss):
    """A Keras-style loss whose per-sample values depend on the rest of the batch (its mean label)."""

    def call(self, y_true, y_pred):
        return gpunet.ops.mean(gpunet.ops.square(y_pred - gpunet.ops.mean(y_true, axis=0)), axis=-1)


def _plan_and_layer_path(make_model, x, y, fits=1, between=None, **fit_kw):
    """(history per fit, weights, evaluate, the plan) on NumPy's plan and on the layer path, from one seed."""
    runs = []
    for layer_path in (False, True):
        gpunet.utils.set_random_seed(4)
        model = make_model()
        if layer_path:
            _layer_path(model)
        histories = []
        for i in range(fits):
            histories.append(model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0, **fit_kw).history)
            if between is not None and i < fits - 1:
                between(model)
        runs.append((histories, model.get_weights(), model.evaluate(x, y, batch_size=10, verbose=0), model._plan))
    return runs


def _assert_same_run(runs, rtol=1e-12):
    (h, w, e, _), (h_ref, w_ref, e_ref, _) = runs
    for got, ref in zip(h, h_ref):
        for key in ref:
            np.testing.assert_allclose(got[key], ref[key], rtol=rtol, err_msg=key)
    for g, r in zip(w, w_ref):
        np.testing.assert_allclose(g, r, rtol=rtol, atol=1e-14)
    np.testing.assert_allclose(e, e_ref, rtol=rtol)


def test_the_plan_reports_a_batch_dependent_loss_subclass_batch_by_batch(f64):
    """A Loss subclass's call may mix a batch's samples: the epoch's tally runs it per batch."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 4)), rng.standard_normal((30, 1))

    def make():
        model = Sequential([Dense(3, input_dim=4, activation="tanh"), Dense(1)])
        model.compile(loss=CenteredMSE(), optimizer="sgd")
        return model
    runs = _plan_and_layer_path(make, x, y)
    assert isinstance(runs[0][3], DensePlan)
    _assert_same_run(runs)


@pytest.mark.parametrize("where", ["dropout", "flatten"])
def test_an_activity_regularizer_on_any_layer_keeps_the_layer_path(f64, where):
    """Its penalty and gradient are the layer path's: no plan takes the model, whatever the layer."""
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((30, 4)), (rng.random((30, 1)) > 0.5) * 1.0

    def make():
        first = Dropout(0.0, input_shape=(4,)) if where == "dropout" else gpunet.layers.Flatten(input_shape=(4,))
        first.activity_regularizer = regularizers.l2(0.5)
        model = Sequential([first, Dense(3, activation="tanh"), Dense(1, activation="sigmoid")])
        model.compile(loss="binary_crossentropy", optimizer="adam")
        return model
    runs = _plan_and_layer_path(make, x, y)
    assert runs[0][3] is False, "no plan"
    _assert_same_run(runs)


@pytest.mark.parametrize("layer", ["dropout", "batch-norm", "flatten"])
def test_a_model_without_a_dense_layer_trains_on_the_layer_path(f64, layer):
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((20, 4)), rng.random((20, 4))
    make_layer = {"dropout": lambda: Dropout(0.5, input_shape=(4,)),
                  "batch-norm": lambda: BatchNormalization(input_shape=(4,)),
                  "flatten": lambda: gpunet.layers.Flatten(input_shape=(4,))}[layer]

    def make():
        model = Sequential([make_layer()])
        model.compile(loss="mse", optimizer="sgd")
        return model
    runs = _plan_and_layer_path(make, x, y)
    assert runs[0][3] is False
    _assert_same_run(runs)


@pytest.mark.parametrize("setting, value", [("label_smoothing", 0.3), ("reduction", "sum"), ("from_logits", True)])
def test_a_loss_changed_in_place_between_fits_rebuilds_the_plan(f64, setting, value):
    """The plan bakes its loss's settings in (the fused sigmoid step, the gradient's scale): a loss
    changed in place is a new plan, trained as the layer path trains it."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((30, 4)), (rng.random((30, 1)) > 0.5) * 1.0

    def make():
        model = Sequential([Dense(3, input_dim=4, activation="tanh"), Dense(1, activation="sigmoid")])
        model.compile(loss=losses.BinaryCrossentropy(), optimizer="adam", metrics=["accuracy"])
        return model
    runs = _plan_and_layer_path(make, x, y, fits=2, between=lambda m: setattr(m._loss_fn, setting, value))
    assert isinstance(runs[0][3], DensePlan)
    _assert_same_run(runs, rtol=1e-9)  # (the fused sigmoid step rounds a little differently)


def test_nan_spreads_through_the_plan_as_through_the_layer_path(f64, monkeypatch):
    """A NaN label (the finite check off) reaches the same weights on both paths: relu's gradient is
    da * (z > 0), which keeps the NaN of da where z <= 0 too (a mask that zeroes would drop it)."""
    monkeypatch.setenv("GPUNET_CHECK_FINITE", "0")
    x, y = np.random.default_rng(0).standard_normal((20, 4)), np.random.default_rng(1).standard_normal((20, 1))
    y[3, 0] = np.nan
    weights = []
    for layer_path in (False, True):
        gpunet.utils.set_random_seed(1)
        model = Sequential([Dense(5, input_dim=4, activation="relu"), Dense(1)])
        model.compile(loss="mse", optimizer="sgd")
        if layer_path:
            _layer_path(model)
        model.fit(x, y, batch_size=20, epochs=1, shuffle=False, verbose=0)  # one step
        assert isinstance(model._plan, DensePlan) != layer_path
        weights.append(model.get_weights())
    for got, ref in zip(*weights):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    assert np.isnan(weights[0][0]).all(), "every first-layer weight: the NaN row of da reaches every column"


def test_batch_sums_equal_each_batch_summed_alone():
    ops = B.get_backend()
    x = np.random.default_rng(7).standard_normal((103, 3)).astype("float32") * 100
    sums = ops.batch_sums(x, 16)
    assert sums.shape == (7,)
    for i, lo in enumerate(range(0, 103, 16)):
        assert sums[i] == ops.sum(x[lo:lo + 16])
    assert ops.batch_sums(x[:0], 16).shape == (0,)


def _batch(model, x, y):
    return model.ops.asarray(x, dtype=model._params.dtype), model.ops.asarray(y, dtype=model._params.dtype)


def _saturating_batch(model, n=12, seed=8):
    """Inputs and labels for ``model`` where some outputs saturate (p clipped by the loss),
    labelled right and wrong: where wrong, only the clip keeps the gradient at 0."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        x = rng.standard_normal((n, 5))
        x[:6] *= 1000.0
        p = model.predict(x, verbose=0)
        saturated = np.flatnonzero((p[:, 0] < 1e-7) | (p[:, 0] > 1 - 1e-7))
        if len(saturated) >= 4:
            break
    y = (rng.random((n, 1)) > 0.5).astype("float64")
    y[saturated] = np.round(p[saturated])
    y[saturated[::2]] = 1.0 - y[saturated[::2]]  # confidently wrong
    return x, y


@pytest.mark.parametrize("floatx, tol", [("float32", 1e-6), ("float64", 1e-12)])
def test_fused_sigmoid_crossentropy_gradient_equals_the_layer_path(floatx, tol):
    B.set_floatx(floatx)
    x, y = _saturating_batch(_model(("relu", "elu", "sigmoid"), (6, 4, 1), "binary_crossentropy"))
    grads = []
    for fused in (True, False):
        model = _model(("relu", "elu", "sigmoid"), (6, 4, 1), "binary_crossentropy")
        xs, ys = _batch(model, x, y)
        plan = model._train_plan() if fused else None
        if fused:
            assert plan.fused
            plan.load(xs, ys, None)
            plan.step(0, len(x))
            outputs = plan.outputs.copy()
        else:
            model._train_batch(xs, ys, None)
        grads.append(model.ops.to_host(model._grads).copy())
    assert ((outputs < 1e-7) | (outputs > 1 - 1e-7)).any()  # the clip is active somewhere
    np.testing.assert_allclose(grads[0], grads[1], rtol=tol, atol=tol)


def test_fused_gradient_is_the_exact_derivative_of_the_loss():
    B.set_floatx("float64")
    model = _model(("relu", "relu", "sigmoid"), (6, 4, 1), "binary_crossentropy")
    x, y = _saturating_batch(model)
    sw = np.random.default_rng(9).random(len(x))
    ops = model.ops
    xs, ys = _batch(model, x, y)
    sws = ops.asarray(sw)
    params = model._params

    def loss_of():
        return float(model._loss_fn.compute(ops, ys, model._forward(xs, True)[0], sws)[0])

    numeric = numeric_gradient(loss_of, params)
    plan = model._train_plan()
    plan.load(xs, ys, sws)
    plan.step(0, len(x))  # the gradient lands in _grads before the optimizer moves params
    assert ((plan.outputs < 1e-7) | (plan.outputs > 1 - 1e-7)).any()
    np.testing.assert_allclose(ops.to_host(model._grads), numeric, rtol=1e-6, atol=1e-9)


def test_fit_and_train_on_batch_agree_bit_for_bit(ops):
    x, y = _saturating_batch(_model(("relu", "relu", "sigmoid"), (6, 4, 1), "binary_crossentropy"), 40)
    runs = []
    for by_batch in (False, True):
        model = _model(("relu", "relu", "sigmoid"), (6, 4, 1), "binary_crossentropy", reg=regularizers.l1(1e-3))
        if by_batch:
            logs = [model.train_on_batch(x[lo:lo + 8], y[lo:lo + 8], return_dict=True) for lo in range(0, 40, 8)]
            assert set(logs[-1]) == {"loss", "accuracy"}
        else:
            model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        runs.append(model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*runs))


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_resuming_through_the_plan_is_bit_identical(tmp_path, ext):
    x = np.random.default_rng(10).standard_normal((64, 5)).astype("float32")
    y = (x[:, 0] > x[:, 1]).astype("float32")

    def make():
        return _model(("relu", "relu", "sigmoid"), (6, 4, 1), "binary_crossentropy", reg=regularizers.l2(1e-3))

    straight = make()
    straight.fit(x, y, epochs=4, batch_size=10, verbose=0)
    first = make()
    first.fit(x, y, epochs=2, batch_size=10, verbose=0)
    assert first._plan
    first.save(tmp_path / ("m" + ext))
    gpunet.utils.set_random_seed(999)  # the file's generator state wins
    resumed = load_model(tmp_path / ("m" + ext))
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=10, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(straight.get_weights(), resumed.get_weights()))


def test_models_the_plan_does_not_cover_train_layer_by_layer():
    def compiled(*layers, loss="binary_crossentropy"):
        model = Sequential(list(layers))
        model.compile(optimizer="adam", loss=loss)
        return model

    assert build_plan(compiled(Dense(3, input_dim=4), Dense(1, activation="sigmoid"))) is not None
    assert build_plan(compiled(Dense(3, input_dim=4), Dropout(0.5), Dense(1))) is not None  # (test_plan_layer_stack)
    assert build_plan(compiled(Dropout(0.5, input_shape=(4,)), Dense(3), Dense(1))) is not None  # (its own test)
    assert build_plan(compiled(Dense(3, input_dim=4), BatchNormalization(), Dense(1))) is not None  # (test_plan_norms)
    assert build_plan(compiled(Dense(3, input_dim=4), BatchNormalization(trainable=False), Dense(1))) is None
    assert build_plan(compiled(Dense(3, input_dim=4), Dropout(0.2), BatchNormalization(), Dense(1))) is None
    assert build_plan(compiled(BatchNormalization(input_shape=(4,)), Dense(3), Dense(1))) is None
    assert build_plan(compiled(Dense(3, input_dim=4), Dense(1), BatchNormalization())) is None
    assert build_plan(compiled(Dense(3, input_dim=4, use_bias=False), Dense(1))) is None
    assert build_plan(compiled(Dense(3, input_dim=4, activity_regularizer="l2"), Dense(1))) is not None
    assert build_plan(compiled(Dense(3, input_dim=4), Dropout(0.5, activity_regularizer="l2"), Dense(1))) is None
    assert build_plan(compiled(Dense(3, input_dim=4, activity_regularizer="l2"), Activation("relu"), Dense(1))) is None
    assert build_plan(compiled(Dense(3, input_shape=(2, 4)), Dense(1), loss="mse")) is None
    frozen = Dense(3, input_dim=4)
    frozen.trainable = False
    assert build_plan(compiled(frozen, Dense(1))) is None
    B.set_floatx("float16")
    assert build_plan(compiled(Dense(3, input_dim=4), Dense(1))) is None


def test_plan_follows_changes_to_the_model():
    model = _model(("relu", "sigmoid"), (4, 1), "binary_crossentropy")
    x, y = _saturating_batch(model, 30)
    model.fit(x, y, epochs=1, verbose=0)
    first = model._plan
    model.layers[0].activation = gpunet.activations.get("tanh")
    model.fit(x, y, epochs=1, verbose=0)
    assert model._plan is not first and model._plan.layers[0].act == "tanh"
    second = model._plan
    model.layers[0].activity_regularizer = regularizers.l2(0.1)  # (the plan adds its penalty: test_plan_activity)
    model.fit(x, y, epochs=1, verbose=0)
    assert model._plan is not second and model._plan.activity[0] is model.layers[0].activity_regularizer
    model.layers[0].activation = gpunet.activations.get(lambda t: t * 2.0)  # (a user's activation: the tape's)
    model.fit(x, y, epochs=1, verbose=0)
    assert model._train_plan() is None
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    assert model._plan is None


def test_saturated_outputs_train_without_warnings(ops):
    model = _model(("relu", "sigmoid"), (4, 1), "binary_crossentropy")
    x, y = _saturating_batch(model, 20)
    model.set_weights([w * 1e4 for w in model.get_weights()])  # logits far beyond exp's range
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = model.fit(x, y, epochs=2, batch_size=5, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(np.isfinite(w).all() for w in model.get_weights())
