"""The tf.keras 2 guide "Training & evaluation with the built-in methods": its custom metric,
custom losses and 1-D targets, and its endpoint layer (called with two tensors), with ``K.*`` in
place of ``tf.*`` (the guide's TensorFlow calls), against tf.keras 2.21 run on the same code."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as K
from gpunet.models import load_model

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


def _endpoint_model(lib, k):
    """The guide's ``LogisticEndpoint``: a layer called with two tensors (``layer(logits, targets)``) that
    adds its loss and hands a metric object's result to ``add_metric``; trained without compiled loss."""

    class LogisticEndpoint(lib.layers.Layer):
        def __init__(self, name=None):
            super(LogisticEndpoint, self).__init__(name=name)
            self.loss_fn = lib.losses.BinaryCrossentropy(from_logits=True)
            self.accuracy_fn = lib.metrics.BinaryAccuracy()

        def call(self, targets, logits, sample_weights=None):
            loss = self.loss_fn(targets, logits, sample_weights)
            self.add_loss(loss)
            acc = self.accuracy_fn(targets, logits, sample_weights)
            self.add_metric(acc, name="accuracy")
            return k.softmax(logits)

    inputs = lib.Input(shape=(3,), name="inputs")
    targets = lib.Input(shape=(10,), name="targets")
    logits = lib.layers.Dense(10)(inputs)
    predictions = LogisticEndpoint(name="predictions")(logits, targets)
    model = lib.Model(inputs=[inputs, targets], outputs=predictions)
    model.compile(optimizer=lib.optimizers.SGD(0.1))
    return model, LogisticEndpoint


def test_the_guides_endpoint_layer_trains_saves_and_loads_as_in_tf_keras(tfk, tmp_path):
    rng = np.random.default_rng(3)
    data = {"inputs": rng.random((40, 3)).astype("float32"), "targets": (rng.random((40, 10)) > 0.5).astype("float32")}
    (model, cls), (ref, ref_cls) = _endpoint_model(gpunet, K), _endpoint_model(tfk, tfk.backend)
    model.set_weights(ref.get_weights())
    # (batches of equal size: tf.keras 2 averages an epoch's added losses unweighted, gpunet by rows)
    h = model.fit(data, epochs=3, batch_size=20, shuffle=False, verbose=0).history
    r = ref.fit(data, epochs=3, batch_size=20, shuffle=False, verbose=0).history
    assert list(h) == list(r) == ["loss", "binary_accuracy"]  # the metric object's own name, as tf.keras logs it
    for key in r:
        np.testing.assert_allclose(h[key], r[key], rtol=1e-5, err_msg=key)
    for a, b in zip(model.get_weights(), ref.get_weights()):  # the loss's gradient reaches y_true (the logits)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(data, batch_size=20, verbose=0),
                               ref.evaluate(data, batch_size=20, verbose=0), rtol=1e-5)
    entry = model.get_config()["layers"][-1]
    assert entry["inbound_nodes"] == [[["dense", 0, 0, {"logits": ["targets", 0, 0]}]]]
    assert entry["config"] == {"name": "predictions"}  # (what its __init__ takes, as tf.keras writes it)
    for path in ("endpoint.h5", "endpoint.keras"):
        model.save(tmp_path / path)
        back = load_model(tmp_path / path, custom_objects={"LogisticEndpoint": cls})
        np.testing.assert_array_equal(back.predict(data, verbose=0), model.predict(data, verbose=0))
    theirs = tfk.models.load_model(tmp_path / "endpoint.h5", custom_objects={"LogisticEndpoint": ref_cls})
    np.testing.assert_allclose(theirs.predict(data, verbose=0), model.predict(data, verbose=0), rtol=1e-5, atol=1e-6)
    ref.save(tmp_path / "theirs.h5")
    ours = load_model(tmp_path / "theirs.h5", custom_objects={"LogisticEndpoint": cls})
    np.testing.assert_allclose(ours.predict(data, verbose=0), ref.predict(data, verbose=0), rtol=1e-5, atol=1e-6)


def test_extra_call_arguments_on_arrays_on_tensors_and_refused_by_built_in_layers():
    class Scale(gpunet.layers.Layer):
        def call(self, x, factor, offset=0.0):
            return x * factor + offset

    x, f = np.ones((2, 3), "float32"), np.full((2, 3), 2.0, "float32")
    np.testing.assert_array_equal(Scale()(x, f, offset=1.0).numpy(), np.full((2, 3), 3.0))

    class Outer(gpunet.layers.Layer):
        def __init__(self):
            super().__init__()
            self.scale = Scale()

        def call(self, x):
            return self.scale(x, x, offset=0.5)  # on the tape: a tensor back, gradients through both
    np.testing.assert_array_equal(Outer()(f).numpy(), np.full((2, 3), 4.5))
    inputs, factors = gpunet.Input((3,)), gpunet.Input((3,))
    model = gpunet.Model([inputs, factors], Scale()(inputs, factors, offset=2.0))
    np.testing.assert_array_equal(model.predict([x, f], verbose=0), np.full((2, 3), 4.0))
    assert model.get_config()["layers"][-1]["inbound_nodes"] == [
        [["input_1", 0, 0, {"factor": ["input_2", 0, 0], "offset": 2.0}]]]
    with pytest.raises(TypeError, match=r"Layer 'dense\w*' \(Dense\) takes one input \(and training=\); received more"):
        gpunet.layers.Dense(2)(inputs, factors)
    dense = gpunet.layers.Dense(2)
    assert dense(inputs, True).shape == (None, 2)  # (a second positional bool is training=, as in Keras)


@pytest.mark.gpu
def test_the_endpoint_layer_trains_alike_on_cupy_and_numpy():
    from gpunet import backend as B
    rng = np.random.default_rng(3)
    data = {"inputs": rng.random((40, 3)).astype("float32"), "targets": (rng.random((40, 10)) > 0.5).astype("float32")}
    runs = []
    for ops in (B.resolve("cupy"), B.resolve("numpy")):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(2)
            model, _ = _endpoint_model(gpunet, K)
            runs.append((model.fit(data, epochs=2, batch_size=20, shuffle=False, verbose=0).history, model.get_weights()))
    for key in runs[1][0]:
        np.testing.assert_allclose(runs[0][0][key], runs[1][0][key], rtol=1e-5, err_msg=key)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
