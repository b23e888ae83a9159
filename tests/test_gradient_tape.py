"""`gpunet.GradientTape` and `Optimizer.apply_gradients`: Keras's guide "Writing a training loop from scratch" on
gpunet. Gradients against finite differences in float64 (a GAN's two tapes, inputs, several outputs), a loop
against train_on_batch on the same model, and against tf.keras 2.21's tf.GradientTape loop."""
import warnings

import numpy as np
import pytest

import gpunet
from gpunet import layers, losses, models, optimizers, regularizers

RS = np.random.RandomState(0)
X = RS.rand(32, 8)
Y = (X.sum(1, keepdims=True) > 4).astype("float64")


def _host(ops, a):
    return ops.to_host(a)


def _fd(loss_of, weight, index, eps=1e-6):
    """The central difference of ``loss_of()`` (a float, computed without a tape) in one element of ``weight``."""
    v = weight.value
    old = float(v[index])
    v[index] = old + eps
    up = loss_of()
    v[index] = old - eps
    down = loss_of()
    v[index] = old
    return (up - down) / (2 * eps)


class _Scaled(layers.Layer):
    """A layer of yours: a weight of its own, run on the tape."""

    def build(self, shape):
        self.w = self.add_weight(name="w", shape=(shape[-1], 4), initializer="glorot_uniform")

    def call(self, x):
        return gpunet.ops.tanh(x @ self.w)


class _Net(models.Model):
    def __init__(self):
        super().__init__()
        self.mine = _Scaled()
        self.norm = layers.BatchNormalization()
        self.out = layers.Dense(1, activation="sigmoid", kernel_regularizer=regularizers.l2(0.01))

    def call(self, x, training=False):
        return self.out(self.norm(self.mine(x), training=training))


@pytest.mark.parametrize("make_opt", [lambda: optimizers.SGD(0.1, momentum=0.9), lambda: optimizers.Adam(0.01)],
                         ids=["sgd", "adam"])
def test_tape_loop_trains_as_train_on_batch(ops, make_opt):
    x, y = X.astype("float32"), Y.astype("float32")

    def run(own_loop):
        gpunet.utils.set_random_seed(3)
        model, opt, loss_fn = _Net(), make_opt(), losses.BinaryCrossentropy()
        model(x[:2])
        if not own_loop:
            model.compile(opt, loss_fn)
            return [float(model.train_on_batch(x[i:i + 8], y[i:i + 8])) for i in range(0, 32, 8)], model
        logged = []
        for i in range(0, 32, 8):
            with gpunet.GradientTape() as tape:
                pred = model(x[i:i + 8], training=True)
                loss = loss_fn(y[i:i + 8], pred) + sum(model.losses)
            grads = tape.gradient(loss, model.trainable_weights)
            opt.apply_gradients(zip(grads, model.trainable_weights))
            logged.append(float(loss))
        return logged, model
    (mine, a), (keras_like, b) = run(True), run(False)
    np.testing.assert_allclose(mine, keras_like, rtol=1e-5)
    for p, q in zip(a.get_weights(), b.get_weights()):  # (BatchNormalization's moving statistics too)
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)


def test_two_tapes_of_a_gan_give_each_network_its_gradient(ops, f64):
    rs = np.random.RandomState(1)
    gen = models.Sequential([layers.Input((4,)), layers.Dense(8, activation="tanh"), layers.Dense(8)])
    disc = models.Sequential([layers.Input((8,)), layers.Dense(6, activation="tanh"), layers.Dense(1)])
    bce = losses.BinaryCrossentropy(from_logits=True)
    real, z = rs.rand(16, 8), rs.randn(16, 4)
    ones, zeros = np.ones((16, 1)), np.zeros((16, 1))
    with gpunet.GradientTape() as gen_tape, gpunet.GradientTape() as disc_tape:
        fake = gen(z, training=True)
        real_out, fake_out = disc(real, training=True), disc(fake, training=True)  # (disc called twice)
        gen_loss = bce(ones, fake_out)
        disc_loss = bce(ones, real_out) + bce(zeros, fake_out)
    gen_grads = gen_tape.gradient(gen_loss, gen.trainable_weights)
    disc_grads = disc_tape.gradient(disc_loss, disc.trainable_weights)

    def gen_value():
        return float(bce(ones, disc(gen(z))))

    def disc_value():
        return float(bce(ones, disc(real)) + bce(zeros, disc(gen(z))))
    for value, weights, grads in ((gen_value, gen.trainable_weights, gen_grads),
                                  (disc_value, disc.trainable_weights, disc_grads)):
        for w, g in zip(weights, grads):
            index = tuple(min(1, n - 1) for n in w.shape)
            assert _fd(value, w, index) == pytest.approx(float(_host(ops, g)[index]), rel=1e-6, abs=1e-9)


def test_gradient_of_watched_inputs_and_several_outputs(ops, f64):
    rs = np.random.RandomState(2)
    inp = layers.Input((8,))
    hidden = layers.Dense(5, activation="tanh")(inp)
    model = models.Model(inp, [layers.Dense(1)(hidden), layers.Dense(2)(hidden)])
    x, up1, up2 = rs.rand(6, 8), rs.randn(6, 1), rs.randn(6, 2)  # (random upstream gradients)

    def value():
        a, b = model(x)
        return float(np.sum(_host(ops, a) * up1) + np.sum(_host(ops, b) ** 2 * up2))
    with gpunet.GradientTape() as tape:
        tape.watch(x)
        a, b = model(x)
        loss = gpunet.ops.sum(a * up1) + gpunet.ops.sum(b * b * up2)
    grads = tape.gradient(loss, {"x": x, "kernel": model.trainable_weights[0], "last": model.trainable_weights[-1]})
    assert set(grads) == {"x", "kernel", "last"}
    x_grad = _host(ops, grads["x"])
    assert x_grad.shape == (6, 8)
    for i in [(0, 0), (3, 5)]:
        old = x[i]
        x[i] = old + 1e-6
        up = value()
        x[i] = old - 1e-6
        down = value()
        x[i] = old
        assert (up - down) / 2e-6 == pytest.approx(x_grad[i], rel=1e-6, abs=1e-9)
    assert _fd(value, model.trainable_weights[0], (2, 3)) == pytest.approx(_host(ops, grads["kernel"])[2, 3], rel=1e-6)
    assert _fd(value, model.trainable_weights[-1], (1,)) == pytest.approx(_host(ops, grads["last"])[1], rel=1e-6)


def test_dict_and_list_inputs_and_a_layer_alone(ops):
    first, second = layers.Input((3,), name="p"), layers.Input((2,), name="q")
    model = models.Model([first, second], layers.Dense(1)(layers.Concatenate()([first, second])))
    x = X.astype("float32")
    for given in ({"p": x[:, :3], "q": x[:, 3:5]}, [x[:, :3], x[:, 3:5]]):
        with gpunet.GradientTape() as tape:
            loss = gpunet.ops.sum(model(given))
        kernel, bias = tape.gradient(loss, model.trainable_weights)
        np.testing.assert_allclose(_host(ops, kernel)[:, 0], x[:, :5].sum(0), rtol=1e-5)
        assert float(_host(ops, bias)[0]) == pytest.approx(32)
    dense = layers.Dense(3)
    with gpunet.GradientTape() as tape:
        loss = gpunet.ops.sum(dense(x))
    kernel, bias = tape.gradient(loss, dense.trainable_weights)
    np.testing.assert_allclose(_host(ops, kernel), np.repeat(x.sum(0)[:, None], 3, axis=1), rtol=1e-5)
    np.testing.assert_allclose(_host(ops, bias), [32, 32, 32])


def test_unconnected_sources_and_the_tape_rules(ops):
    a = models.Sequential([layers.Input((8,)), layers.Dense(2)])
    b = models.Sequential([layers.Input((8,)), layers.Dense(2)])
    x = X.astype("float32")
    b(x)
    with gpunet.GradientTape() as tape:
        loss = gpunet.ops.sum(a(x))
        with tape.stop_recording():
            unrecorded = b(x)
    assert not isinstance(unrecorded, gpunet.autodiff.Tensor)
    grads = tape.gradient(loss, a.trainable_weights + b.trainable_weights)
    assert grads[2] is None and grads[3] is None and grads[0].shape == (8, 2)
    with pytest.raises(RuntimeError, match="only be used to compute one set of gradients"):
        tape.gradient(loss, a.trainable_weights)
    with gpunet.GradientTape() as tape:
        loss = gpunet.ops.sum(a(x))
    zero = tape.gradient(loss, b.trainable_weights, unconnected_gradients="zero")
    assert all(float(np.abs(_host(ops, g)).max()) == 0 for g in zero)
    with gpunet.GradientTape() as tape:
        loss = gpunet.ops.sum(a(x))
    with pytest.raises(ValueError, match="neither a weight nor watched"):
        tape.gradient(loss, [x])
    with gpunet.GradientTape() as tape:
        a(x)
    with pytest.raises(TypeError, match="computed inside the tape"):
        tape.gradient(float(np.sum(x)), a.trainable_weights)


def test_outside_a_tape_calls_give_arrays_as_before(ops):
    model = models.Sequential([layers.Input((8,)), layers.Dense(2)])
    out = model(X.astype("float32"))
    assert not isinstance(out, gpunet.autodiff.Tensor) and out.shape == (32, 2)


def test_apply_gradients_checks_and_constraints(ops):
    dense = layers.Dense(2, kernel_constraint=gpunet.constraints.NonNeg())
    dense.build((None, 3))
    dense.kernel.assign(np.full((3, 2), 0.05, "float32"))
    opt = optimizers.SGD(1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        opt.apply_gradients([(np.full((3, 2), 0.1, "float32"), dense.kernel), (None, dense.bias)])
    assert any("Gradients do not exist" in str(w.message) for w in caught)
    assert float(np.abs(_host(ops, dense.kernel.value)).max()) == 0  # (0.05 - 0.1 clipped to 0 by NonNeg)
    assert opt.iterations == 1
    with pytest.raises(ValueError, match="No gradients provided"):
        opt.apply_gradients([(None, dense.kernel)])
    with pytest.raises(ValueError, match=r"has shape \(2,\), the variable \(3, 2\)"):
        opt.apply_gradients([(np.zeros(2, "float32"), dense.kernel)])
    with pytest.raises(TypeError, match="is not a weight"):
        opt.apply_gradients([(np.zeros(2, "float32"), np.zeros(2))])


def test_keras3s_apply_takes_gradients_and_variables(ops):
    dense = layers.Dense(1, use_bias=False, kernel_initializer="ones")
    dense.build((None, 2))
    opt = optimizers.SGD(0.5)
    opt.apply([np.array([[1.0], [-1.0]], "float32")], [dense.kernel])
    np.testing.assert_allclose(_host(ops, dense.kernel.value), [[0.5], [1.5]])
    with pytest.raises(ValueError, match="1 gradients for 2 variables"):
        opt.apply([np.ones((2, 1), "float32")], [dense.kernel, dense.kernel])


def test_minimize_with_a_callable_loss(ops):
    dense = layers.Dense(1, use_bias=False, kernel_initializer="ones")
    x = np.ones((4, 2), "float32")
    opt = optimizers.SGD(0.25)
    opt.minimize(lambda: gpunet.ops.mean(dense(x)), lambda: [dense.kernel])  # (built by the loss); d/dk = 1
    np.testing.assert_allclose(_host(ops, dense.kernel.value), [[0.75], [0.75]])


def test_the_keras_guide_loop_matches_tf_keras(tfk):
    import tensorflow as tf
    x, y = X.astype("float32"), Y.astype("float32")

    def build(lib):
        return lib.Sequential([lib.layers.Input((8,)), lib.layers.Dense(6, activation="relu"),
                               lib.layers.Dropout(0.0), lib.layers.Dense(1, activation="sigmoid")])
    ours, theirs = build(gpunet), build(tfk)
    ours.set_weights(theirs.get_weights())
    loops = ((ours, gpunet.GradientTape, optimizers.Adam(0.05), losses.BinaryCrossentropy()),
             (theirs, tf.GradientTape, tfk.optimizers.Adam(0.05), tfk.losses.BinaryCrossentropy()))
    logged = []
    for model, Tape, opt, loss_fn in loops:
        values = []
        for i in range(0, 32, 8):
            with Tape() as tape:
                loss = loss_fn(y[i:i + 8], model(x[i:i + 8], training=True))
            grads = tape.gradient(loss, model.trainable_weights)
            opt.apply_gradients(zip(grads, model.trainable_weights))
            values.append(float(loss))
        logged.append(values)
    np.testing.assert_allclose(logged[0], logged[1], rtol=1e-5)
    for p, q in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6)


def test_a_persistent_tape_gives_gradients_again(ops, f64):
    rs = np.random.RandomState(4)
    net = _Net()  # (a layer of yours, BatchNormalization and Dense with a regularizer)
    x, y = rs.rand(12, 8), (rs.rand(12, 1) > 0.5).astype("float64")
    net(x[:2])
    loss_fn = losses.BinaryCrossentropy()
    with gpunet.GradientTape(persistent=True) as tape:
        pred = net(x, training=True)
        first = loss_fn(y, pred) + sum(net.losses)
        second = gpunet.ops.sum(pred * pred)
    once = [_host(ops, g).copy() for g in tape.gradient(first, net.trainable_weights)]
    other = tape.gradient(second, net.trainable_weights)
    again = tape.gradient(first, net.trainable_weights)
    for a, b in zip(once, again):
        np.testing.assert_allclose(_host(ops, b), a, rtol=1e-12)
    assert any(np.abs(_host(ops, o) - a).max() > 1e-6 for o, a in zip(other, once))
    with gpunet.GradientTape() as plain:  # (the same gradient from a tape of one use, on the same batch)
        loss = loss_fn(y, net(x, training=True)) + sum(net.losses)
    for a, b in zip(once, plain.gradient(loss, net.trainable_weights)):
        np.testing.assert_allclose(_host(ops, b), a, rtol=1e-9)


def test_the_guides_added_losses_in_a_loop_match_tf_keras(tfk):
    """The guide's ActivityRegularizationLayer (``self.add_loss`` in call) and a kernel regularizer, with
    ``loss += sum(model.losses)`` inside the tape: the loss and every gradient are tf.keras 2.21's."""
    import tensorflow as tf

    def build(lib, reduce_sum):
        class ActivityRegularizationLayer(lib.layers.Layer):
            def call(self, inputs):
                self.add_loss(1e-2 * reduce_sum(inputs))
                return inputs
        inputs = lib.Input(shape=(6,))
        h = ActivityRegularizationLayer()(lib.layers.Dense(5, activation="relu")(inputs))
        h = lib.layers.Dense(5, activation="relu", kernel_regularizer=lib.regularizers.l2(0.1))(h)
        return lib.Model(inputs, lib.layers.Dense(3)(h))
    rs = np.random.RandomState(0)
    x, y = rs.rand(8, 6).astype("float32"), rs.randint(0, 3, 8)
    theirs, ours = build(tfk, tf.reduce_sum), build(gpunet, gpunet.ops.sum)
    ours.set_weights(theirs.get_weights())
    results = []
    for lib, Tape, model in ((tfk, tf.GradientTape, theirs), (gpunet, gpunet.GradientTape, ours)):
        loss_fn = lib.losses.SparseCategoricalCrossentropy(from_logits=True)
        with Tape() as tape:
            loss = loss_fn(y, model(x, training=True))
            loss += sum(model.losses)
        results.append((float(loss), [np.asarray(g) for g in tape.gradient(loss, model.trainable_weights)]))
    (their_loss, their_grads), (our_loss, our_grads) = results
    assert our_loss == pytest.approx(their_loss, rel=1e-6)
    for a, b in zip(our_grads, their_grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("training", [None, False], ids=["training-unset", "training-false"])
def test_a_layer_of_yours_in_a_model_called_for_inference_gives_gradients_as_tf_keras(tfk, training):
    """``model(x)`` inside a tape without training=True (TensorFlow's FGSM and saliency tutorials call it so): the
    call runs in inference (Dropout off) and still gives the weights' and the watched input's gradients. A layer of
    yours inside the model kept no record of such a call before ("backward() needs a forward(x, training=True)")."""
    import tensorflow as tf

    def build(lib):
        class Scale(lib.layers.Layer):
            def build(self, shape):
                self.scale = self.add_weight(name="scale", shape=(shape[-1],), initializer="ones")

            def call(self, x, training=None):
                return x * self.scale
        inputs = lib.Input((4,))
        h = lib.layers.Dropout(0.5)(Scale()(lib.layers.Dense(3, activation="tanh")(inputs)))
        return lib.Model(inputs, lib.layers.Dense(1)(h))
    x = RS.rand(5, 4).astype("float32")
    theirs, ours = build(tfk), build(gpunet)
    theirs.layers[2].scale.assign(np.array([0.5, 2.0, -1.0], "float32"))
    ours.set_weights(theirs.get_weights())
    results = []
    for Tape, model, source in ((tf.GradientTape, theirs, tf.constant(x)), (gpunet.GradientTape, ours, x)):
        with Tape(persistent=True) as tape:
            tape.watch(source)
            prediction = model(source, training=training)
            loss = (prediction - 1.0) ** 2
        grads = tape.gradient(loss, model.trainable_weights)
        results.append((np.asarray(prediction), [np.asarray(g) for g in grads], np.asarray(tape.gradient(loss, source))))
    (p_theirs, g_theirs, x_theirs), (p_ours, g_ours, x_ours) = results
    np.testing.assert_allclose(p_ours, p_theirs, rtol=1e-6)  # (Dropout off: inference)
    assert len(g_ours) == len(g_theirs) == 5
    for a, b in zip(g_ours, g_theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * np.abs(b).max())
    # (float32 rounding: a row's small entries carry the error of the largest, up to ~6 here)
    np.testing.assert_allclose(x_ours, x_theirs, rtol=1e-5, atol=1e-6 * np.abs(x_theirs).max())


def _assert_same_penalty_and_gradients(theirs, ours):
    (p_theirs, w_theirs, x_theirs), (p_ours, w_ours, x_ours) = theirs, ours
    assert p_ours == pytest.approx(p_theirs, rel=1e-6) and p_ours > 0
    for a, b in zip(w_ours, w_theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x_ours, x_theirs, rtol=1e-5, atol=1e-6)


def _both_tapes(theirs, ours, include, target_of):
    """For tf.keras's model and gpunet's: ``(sum of model.losses, the weights' gradients, the input's)`` of
    ``target_of(model(x))`` (plus ``model.losses`` where ``include``), from a persistent tape each."""
    import tensorflow as tf
    x = np.random.RandomState(4).rand(5, 4).astype("float32")
    results = []
    for Tape, model, source, total in ((tf.GradientTape, theirs, tf.constant(x), tf.add_n),
                                       (gpunet.GradientTape, ours, x, sum)):
        with Tape(persistent=True) as tape:
            tape.watch(source)
            target = target_of(model(source))
            penalty = float(total(model.losses))
            if include:
                target = target + total(model.losses)
        results.append((penalty, [np.asarray(g) for g in tape.gradient(target, model.trainable_weights)],
                        np.asarray(tape.gradient(target, source))))
    return results


@pytest.mark.parametrize("include", [False, True], ids=["target-without-model-losses", "target-with-model-losses"])
def test_a_layer_of_yours_adds_its_loss_only_where_the_target_includes_it_as_tf_keras(tfk, include):
    """A loss a layer of yours adds inside a model enters the gradients of a target that includes
    ``model.losses``, and no other (an input gradient for a saliency map, a loss left without them), as in
    TensorFlow; gradients of the weights and of the watched input, twice from a persistent tape."""
    import tensorflow as tf

    def build(lib, reduce_sum):
        class Scaled(lib.layers.Layer):
            def build(self, shape):
                self.scale = self.add_weight(name="scale", shape=(shape[-1],), initializer="ones")

            def call(self, x):
                self.add_loss(0.5 * reduce_sum(x * self.scale))
                return x * self.scale
        inputs = lib.Input((4,))
        return lib.Model(inputs, lib.layers.Dense(1)(Scaled()(lib.layers.Dense(3)(inputs))))
    theirs, ours = build(tfk, tf.reduce_sum), build(gpunet, gpunet.ops.sum)
    ours.set_weights(theirs.get_weights())
    (_, w_theirs, x_theirs), (_, w_ours, x_ours) = _both_tapes(theirs, ours, include, lambda p: (p ** 2) * 0.5)
    for a, b in zip(w_ours, w_theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x_ours, x_theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("include", [False, True], ids=["target-without-model-losses", "target-with-model-losses"])
@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_activity_regularizers_in_a_model_count_as_the_target_includes_them_as_tf_keras(tfk, kind, include):
    """An inner layer's activity penalty is in ``model.losses`` inside a tape with its value (a Sequential's call
    failed: "'Dense' object has no attribute '_activity_output'"; a functional model's gave 0) and enters only a
    target that includes it, as in TensorFlow."""
    def build(lib):
        dense = lib.layers.Dense(3, activity_regularizer=lib.regularizers.l2(0.5))
        if kind == "sequential":
            return lib.Sequential([lib.Input((4,)), dense, lib.layers.Dense(1)])
        inputs = lib.Input((4,))
        return lib.Model(inputs, lib.layers.Dense(1)(dense(inputs)))
    theirs, ours = build(tfk), build(gpunet)
    ours.set_weights(theirs.get_weights())
    _assert_same_penalty_and_gradients(*_both_tapes(theirs, ours, include, lambda p: p * 1.5))


@pytest.mark.parametrize("include", [False, True], ids=["target-without-model-losses", "target-with-model-losses"])
def test_a_functional_models_add_loss_counts_as_the_target_includes_it_as_tf_keras(tfk, include):
    """``model.add_loss(symbolic tensor)`` on a functional model (Keras's VAE): in ``model.losses`` inside a tape,
    entering only a target that includes it, as in TensorFlow (it entered every gradient through the model)."""
    def build(lib):
        inputs = lib.Input((4,))
        hidden = lib.layers.Dense(3, activation="tanh")(inputs)
        model = lib.Model(inputs, lib.layers.Dense(1)(hidden))
        model.add_loss(0.25 * lib.backend.mean(lib.backend.square(hidden)))
        return model
    theirs, ours = build(tfk), build(gpunet)
    ours.set_weights(theirs.get_weights())
    _assert_same_penalty_and_gradients(*_both_tapes(theirs, ours, include, lambda p: p * 1.5))
