"""A user's Keras-style Metric subclass (add_weight, update_state, result): updated by the
training loop batch by batch, reset every epoch, reported in History and evaluate, on every
backend and through every training path (layer path, NumPy plan, the emulated GPU plan)."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend import keras_functions as K
from gpunet.layers import Dense
from gpunet.models import Sequential
from metric_cases import TotalAbsoluteError


def _run(ops, layer_path=False):
    rng = numpy.random.default_rng(0)
    x, y = rng.standard_normal((90, 4)), rng.standard_normal((90, 1))
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(1)
        net = Sequential([Dense(6, input_dim=4, activation="tanh"), Dense(1)])
        net.compile(optimizer=gpunet.optimizers.SGD(0.05), loss="mse",
                    metrics=["mae", TotalAbsoluteError()])
        if layer_path:
            net._train_plan = lambda: None
        history = net.fit(x, y, batch_size=16, epochs=3, verbose=0).history
        logs = net.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    return net, history, logs


@pytest.mark.parametrize("path", ["numpy-plan", "layer-path", "emulated-gpu-plan"])
def test_a_keras_style_metric_reports_per_epoch_like_the_builtin(emulator, path):
    B.set_floatx("float64")
    ops = EmulatedCupyBackend(emulator) if path == "emulated-gpu-plan" else B.resolve("numpy")
    net, history, logs = _run(ops, path == "layer-path")
    assert bool(getattr(net, "_plan", None)) == (path != "layer-path")
    # the mean absolute error over each epoch's batches, as the built-in metric computes it
    numpy.testing.assert_allclose(history["total_abs_error"], history["mae"], rtol=1e-12)
    assert len(set(history["total_abs_error"])) == 3, "reset at every epoch"
    assert logs["total_abs_error"] == pytest.approx(logs["mae"], rel=1e-12)
    assert isinstance(history["total_abs_error"][0], float)


def test_a_metric_without_update_state_says_what_it_needs():
    class Incomplete(gpunet.metrics.Metric):
        def result(self):
            return 0.0

    net = Sequential([Dense(1, input_dim=2)])
    net.compile(optimizer="sgd", loss="mse", metrics=[Incomplete()])
    with pytest.raises(NotImplementedError, match=r"Incomplete must define update_state\(y_true, y_pred, "):
        net.fit(numpy.zeros((4, 2)), numpy.zeros((4, 1)), verbose=0)


def test_state_variables_update_in_place_and_reset():
    m = TotalAbsoluteError()
    m.update_state(numpy.array([[1.0], [2.0]]), numpy.array([[0.0], [0.0]]))
    assert float(m.result()) == 1.5 and m.total.numpy() == 3.0
    m.total.assign_sub(1.0)
    assert float(m.total) == 2.0
    m.reset_state()
    assert float(m.total) == 0.0 and float(m.count) == 0.0


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_a_saved_model_with_the_metric_loads_with_custom_objects(tmp_path, ext):
    B.set_floatx("float64")
    net, _, logs = _run(B.resolve("numpy"))
    path = str(tmp_path / f"m{ext}")
    net.save(path)
    loaded = gpunet.models.load_model(path, custom_objects={"TotalAbsoluteError": TotalAbsoluteError})
    rng = numpy.random.default_rng(0)
    x, y = rng.standard_normal((90, 4)), rng.standard_normal((90, 1))
    again = loaded.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert again == pytest.approx(logs, rel=1e-12)
    from gpunet.saving.errors import UnknownObjectError
    with pytest.raises(UnknownObjectError, match="uses the metric 'TotalAbsoluteError'"):
        gpunet.models.load_model(path)


def test_a_function_returning_one_value_per_batch_weighs_it_by_the_batch_weight(ops):
    """A metric function that returns a single value for the batch (no per-sample axis): with sample
    weights, Keras's Mean adds value * sum(w) and counts sum(w); gpunet counted 0 (a result of inf/0)."""
    def batch_mse(y_true, y_pred):
        return K.mean(K.square(y_pred - y_true))

    metric = gpunet.metrics.MeanMetricWrapper(batch_mse)
    rng = numpy.random.default_rng(0)
    batches = [(rng.random((4, 1)), rng.random((4, 1)), rng.random(4)) for _ in range(3)]
    with B.use_backend(ops):
        for y, p, w in batches:
            metric.update_state(y, p, sample_weight=w)
    values = [numpy.mean((p - y) ** 2) for y, p, _ in batches]
    weights = [w.sum() for _, _, w in batches]
    assert metric.result() == pytest.approx(numpy.dot(values, weights) / sum(weights), rel=1e-5)
