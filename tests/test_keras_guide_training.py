"""The tf.keras 2 guide "Training & evaluation with the built-in methods": its custom metric,
custom losses and 1-D targets, with ``K.*`` in place of ``tf.*`` (the guide's TensorFlow calls),
against tf.keras 2.21 run on the same code."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as K

RNG = np.random.default_rng(0)
X = RNG.random((96, 12)).astype("float32")
Y = RNG.integers(0, 4, 96)


def _true_positives_class(lib, k):
    """The guide's ``CategoricalTruePositives``, written against ``lib`` and backend ``k``."""

    class CategoricalTruePositives(lib.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super(CategoricalTruePositives, self).__init__(name=name, **kwargs)
            self.true_positives = self.add_weight(name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = k.reshape(k.argmax(y_pred, axis=1), shape=(-1, 1))
            values = k.cast(y_true, "int32") == k.cast(y_pred, "int32")
            values = k.cast(values, "float32")
            if sample_weight is not None:
                sample_weight = k.cast(sample_weight, "float32")
                values = values * sample_weight
            self.true_positives.assign_add(k.sum(values))

        def result(self):
            return self.true_positives

        def reset_state(self):
            self.true_positives.assign(0.0)

    return CategoricalTruePositives


def _model(lib):
    inputs = lib.Input(shape=(12,), name="digits")
    x = lib.layers.Dense(16, activation="relu", name="dense_1")(inputs)
    outputs = lib.layers.Dense(4, activation="softmax", name="predictions")(x)
    return lib.Model(inputs=inputs, outputs=outputs)


@pytest.mark.parametrize("weighted", [False, True])
def test_the_guides_true_positives_metric_counts_as_in_tf_keras(tfk, weighted):
    """Its ``__init__`` makes the variable its ``reset_state`` reads (so Metric's constructor must not
    call reset_state), ``==`` on tensors compares elementwise, and 1-D labels and weights reach
    ``update_state`` as columns ``(n, 1)``, as tf.keras's expand_1d hands them over; as a
    weighted metric it gets the sample weights."""
    sw = RNG.uniform(0.5, 2.0, 96).astype("float32") if weighted else None
    model, ref = _model(gpunet), _model(tfk)
    model.set_weights(ref.get_weights())
    for m, lib, k in ((model, gpunet, K), (ref, tfk, tfk.backend)):
        metric = {"weighted_metrics" if weighted else "metrics": [_true_positives_class(lib, k)()]}
        m.compile(optimizer=lib.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", **metric)
    h = model.fit(X, Y, batch_size=32, epochs=2, shuffle=False, sample_weight=sw, verbose=0).history
    r = ref.fit(X, Y, batch_size=32, epochs=2, shuffle=False, sample_weight=sw, verbose=0).history
    np.testing.assert_allclose(h["categorical_true_positives"], r["categorical_true_positives"], rtol=1e-5)
    np.testing.assert_allclose(h["loss"], r["loss"], rtol=1e-4)
    hits = (model.predict(X, verbose=0).argmax(1) == Y) * (1 if sw is None else sw)
    score = model.evaluate(X, Y, batch_size=32, verbose=0, sample_weight=sw)[1]
    np.testing.assert_allclose(score, hits.sum(), rtol=1e-5)  # summed over the pass, never a 96 x 96 table


def test_tensor_comparisons_are_elementwise_and_weights_keep_identity(ops):
    a, b = K.constant([1.0, 2.0, 3.0]), K.constant([1.0, 0.0, 3.0])
    np.testing.assert_array_equal((K.cast(a, "int32") == K.cast(b, "int32")).numpy(), [True, False, True])
    np.testing.assert_array_equal((a != 2).numpy(), [True, False, True])
    layer = gpunet.layers.Dense(2)
    layer.build((None, 3))
    assert layer.kernel in layer.weights and layer.weights.index(layer.bias) == 1  # (not elementwise)


def test_a_users_loss_over_sparse_labels_trains_as_the_built_in_loss():
    """tf.keras hands a user's loss the targets as they are (1-D labels as a column), whatever the
    output's width; gpunet checks target shapes for its own losses only."""
    def sparse_loss(y_true, y_pred):
        return K.sparse_categorical_crossentropy(y_true, y_pred)

    histories = []
    for loss in (sparse_loss, "sparse_categorical_crossentropy"):
        gpunet.utils.set_random_seed(4)
        model = _model(gpunet)
        model.compile(optimizer="adam", loss=loss, metrics=["sparse_categorical_accuracy"])
        histories.append(model.fit(X, Y, batch_size=16, epochs=2, verbose=0).history)
        histories[-1]["evaluate"] = model.evaluate(X, Y, verbose=0)
    for key in histories[1]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-5, err_msg=key)
    with pytest.raises(ValueError, match=r"Targets y have shape \(96,\) but the model's output has shape \(None, 4\)"):
        model = _model(gpunet)
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.fit(X, Y, verbose=0)  # a built-in loss still says what it expected
