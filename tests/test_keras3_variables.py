"""Keras 3's way of making variables in layers and metrics of your own: ``add_variable(shape, initializer, ...)``,
``add_weight`` with a shape first (Keras 3's positional order; tf.keras 2's has the name first) and a metric's
``variables``. The Keras 3 guide's ``CategoricalTruePositives`` ("Training & evaluation with the built-in
methods") runs as written."""
import numpy
import pytest

import gpunet
from gpunet import ops
from gpunet.layers import Dense, Input, Layer
from gpunet.models import Model


class Scale(Layer):
    def build(self, input_shape):
        self.w = self.add_variable((input_shape[-1],), "ones", name="w")
        self.count = self.add_variable(shape=(), initializer="zeros", trainable=False)
        self.bias = self.add_weight((input_shape[-1],), "zeros")  # (Keras 3's positional order)
        self.extra = self.add_weight("extra", (2,), None, "ones")  # (tf.keras 2's: name, shape, dtype, initializer)

    def call(self, x):
        return x * self.w + self.bias


def test_layer_add_variable_and_both_positional_orders_of_add_weight():
    layer = Scale()
    layer.build((None, 3))
    assert [(w.name, w.shape, w.trainable) for w in layer.weights] == [
        ("w", (3,), True), ("variable_1", (3,), True), ("extra", (2,), True), ("variable", (), False)]
    numpy.testing.assert_array_equal(layer.w.numpy(), numpy.ones(3))
    numpy.testing.assert_array_equal(layer.extra.numpy(), numpy.ones(2))
    numpy.testing.assert_array_equal(layer.bias.numpy(), numpy.zeros(3))


def test_add_weight_refuses_too_many_or_repeated_arguments_by_name():
    layer = Layer(name="plain")
    with pytest.raises(TypeError, match=r"Layer.add_weight got multiple values for argument 'shape'"):
        layer.add_weight("w", (2,), shape=(3,))
    with pytest.raises(TypeError, match=r"add_weight takes at most 7 positional arguments \(shape, initializer, "):
        layer.add_weight((2,), "zeros", None, True, True, None, None, "extra")


def test_a_variable_of_add_variable_trains_with_the_model():
    i = Input((3,))
    model = Model(i, Dense(1)(Scale()(i)))
    model.compile(optimizer=gpunet.optimizers.SGD(0.1), loss="mse")
    x = numpy.random.default_rng(0).standard_normal((16, 3)).astype("float32")
    model.fit(x, x.sum(1, keepdims=True) * 3, epochs=2, verbose=0)
    scale = model.layers[1]
    assert not numpy.allclose(scale.w.numpy(), 1.0) and numpy.all(scale.count.numpy() == 0)


class CategoricalTruePositives(gpunet.metrics.Metric):
    """The Keras 3 guide's, as written there."""

    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
        values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
        values = ops.cast(values, "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            values = ops.multiply(values, sample_weight)
        self.true_positives.assign_add(ops.sum(values))

    def result(self):
        return self.true_positives

    def reset_state(self):
        self.true_positives.assign(0.0)


def test_the_keras3_guides_metric_counts_in_fit_and_evaluate():
    rng = numpy.random.default_rng(1)
    x, y = rng.standard_normal((50, 4)).astype("float32"), rng.integers(0, 3, 50)
    i = Input((4,))
    model = Model(i, Dense(3, activation="softmax")(i))
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=[CategoricalTruePositives()])
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    got = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)["categorical_true_positives"]
    assert got == float((model.predict(x, verbose=0).argmax(1) == y).sum())
    metric = CategoricalTruePositives()
    assert [v.name for v in metric.variables] == ["ctp"]


class Counts(gpunet.metrics.Metric):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = self.add_weight((), "zeros")  # (Keras 3: shape, initializer)
        self.total = self.add_variable((2,), "ones")
        self.named = self.add_weight("named", shape=(), initializer=None)  # (tf.keras 2: the name first)

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.seen.assign_add(float(len(y_true)))
        self.total.assign_add(ops.sum(y_pred, axis=0))

    def result(self):
        return self.seen + self.total[0] + self.named


def test_metric_variables_in_both_orders_reset_to_their_initial_values():
    metric = Counts()
    assert [(v.name, v.shape) for v in metric.variables] == [("variable", ()), ("variable_1", (2,)), ("named", ())]
    metric.update_state(numpy.zeros((3, 1)), numpy.ones((3, 2)))
    assert float(metric.result()) == 3 + 4
    metric.reset_state()
    numpy.testing.assert_array_equal(metric.total.numpy(), [1.0, 1.0])
    assert float(metric.result()) == 1.0
