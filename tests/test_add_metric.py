"""Keras's ``add_metric``: values a layer's ``call`` or a functional model logs, as their mean over each
epoch's batches (tf.keras 2's ``Mean``), with ``val_`` versions; files hold a model's as tf.keras 2's
``AddMetric`` layers. Against tf.keras 2.21."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as K


def _model(lib):
    Kb = lib.backend

    class Activity(lib.layers.Layer):
        def call(self, inputs):
            self.add_metric(Kb.mean(Kb.abs(inputs)), name="act_mean")
            return inputs

    inputs = lib.Input((6,), name="i")
    h = Activity(name="act")(lib.layers.Dense(4, activation="tanh", name="h")(inputs))
    model = lib.Model(inputs, lib.layers.Dense(1, name="o")(h))
    model.add_metric(Kb.mean(Kb.square(h)), name="h_sq")
    return model


def _data(n=64):
    x = np.random.default_rng(9).normal(size=(n, 6)).astype("float32")
    return x, x[:, :1] * 0.5


def test_added_metrics_log_as_in_tf_keras(tfk):
    x, y = _data()
    model, ref = _model(gpunet), _model(tfk)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    kwargs = dict(epochs=2, batch_size=16, shuffle=False, verbose=0, validation_data=(x[:32], y[:32]))
    h, r = model.fit(x, y, **kwargs).history, ref.fit(x, y, **kwargs).history
    assert list(h) == list(r) == ["loss", "mae", "act_mean", "h_sq", "val_loss", "val_mae", "val_act_mean", "val_h_sq"]
    for key in r:
        np.testing.assert_allclose(h[key], r[key], rtol=1e-5, err_msg=key)
    got, want = model.evaluate(x, y, verbose=0, return_dict=True), ref.evaluate(x, y, verbose=0, return_dict=True)
    assert list(got) == list(want)
    np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-5)


def test_model_metrics_go_both_ways_with_tf_keras_files(tfk, tmp_path):
    x, y = _data(32)
    model, ref = _model(gpunet), _model(tfk)
    custom = {"Activity": type(model.get_layer("act"))}
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer="adam", loss="mse")
        m.fit(x, y, verbose=0)
    model.save(str(tmp_path / "g.h5"))
    theirs = tfk.models.load_model(str(tmp_path / "g.h5"), custom_objects={"Activity": type(ref.get_layer("act"))})
    assert theirs.evaluate(x, y, verbose=0, return_dict=True)["h_sq"] == pytest.approx(
        model.evaluate(x, y, verbose=0, return_dict=True)["h_sq"], rel=1e-5)
    ref.save(str(tmp_path / "t.h5"))
    mine = gpunet.models.load_model(str(tmp_path / "t.h5"), custom_objects=custom)
    got, want = mine.evaluate(x, y, verbose=0, return_dict=True), ref.evaluate(x, y, verbose=0, return_dict=True)
    assert list(got) == list(want)
    np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-5)


def test_bad_add_metric_calls_say_what_was_expected():
    model = _model(gpunet)
    with pytest.raises(ValueError, match="needs a name for the metric"):
        model.add_metric(K.mean(model.get_layer("h").output))
    with pytest.raises(ValueError, match="already has a metric named 'h_sq'"):
        model.add_metric(K.mean(model.get_layer("h").output), name="h_sq")
    with pytest.raises(ValueError, match="logs the mean of the values \\(aggregation='mean'\\), received "
                                         "aggregation='sum'"):
        model.add_metric(K.mean(model.get_layer("h").output), name="s", aggregation="sum")
    with pytest.raises(ValueError, match="outside call\\(\\) received Tensor"):
        gpunet.layers.Dense(1).add_metric(K.constant(1.0), name="c")
    x, y = _data(8)
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    clash = _model(gpunet)
    clash.add_metric(K.mean(clash.get_layer("h").output), name="mae")
    clash.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    with pytest.raises(ValueError, match="add_metric's name 'mae' is already a compiled metric's"):
        clash.fit(x, y, verbose=0)
