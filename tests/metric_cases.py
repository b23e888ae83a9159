"""A Keras-style stateful metric shared by the tests (tests/test_metrics_user.py, and the data-parallel
ranks through tests/distribute_cases.py)."""
import gpunet
from gpunet.backend import keras_functions as K


class TotalAbsoluteError(gpunet.metrics.Metric):
    """Keras's documented pattern: state from add_weight, K functions in update_state (the mean
    absolute error; sample weights ignored)."""

    def __init__(self, name="total_abs_error", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_weight(name="total", initializer="zeros")
        self.count = self.add_weight(name="count", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total.assign_add(K.sum(K.abs(y_true - y_pred)))
        self.count.assign_add(float(y_true.shape[0]))

    def result(self):
        return self.total / self.count
