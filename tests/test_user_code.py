"""Users' own losses, metrics, activations, Lambda functions and Layer subclasses train through
the tape to the same weights as the equivalent built-ins (within 1e-6 over an epoch)."""
import numpy as np
import pytest

import gpunet
import gpunet.backend as K
from gpunet import ops as O
from gpunet.layers import Activation, Dense, Dropout, Lambda, Layer
from gpunet.models import Sequential

RNG = np.random.RandomState(4)
X = RNG.rand(60, 5).astype("float32")
Y = (X[:, :2].sum(1, keepdims=True) > X[:, 2:4].sum(1, keepdims=True)).astype("float32")
SW = RNG.uniform(0.2, 2.0, 60).astype("float32")


def per_sample_mse(y_true, y_pred):
    return K.mean(K.square(y_pred - y_true), axis=-1)


def scalar_mse(y_true, y_pred):
    return K.mean(K.square(y_pred - y_true))


def my_bce(y_true, y_pred):
    return K.mean(K.binary_crossentropy(y_true, y_pred), axis=-1)


def scaled_tanh(x):
    return 1.7159 * K.tanh(x * (2.0 / 3.0))


def plain_tanh(x):
    return K.tanh(x)


def relu_fn(x):
    return K.relu(x)


def abs_error(y_true, y_pred):
    return K.mean(K.abs(y_pred - y_true), axis=-1)


class MyDense(Layer):
    """A Keras-style Dense written by a user: build with add_weight, call with K.*."""

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = gpunet.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.scale = self.add_weight(name="scale", shape=(self.units,), initializer="ones", trainable=False)
        super().build(input_shape)

    def call(self, inputs):
        return self.activation(K.dot(inputs, self.kernel) + self.bias) * self.scale

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=gpunet.activations.serialize(self.activation))
        return config


def train(layers, loss="mse", metrics=None, epochs=1, **fit):
    gpunet.utils.set_random_seed(11)
    model = Sequential(layers())
    model.compile(optimizer="adam", loss=loss, metrics=metrics or [])
    history = model.fit(X, Y, epochs=epochs, batch_size=8, verbose=0, **fit)
    return model, history.history


def assert_same_weights(a, b, atol=1e-6):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        np.testing.assert_allclose(x, y, rtol=0, atol=atol)


def two_layers(first_activation="relu", last="sigmoid"):
    return lambda: [Dense(6, input_dim=5, activation=first_activation), Dense(1, activation=last)]


# ---- compile(loss=f) ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fit", [{}, {"sample_weight": SW}, {"class_weight": {0: 0.3, 1: 2.5}}],
                         ids=["plain", "sample_weight", "class_weight"])
def test_custom_per_sample_loss_trains_like_the_builtin(fit):
    builtin, h1 = train(two_layers(), "mse", **fit)
    custom, h2 = train(two_layers(), per_sample_mse, **fit)
    assert_same_weights(builtin, custom)
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-6)
    assert custom.loss is per_sample_mse and custom._loss_fn.name == "per_sample_mse"


def test_custom_scalar_loss_trains_like_the_builtin_mean():
    builtin, h1 = train(two_layers(), "mse")
    custom, h2 = train(two_layers(), scalar_mse)
    assert_same_weights(builtin, custom)
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-6)


def test_scalar_loss_with_sample_weights_is_scaled_by_their_mean_as_in_keras():
    model, _ = train(two_layers(), scalar_mse, epochs=0)
    pred = model.predict(X, verbose=0)
    value = model.evaluate(X, Y, sample_weight=SW, batch_size=60, verbose=0)
    np.testing.assert_allclose(value, np.mean((pred - Y) ** 2) * SW.mean(), rtol=1e-5)


def test_custom_crossentropy_matches_builtin_binary_crossentropy():
    builtin, _ = train(two_layers(), "binary_crossentropy")
    custom, _ = train(two_layers(), my_bce)
    assert_same_weights(builtin, custom)


def test_custom_loss_with_wrong_shape_names_the_function():
    def bad_loss(y_true, y_pred):
        return K.sum(y_pred, axis=0)

    with pytest.raises(ValueError, match=r"Loss function 'bad_loss' returned values of shape \(1,\) for a batch "
                                         r"of 8 samples"):
        train(two_layers(), bad_loss)


# ---- metrics=[f] ---------------------------------------------------------------------------------------
def test_custom_metric_is_reported_under_its_function_name():
    _, h1 = train(two_layers(), "mse", metrics=["mae"], validation_split=0.2)
    model, h2 = train(two_layers(), "mse", metrics=[abs_error], validation_split=0.2)
    assert model.metrics_names == ["loss", "abs_error"]
    assert set(h2) == {"loss", "abs_error", "val_loss", "val_abs_error"}
    np.testing.assert_allclose(h2["abs_error"], h1["mae"], rtol=1e-6)
    np.testing.assert_allclose(h2["val_abs_error"], h1["val_mae"], rtol=1e-6)


# ---- activations, Lambda, Layer subclasses ------------------------------------------------------------
@pytest.mark.parametrize("builtin,custom", [
    (two_layers("tanh"), two_layers(plain_tanh)),
    (lambda: [Dense(6, input_dim=5), Activation("tanh"), Dense(1, activation="sigmoid")],
     lambda: [Dense(6, input_dim=5), Activation(plain_tanh), Dense(1, activation="sigmoid")]),
    (lambda: [Dense(6, input_dim=5), Activation("relu"), Dense(1, activation="sigmoid")],
     lambda: [Dense(6, input_dim=5), Lambda(relu_fn), Dense(1, activation="sigmoid")]),
    (two_layers("relu"), lambda: [MyDense(6, activation="relu", input_dim=5), Dense(1, activation="sigmoid")]),
    (two_layers("relu", "tanh"), lambda: [Dense(6, input_dim=5, activation="relu"), MyDense(1, plain_tanh)]),
], ids=["Dense(activation=f)", "Activation(f)", "Lambda(f)", "Layer subclass", "subclass with custom act"])
def test_user_code_trains_to_the_builtin_weights(builtin, custom):
    a, h1 = train(builtin, "mse", epochs=1)
    b, h2 = train(custom, "mse", epochs=1)
    wa = a.get_weights()
    # MyDense's non-trainable `scale` (ones) has no built-in counterpart
    wb = [w for l in b.layers for w in (l.get_weights()[:2] if isinstance(l, MyDense) else l.get_weights())]
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-6)


def test_subclassed_layer_respects_trainable_and_non_trainable_weights():
    model, _ = train(lambda: [MyDense(4, "relu", input_dim=5), Dense(1, activation="sigmoid")])
    layer = model.layers[0]
    assert [w.name for w in layer.trainable_weights] == ["kernel", "bias"]
    assert [w.name for w in layer.non_trainable_weights] == ["scale"]
    assert np.array_equal(layer.scale.numpy(), np.ones(4, "float32"))  # never updated
    assert layer.output_shape == (None, 4) and layer.count_params() == 5 * 4 + 4 + 4
    gpunet.utils.set_random_seed(2)
    frozen = Sequential([MyDense(4, "relu", input_dim=5, trainable=False), Dense(1, activation="sigmoid")])
    frozen.compile("adam", "mse")
    before = frozen.layers[0].get_weights()
    frozen.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    assert all(np.array_equal(x, y) for x, y in zip(before, frozen.layers[0].get_weights()))


def test_keras3_style_layer_without_super_build_and_with_training_argument():
    class Noisy(Layer):
        def build(self, input_shape):  # Keras 3 style: no name, no super().build
            self.w = self.add_weight(shape=(input_shape[-1], 3), initializer="ones")
            self.seen = []

        def call(self, inputs, training=None):
            self.seen.append(training)
            return O.matmul(inputs, self.w)

    gpunet.utils.set_random_seed(2)
    model = Sequential([Noisy(input_shape=(5,)), Dense(1)])
    model.compile("sgd", "mse")
    model.fit(X[:8], Y[:8], epochs=1, batch_size=8, verbose=0)
    model.predict(X[:2], verbose=0)
    layer = model.layers[0]
    assert layer.built and layer.output_shape == (None, 3) and layer.weights[0].name == "variable"
    assert layer.seen[-2:] == [True, False]
    assert not np.array_equal(layer.get_weights()[0], np.ones((5, 3), "float32"))


def test_lambda_output_shape_and_arguments():
    def take(x, count):
        return x[:, :count]

    layer = Lambda(take, arguments={"count": 2})
    model = Sequential([Dense(4, input_dim=5), layer])
    assert model.output_shape == (None, 2)
    assert Lambda(take, output_shape=(7,), arguments={"count": 2}).compute_output_shape((None, 5)) == (None, 7)
    out = model.predict(X[:3], verbose=0)
    assert out.shape == (3, 2)


def test_subclassed_layer_gradients_match_finite_differences_in_float64(ops):
    from gpunet.testing import check_gradient
    gpunet.backend.set_floatx("float64")
    layer = MyDense(3, scaled_tanh)
    layer.build((None, 4))
    x = np.random.RandomState(0).randn(5, 4)
    kernel = layer.kernel
    kernel.grad = ops.zeros(kernel.shape, "float64")
    layer.bias.grad = ops.zeros(layer.bias.shape, "float64")

    def forward(a):
        return ops.to_host(layer.forward(ops.asarray(a), training=True))
    check_gradient(forward, lambda dy: ops.to_host(layer.backward(ops.asarray(dy))), x)

    def forward_kernel(k):
        kernel.value[...] = ops.asarray(k)
        return ops.to_host(layer.forward(ops.asarray(x), training=True))

    def backward_kernel(dy):
        layer.backward(ops.asarray(dy))
        return ops.to_host(kernel.grad)
    check_gradient(forward_kernel, backward_kernel, ops.to_host(kernel.value).copy())


def test_user_code_trains_on_each_backend(ops):
    gpunet.utils.set_random_seed(3)
    model = Sequential([MyDense(6, "relu", input_dim=5), Lambda(relu_fn), Dense(1, activation=scaled_tanh)])
    model.compile("adam", per_sample_mse, metrics=[abs_error])
    history = model.fit(X, Y, epochs=3, batch_size=16, verbose=0).history
    assert model.ops is ops
    assert history["loss"][-1] < history["loss"][0]


def test_add_weight_errors_name_the_layer_and_the_problem():
    layer = Dense(2, name="d")
    layer.add_weight(name="w", shape=(2,))
    with pytest.raises(ValueError, match=r"Layer 'd' already has a weight named 'w'"):
        layer.add_weight(name="w", shape=(3,))
    with pytest.raises(ValueError, match=r"Layer 'd': add_weight needs a shape"):
        layer.add_weight(name="v")
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\): \['colour'\]"):
        layer.add_weight(name="v", shape=(1,), colour="red")
    with pytest.raises(ValueError, match=r"add_weight dtype 'float64' differs from the layer's dtype 'float32'"):
        layer.add_weight(name="v", shape=(1,), dtype="float64")
    assert layer.add_weight(shape=(1,), use_resource=True).name == "variable"


def test_a_layer_without_call_or_forward_says_so():
    class Empty(Layer):
        pass

    with pytest.raises(NotImplementedError, match="Empty defines neither call"):
        Empty()(np.zeros((1, 2), "float32"))


def test_a_layer_may_update_its_non_trainable_weight_in_call():
    class Counter(Layer):
        def build(self, input_shape):
            self.calls = self.add_weight(name="calls", shape=(), initializer="zeros", trainable=False)

        def call(self, inputs, training=None):
            if training:
                self.calls.assign(self.calls + 1.0)
            return inputs * 1.0

    model = Sequential([Dense(2, input_dim=5), Counter()])
    model.compile("sgd", "mse")
    model.fit(X, np.zeros((60, 2), "float32"), epochs=2, batch_size=20, verbose=0)
    assert float(model.layers[1].calls.numpy()) == 6.0


def test_keras_style_loss_subclass_with_call_trains_like_the_builtin():
    class ScaledMSE(gpunet.losses.Loss):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, y_true, y_pred):
            return self.factor * K.mean(K.square(y_pred - y_true), axis=-1)

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    builtin, h1 = train(two_layers(), "mse", sample_weight=SW)
    custom, h2 = train(two_layers(), ScaledMSE(1.0), sample_weight=SW)
    assert_same_weights(builtin, custom)
    assert custom._loss_fn.name == "scaled_mse"
    np.testing.assert_allclose(float(ScaledMSE(2.0)([[1.0, 2.0]], [[0.0, 0.0]])), 5.0)


def test_overriding_call_in_a_subclass_of_a_builtin_layer_runs_that_call():
    class DoubledDense(Dense):
        def call(self, inputs):
            return 2.0 * K.dot(inputs, self.kernel) + self.bias

    gpunet.utils.set_random_seed(1)
    model = Sequential([DoubledDense(3, input_dim=5)])
    kernel, bias = model.layers[0].get_weights()
    np.testing.assert_allclose(model.predict(X[:4], verbose=0), 2.0 * X[:4] @ kernel + bias, rtol=1e-6)
    model.compile("sgd", "mse")
    model.fit(X, np.zeros((60, 3), "float32"), epochs=1, batch_size=20, verbose=0)
    assert not np.array_equal(model.layers[0].get_weights()[0], kernel)


def test_an_output_size_that_follows_an_unknown_input_size_stays_unknown():
    """A layer of your own after an Embedding over sequences of any length: its output's steps are unknown, as
    tf.keras's trace finds them (gpunet probed unknown sizes as 1 and kept 1: the next layer refused length 7)."""
    class DropFirst(Layer):
        def call(self, x):
            return x[:, 1:] * 2.0

    i = gpunet.layers.Input((None,))
    h = DropFirst()(gpunet.layers.Embedding(5, 3)(i))
    model = gpunet.models.Model(i, Dense(2)(h))
    assert model.layers[2].output_shape == (None, None, 3) and model.output_shape == (None, None, 2)
    for steps in (7, 4):
        x = np.ones((2, steps))
        assert model.predict(x, verbose=0).shape == (2, steps - 1, 2)
