"""compile(metrics=...) count each sample once whatever its weight; compile(weighted_metrics=...)
take the sample weights and class weights; the loss takes them too. That is tf.keras 2.21's rule
and Keras 3's (both checked: a metric in both lists is logged as ``<name>`` and ``weighted_<name>``,
metrics first). Every training path: the NumPy fused plan (Dense layers only), the layer path (a
Lambda), a generator, and the GPU step plan with its kernels emulated on the CPU."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend.dense_plan import DensePlan
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import Dense
from gpunet.models import Sequential, load_model
from keras_support import keras_on_torch

RNG = numpy.random.RandomState(0)
X = RNG.rand(37, 4)  # 37: the last batch of 8 is short
Y = (RNG.rand(37, 1) > 0.5).astype("float64")
SW = RNG.rand(37) * 2
X_VAL, Y_VAL, SW_VAL = X[:23] + 0.25, Y[:23], RNG.rand(23) * 3
CLASS_WEIGHT = {0: 0.3, 1: 2.0}
W0 = [RNG.uniform(-1, 1, (4, 3)), RNG.uniform(-0.5, 0.5, 3), RNG.uniform(-1, 1, (3, 1)), numpy.array([0.25])]
PATHS = ["fused", "layer", "generator", "gpu-plan"]


def _layers(lib, path):
    inner = [lib.layers.Lambda(lambda t: t * 1.0)] if path == "layer" else []
    return [lib.layers.Dense(3, activation="relu")] + inner + [lib.layers.Dense(1, activation="sigmoid")]


def _model(path, ops, lr=0.0):
    """A float64 model whose predictions a learning rate of 0 keeps fixed: fit's History is then a
    function of ``predict`` alone."""
    B.set_floatx("float64")
    with B.use_backend(ops):
        net = Sequential([gpunet.layers.InputLayer(input_shape=(4,))] + _layers(gpunet, path))
        net.set_weights(W0)
        net.compile(optimizer=gpunet.optimizers.SGD(lr), loss="binary_crossentropy",
                    metrics=["accuracy", "mse", gpunet.metrics.AUC(name="auc")], weighted_metrics=["accuracy", "mse"])
    if path == "layer":  # (a Lambda alone trains on the graph step: test_op_layer_plans.py)
        net._train_plan = lambda: None
    return net


@pytest.fixture(params=PATHS)
def path(request):
    """(the path, the backend it runs on): the GPU plan on CupyBackend's code with emulated kernels."""
    if request.param == "gpu-plan":
        return request.param, EmulatedCupyBackend(request.getfixturevalue("emulator"))
    return request.param, B.resolve("numpy")


def _expected(net, ops, x, y, w, prefix=""):
    """The logs from the predictions: each sample counting 1, or its weight ``w`` for weighted_*."""
    with B.use_backend(ops):
        p = ops.to_host(net.predict(x, verbose=0))
    right, sq = ((p > 0.5) == y).ravel(), ((p - y) ** 2).ravel()
    auc = gpunet.metrics.AUC()
    auc.update_state(y, p)
    values = {"accuracy": right.mean(), "mse": sq.mean(), "auc": auc.result(),
              "weighted_accuracy": (right * w).sum() / w.sum(), "weighted_mse": (sq * w).sum() / w.sum()}
    return {prefix + k: v for k, v in values.items()}


def _check(logs, expected):
    for key, value in expected.items():
        assert numpy.isclose(logs[key], value, rtol=1e-12, atol=0), (key, logs[key], value)


def _batches(weights=None):
    """fit's batches of 8 from a generator: ``(x, y, sample_weight)``, or ``(x, y)`` without weights."""
    while True:
        for lo in range(0, 37, 8):
            yield (X[lo:lo + 8], Y[lo:lo + 8]) + (() if weights is None else (weights[lo:lo + 8],))


@pytest.mark.parametrize("batch_logs", [False, True], ids=["epoch-tally", "batch-logs"])
@pytest.mark.parametrize("weighting", ["sample_weight", "class_weight"])
def test_fit_history_weighs_only_weighted_metrics(path, weighting, batch_logs):
    """Tallied once per epoch, or batch by batch for a callback that reads every batch's logs."""
    path, ops = path
    seen = []
    kwargs = {"callbacks": [gpunet.callbacks.LambdaCallback(on_batch_end=lambda b, logs: seen.append(dict(logs)))]}
    net = _model(path, ops)
    by_sample = weighting == "sample_weight"
    w = SW if by_sample else numpy.where(Y.ravel() == 1, CLASS_WEIGHT[1], CLASS_WEIGHT[0])
    kwargs = kwargs if batch_logs else {}
    kwargs.update({"sample_weight": SW} if by_sample else {"class_weight": CLASS_WEIGHT})
    args = (X, Y)
    if path == "generator":
        args, kwargs = (_batches(SW if by_sample else None),), {"steps_per_epoch": 5, **kwargs}
        kwargs.pop("sample_weight", None)
    with B.use_backend(ops):
        history = net.fit(*args, batch_size=8, epochs=2, shuffle=False, verbose=0,
                          validation_data=(X_VAL, Y_VAL, SW_VAL), **kwargs).history
    # (a generator's batches on the CPU: the fused step too, tallied a run of batches at a time)
    expected_types = {"fused": DensePlan, "gpu-plan": GpuPlan, "generator": DensePlan}
    assert isinstance(net._plan, expected_types[path]) if path in expected_types else net._plan in (None, False)
    assert list(history) == ["loss", "accuracy", "mse", "auc", "weighted_accuracy", "weighted_mse",
                             "val_loss", "val_accuracy", "val_mse", "val_auc", "val_weighted_accuracy",
                             "val_weighted_mse"]
    logs = {k: v[-1] for k, v in history.items()}
    _check(logs, _expected(net, ops, X, Y, w))
    _check(logs, _expected(net, ops, X_VAL, Y_VAL, SW_VAL, "val_"))
    if batch_logs:  # the epoch's last batch logs the epoch's values
        assert len(seen) == 10 and seen[-1] == pytest.approx({k: logs[k] for k in seen[-1]}, rel=1e-12)
    assert logs["accuracy"] != logs["weighted_accuracy"] and logs["mse"] != logs["weighted_mse"]


def test_evaluate_and_on_batch_weigh_only_weighted_metrics(path):
    path, ops = path
    net = _model(path, ops)
    cw = numpy.where(Y.ravel() == 1, CLASS_WEIGHT[1], CLASS_WEIGHT[0])
    with B.use_backend(ops):
        if path == "generator":
            evaluated = net.evaluate(_batches(SW), steps=5, verbose=0, return_dict=True)
        else:
            evaluated = net.evaluate(X, Y, sample_weight=SW, batch_size=8, verbose=0, return_dict=True)
        unweighted = net.evaluate(X, Y, batch_size=8, verbose=0, return_dict=True)
        tested = net.test_on_batch(X, Y, sample_weight=SW, return_dict=True)
        trained = net.train_on_batch(X, Y, sample_weight=SW, return_dict=True)
        class_trained = net.train_on_batch(X, Y, class_weight=CLASS_WEIGHT, return_dict=True)
    for logs in (evaluated, tested, trained):
        _check(logs, _expected(net, ops, X, Y, SW))
    _check(unweighted, _expected(net, ops, X, Y, numpy.ones(37)))
    _check(class_trained, _expected(net, ops, X, Y, cw))


@pytest.mark.parametrize("metrics, weighted, names", [
    (["accuracy", "mse"], ["accuracy", "mae"], ["loss", "accuracy", "mse", "weighted_accuracy", "mae"]),
    (["acc"], ["accuracy"], ["loss", "acc", "accuracy"]),  # other names: no prefix (tf.keras 2.21)
    (None, ["accuracy"], ["loss", "accuracy"]),
    (["mse"], ["mean_squared_error"], ["loss", "mse", "mean_squared_error"]),
])
def test_weighted_metric_names(metrics, weighted, names):
    net = Sequential([Dense(1, input_dim=4, activation="sigmoid")])
    net.compile("sgd", "binary_crossentropy", metrics=metrics, weighted_metrics=weighted)
    assert net.metrics_names == names
    assert list(net.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)) == names


def test_a_weighted_metric_object_is_renamed_and_duplicates_are_refused():
    net = Sequential([Dense(1, input_dim=4, activation="sigmoid")])
    precision = gpunet.metrics.Precision(name="p")
    net.compile("sgd", "binary_crossentropy", metrics=[gpunet.metrics.Precision(name="p")],
                weighted_metrics=[precision])
    assert precision.name == "weighted_p" and net.metrics_names == ["loss", "p", "weighted_p"]
    # tf.keras 2.21: "Found two weighted metrics with the same name: weighted_accuracy" / "two metrics"
    for metrics, weighted in ((["accuracy"], ["accuracy", "accuracy"]), (["accuracy", "accuracy"], None)):
        with pytest.raises(ValueError, match="Metric names must be unique"):
            net.compile("sgd", "binary_crossentropy", metrics=metrics, weighted_metrics=weighted)
    with pytest.raises(ValueError, match="cannot be in both metrics and weighted_metrics"):
        net.compile("sgd", "binary_crossentropy", metrics=[precision], weighted_metrics=[precision])


@pytest.mark.parametrize("ext", ["h5", "keras"])
def test_saved_model_keeps_which_metrics_are_weighted(tmp_path, ext):
    ops = B.resolve("numpy")
    net = _model("fused", ops)
    before = net.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    net.save(tmp_path / f"m.{ext}")
    loaded = load_model(tmp_path / f"m.{ext}")
    assert loaded.metrics_names == net.metrics_names
    after = loaded.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)
    assert after == pytest.approx(before, rel=1e-12)


@pytest.fixture(scope="module")
def keras():
    return keras_on_torch()


@pytest.mark.parametrize("path", ["fused", "layer"])
def test_training_matches_keras_3(keras, path):
    """Trained (learning rate 0.125): History, evaluate and the on_batch calls as Keras 3's (and as
    tf_keras 2.21's: the same run there agreed with gpunet to a relative 1e-8)."""
    results = []
    old = keras.backend.floatx()
    # Keras keeps the dtype policy of its first model whatever floatx says later: a fresh session
    # takes float64 here, and leaves the next test to take its own
    keras.utils.clear_session()
    keras.backend.set_floatx("float64")
    try:
        for lib in (keras, gpunet):
            if lib is gpunet:
                net = _model(path, B.resolve("numpy"), 0.125)
            else:
                net = keras.Sequential([keras.Input((4,))] + _layers(keras, path))
                net.set_weights(W0)
                net.compile(optimizer=keras.optimizers.SGD(0.125), loss="binary_crossentropy",
                            metrics=["accuracy", "mse", keras.metrics.AUC(name="auc")],
                            weighted_metrics=["accuracy", "mse"])
            history = net.fit(X, Y, sample_weight=SW, batch_size=8, epochs=2, shuffle=False, verbose=0,
                              validation_data=(X_VAL, Y_VAL, SW_VAL)).history
            history.update({"cw_" + k: v for k, v in net.fit(X, Y, class_weight=CLASS_WEIGHT, batch_size=8,
                                                              shuffle=False, verbose=0).history.items()})
            for name, logs in (("eval", net.evaluate(X, Y, sample_weight=SW, verbose=0, return_dict=True)),
                               ("train", net.train_on_batch(X, Y, sample_weight=SW, return_dict=True)),
                               ("test", net.test_on_batch(X, Y, sample_weight=SW, return_dict=True))):
                history.update({f"{name}_{k}": [float(v)] for k, v in logs.items()})
            results.append(history)
    finally:
        keras.backend.set_floatx(old)
        keras.utils.clear_session()
    ref, got = results
    assert sorted(got) == sorted(ref)
    for key in ref:
        # (rtol: Keras keeps its metrics' states in float32)
        numpy.testing.assert_allclose(got[key], ref[key], rtol=1e-6, err_msg=key)
