"""Keras's ``add_loss``: loss terms added in a layer's ``call`` or as zero-argument callables, trained
with the compiled loss or alone (``compile(loss=None)``, fit without targets); against tf.keras 2.21
and central differences."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as K
from gpunet.models import load_model

from graph_gradients import assert_trains_alike, check_loss_gradient


def _activity_class(lib):
    class ActivityPenalty(lib.layers.Layer):
        """Passes its input on and adds ``rate * mean(x**2)`` to the loss (the Keras guide's example)."""

        def __init__(self, rate=0.1, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * lib.backend.mean(lib.backend.square(inputs)))
            return inputs

        def get_config(self):
            return dict(super().get_config(), rate=self.rate)
    return ActivityPenalty


def _model(lib, rate=0.1):
    return lib.Sequential([lib.Input((6,)), lib.layers.Dense(5, activation="tanh", name="first"),
                           _activity_class(lib)(rate, name="penalty"), lib.layers.Dense(1, name="out")])


def _data(n=64):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, (x[:, :2].sum(1, keepdims=True) * 0.5).astype("float32")


def _pair(tfk, rate=0.1, loss="mse"):
    model, ref = _model(gpunet, rate), _model(tfk, rate)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.05, momentum=0.9), loss=loss)
    return model, ref


def test_loss_added_in_call_trains_and_evaluates_as_in_tf_keras(tfk):
    x, y = _data()
    model, ref = _pair(tfk)
    assert_trains_alike(model, ref, x, y)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), ref.evaluate(x, y, verbose=0), rtol=1e-5)
    # the last call's added loss, as tf.keras lists it in model.losses
    model(x[:16])
    ref(x[:16])
    got = [float(v) for v in model.losses]
    assert len(got) == 1 and got[0] > 0
    np.testing.assert_allclose(got, [float(v) for v in ref.losses], rtol=1e-5)


def test_compile_without_loss_trains_on_added_losses_alone(tfk):
    """The Keras VAE examples' form: compile(optimizer) and fit(x) with validation_data=(x_val, None)."""
    x, _ = _data()
    model, ref = _pair(tfk, rate=0.5, loss=None)
    h, r = assert_trains_alike(model, ref, x, None, validation_data=(x[:32], None), weight_atol=1e-6)
    assert sorted(h.history) == sorted(r.history) == ["loss", "val_loss"]
    assert h.history["loss"][-1] < h.history["loss"][0]
    np.testing.assert_allclose(model.evaluate(x, verbose=0), ref.evaluate(x, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(model.train_on_batch(x[:16]), ref.train_on_batch(x[:16]), rtol=1e-4)


def test_callable_loss_on_a_built_in_layer_trains_as_in_tf_keras(tfk):
    x, y = _data()
    model, ref = (lib.Sequential([lib.Input((6,)), lib.layers.Dense(4, activation="relu", name="a"),
                                  lib.layers.Dense(1, name="b")]) for lib in (gpunet, tfk))
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        dense = m.get_layer("a")
        dense.add_loss(lambda d=dense, K=lib.backend: 0.05 * K.sum(K.square(d.kernel)))
        m.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
    assert model._train_plan() is None  # the fused step computes the compiled loss only
    assert_trains_alike(model, ref, x, y)
    np.testing.assert_allclose([float(v) for v in model.losses], [float(v) for v in ref.losses], rtol=1e-5)
    np.testing.assert_allclose([float(v) for v in model.get_layer("a").losses],
                               [float(v) for v in ref.get_layer("a").losses], rtol=1e-5)


def test_subclassed_model_adding_a_loss_in_call_trains_as_in_tf_keras(tfk):
    def make(lib):
        class Net(lib.Model):
            def __init__(self):
                super().__init__()
                self.hidden = lib.layers.Dense(5, activation="tanh")
                self.out = lib.layers.Dense(1)

            def call(self, inputs):
                h = self.hidden(inputs)
                self.add_loss(0.2 * lib.backend.mean(lib.backend.abs(h)))
                return self.out(h)
        return Net()
    x, y = _data()
    model, ref = make(gpunet), make(tfk)
    model(x[:2]), ref(x[:2])
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
    assert_trains_alike(model, ref, x, y)


def test_gradient_of_added_losses_matches_central_differences(f64, ops):
    """One SGD step at learning rate 1 takes the whole loss's gradient (compiled loss, a loss added in
    call, a callable loss) off the weights; central differences of test_on_batch's loss agree."""
    x, y = _data(12)
    model = _model(gpunet, rate=0.3)
    dense = model.get_layer("first")
    dense.add_loss(lambda: 0.1 * K.sum(K.square(dense.kernel)) + 0.05 * K.sum(dense.bias))
    model.compile(optimizer="sgd", loss="mse")
    check_loss_gradient(model, x, y, points=3)


def test_layer_losses_after_an_eager_call():
    layer = _activity_class(gpunet)(0.5)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    layer(x)
    np.testing.assert_allclose([float(v) for v in layer.losses], [0.5 * np.mean(x ** 2)], rtol=1e-6)


def test_saved_model_without_compiled_loss_loads_and_resumes(tmp_path):
    x, _ = _data()
    model = _model(gpunet, rate=0.5)
    model.compile(optimizer="adam")
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    path = str(tmp_path / "m.h5")
    model.save(path)
    custom = {"ActivityPenalty": type(model.get_layer("penalty"))}
    loaded = load_model(path, custom_objects=custom)
    assert loaded.loss is None
    a = model.fit(x, epochs=2, batch_size=16, shuffle=False, verbose=0).history["loss"]
    b = loaded.fit(x, epochs=2, batch_size=16, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_compile_without_loss_and_nothing_added_fails_before_any_update():
    x, _ = _data()
    model = gpunet.Sequential([gpunet.Input((6,)), gpunet.layers.Dense(1)])
    model.compile(optimizer="sgd")
    before = model.get_weights()
    with pytest.raises(ValueError, match="no loss to train on: it was compiled with loss=None"):
        model.fit(x, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_add_loss_calls_say_what_was_expected():
    layer = gpunet.layers.Dense(2)
    with pytest.raises(ValueError, match="outside call\\(\\) received Tensor: a loss added outside call\\(\\) must be "
                                         "a zero-argument callable"):
        layer.add_loss(K.constant(1.0))
    with pytest.raises(ValueError, match="received the symbolic tensor"):
        layer.add_loss(gpunet.Input((3,)))
    model = gpunet.Sequential([gpunet.Input((3,)), gpunet.layers.Dense(1)])
    with pytest.raises(ValueError, match="compile\\(loss=None\\) .* takes no metrics either; received "
                                         "metrics=\\['accuracy'\\]"):
        model.compile(optimizer="sgd", metrics=["accuracy"])
    bad = model.get_layer(index=0) if hasattr(model, "get_layer") else None
    bad.add_loss(lambda: K.cast(K.sum(bad.kernel), "int32"))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="must be floating point|a loss must be floating point"):
        model.fit(np.ones((4, 3), "float32"), np.ones((4, 1), "float32"), verbose=0)


def test_evaluate_counts_callable_losses_on_every_backend(ops):
    """A Dense-only model would evaluate through the GPU's forward plan, which computes the compiled loss
    only: with a callable loss it takes the layer path, on each backend alike."""
    x, y = _data(40)
    model = gpunet.Sequential([gpunet.Input((6,)), gpunet.layers.Dense(1, name="d")])
    dense = model.get_layer("d")
    dense.add_loss(lambda: 0.5 * K.sum(K.square(dense.kernel)))
    model.compile(optimizer="sgd", loss="mse")
    kernel, bias = model.get_weights()
    want = np.mean((x @ kernel + bias - y) ** 2) + 0.5 * np.sum(kernel ** 2)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=40, verbose=0), want, rtol=1e-5)
