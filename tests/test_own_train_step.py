"""Keras's guide "Customizing what happens in fit" on gpunet: a model of yours with ``train_step``, ``test_step``,
``predict_step`` or ``compute_loss``, written with `gpunet.GradientTape` where the guide writes tf.GradientTape.
Against tf.keras 2.21 running the same code with TensorFlow's tape, from the same weights."""
import numpy as np
import pytest

import gpunet

RS = np.random.RandomState(5)
X = RS.rand(48, 6).astype("float32")
Y = (X[:, :3].sum(1, keepdims=True) > 1.5).astype("float32")


def _guide_class(lib, Tape):
    class CustomModel(lib.Model):
        def train_step(self, data):
            x, y = data
            with Tape() as tape:
                y_pred = self(x, training=True)
                loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
            trainable_vars = self.trainable_variables
            gradients = tape.gradient(loss, trainable_vars)
            self.optimizer.apply_gradients(zip(gradients, trainable_vars))
            self.compiled_metrics.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            x, y = data
            y_pred = self(x, training=False)
            self.compiled_loss(y, y_pred, regularization_losses=self.losses)
            self.compiled_metrics.update_state(y, y_pred)
            return {m.name: m.result() for m in self.metrics}
    return CustomModel


def _functional(lib, cls):
    inputs = lib.layers.Input((6,))
    hidden = lib.layers.Dense(5, activation="relu", kernel_regularizer=lib.regularizers.l2(0.01))(inputs)
    return cls(inputs, lib.layers.Dense(1, activation="sigmoid")(hidden))


def test_the_guides_train_step_and_test_step_match_tf_keras(tfk):
    import tensorflow as tf
    runs = []
    for lib, Tape in ((tfk, tf.GradientTape), (gpunet, gpunet.GradientTape)):
        model = _functional(lib, _guide_class(lib, Tape))
        if runs:
            model.set_weights(runs[0][3])
        start = model.get_weights()
        model.compile(optimizer=lib.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
        history = model.fit(X, Y, batch_size=8, epochs=3, shuffle=False, validation_data=(X[:16], Y[:16]), verbose=0)
        runs.append((model, history.history, model.evaluate(X, Y, verbose=0), start))
    (theirs, their_history, their_eval, _), (ours, our_history, our_eval, _) = runs
    assert sorted(our_history) == sorted(their_history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in their_history:
        np.testing.assert_allclose(our_history[key], their_history[key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(our_eval, their_eval, rtol=1e-5)
    for p, q in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6)


def test_the_guides_lower_level_step_with_metrics_of_its_own(tfk):
    import tensorflow as tf
    runs = []
    for lib, Tape in ((tfk, tf.GradientTape), (gpunet, gpunet.GradientTape)):
        loss_tracker, mae_metric = lib.metrics.Mean(name="loss"), lib.metrics.MeanAbsoluteError(name="mae")

        class CustomModel(lib.Model):
            def train_step(self, data):
                x, y = data
                with Tape() as tape:
                    y_pred = self(x, training=True)
                    loss = lib.losses.mean_squared_error(y, y_pred)
                gradients = tape.gradient(loss, self.trainable_variables)
                self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
                loss_tracker.update_state(loss)
                mae_metric.update_state(y, y_pred)
                return {"loss": loss_tracker.result(), "mae": mae_metric.result()}

            @property
            def metrics(self):  # (reset at each epoch's start by fit)
                return [loss_tracker, mae_metric]
        inputs = lib.layers.Input((6,))
        model = CustomModel(inputs, lib.layers.Dense(1)(inputs))
        if runs:
            model.set_weights(runs[0][2])
        model.compile(optimizer=lib.optimizers.SGD(0.1))
        start = model.get_weights()
        history = model.fit(X, Y, batch_size=12, epochs=3, shuffle=False, verbose=0).history
        runs.append((history, model.get_weights(), start))
    (theirs, their_weights, _), (ours, our_weights, _) = runs
    assert sorted(ours) == ["loss", "mae"]
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, err_msg=key)
    for p, q in zip(our_weights, their_weights):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)


def test_a_compute_loss_of_yours_runs_in_the_default_train_step_as_fit_would_train(ops):
    class Halved(gpunet.Model):
        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
            return super().compute_loss(x, y, y_pred, sample_weight) * 0.5

    def run(cls, lr):
        gpunet.utils.set_random_seed(2)
        inputs = gpunet.layers.Input((6,))
        model = cls(inputs, gpunet.layers.Dense(1, activation="sigmoid")(inputs))
        model.compile(gpunet.optimizers.SGD(lr), "binary_crossentropy", metrics=["accuracy"])
        return model.fit(X, Y, batch_size=16, epochs=2, shuffle=False, verbose=0).history, model.get_weights()
    (mine, mine_weights), (plain, plain_weights) = run(Halved, 0.2), run(gpunet.Model, 0.1)
    # (the loss tracked is compiled_loss's, inside compute_loss: not halved, as in tf.keras 2)
    np.testing.assert_allclose(mine["loss"], plain["loss"], rtol=1e-5)
    np.testing.assert_allclose(mine["accuracy"], plain["accuracy"])
    for p, q in zip(mine_weights, plain_weights):  # (half the loss at twice the rate: the same steps)
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-7)


def test_a_predict_step_of_yours_and_batches_from_a_generator(ops):
    class Labels(gpunet.Model):
        def predict_step(self, data):
            return gpunet.ops.cast(self(data, training=False) > 0.5, "int32")

        def train_step(self, data):
            x, y, weights = gpunet.utils.unpack_x_y_sample_weight(data)
            with gpunet.GradientTape() as tape:
                loss = self.compute_loss(x, y, self(x, training=True), weights)
            self.optimizer.apply_gradients(zip(tape.gradient(loss, self.trainable_weights), self.trainable_weights))
            return {"loss": loss, "rows": float(len(x))}
    inputs = gpunet.layers.Input((6,))
    model = Labels(inputs, gpunet.layers.Dense(1, activation="sigmoid")(inputs))
    model.compile("adam", "binary_crossentropy")

    def batches():
        while True:
            for lo in range(0, 48, 16):
                yield X[lo:lo + 16], Y[lo:lo + 16], np.ones(16, "float32")
    history = model.fit(batches(), steps_per_epoch=3, epochs=2, verbose=0).history
    assert history["rows"] == [16.0, 16.0] and len(history["loss"]) == 2
    labels = model.predict(X, batch_size=20, verbose=0)
    probabilities = gpunet.Model.predict(model, X, verbose=0)  # (not a method of Labels's: no predict_step)
    assert labels.dtype == np.int32 and labels.shape == (48, 1)
    np.testing.assert_array_equal(labels, (probabilities > 0.5).astype("int32"))
    assert model.predict_on_batch(X[:5]).dtype == np.int32


def test_a_gan_of_the_guide_trains_both_networks(ops):
    latent = 3
    generator = gpunet.Sequential([gpunet.Input((latent,)), gpunet.layers.Dense(8, activation="relu"),
                                   gpunet.layers.Dense(6)])
    discriminator = gpunet.Sequential([gpunet.Input((6,)), gpunet.layers.Dense(8, activation="relu"),
                                       gpunet.layers.Dense(1)])

    class GAN(gpunet.Model):
        def __init__(self, discriminator, generator):
            super().__init__()
            self.discriminator, self.generator = discriminator, generator

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

        def train_step(self, real):
            n = real.shape[0]
            noise = gpunet.random.normal((n, latent))
            fake = self.generator(noise)
            combined = gpunet.ops.concatenate([fake, real], axis=0)
            labels = gpunet.ops.concatenate([gpunet.ops.ones((n, 1)), gpunet.ops.zeros((n, 1))], axis=0)
            with gpunet.GradientTape() as tape:
                d_loss = self.loss_fn(labels, self.discriminator(combined))
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            with gpunet.GradientTape() as tape:
                g_loss = self.loss_fn(gpunet.ops.zeros((n, 1)), self.discriminator(self.generator(noise)))
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            return {"d_loss": d_loss, "g_loss": g_loss}

        def call(self, x):
            return self.generator(x)
    gan = GAN(discriminator, generator)
    gan.compile(gpunet.optimizers.Adam(0.01), gpunet.optimizers.Adam(0.01),
                gpunet.losses.BinaryCrossentropy(from_logits=True))
    before_d, before_g = discriminator.get_weights(), generator.get_weights()
    history = gan.fit(X, batch_size=16, epochs=2, verbose=0).history
    assert sorted(history) == ["d_loss", "g_loss"] and all(np.isfinite(history["d_loss"] + history["g_loss"]))
    assert all(np.abs(a - b).max() > 0 for a, b in zip(discriminator.get_weights(), before_d))
    assert all(np.abs(a - b).max() > 0 for a, b in zip(generator.get_weights(), before_g))
    assert gan.d_optimizer.iterations == gan.g_optimizer.iterations == 6


def test_errors_name_what_is_wrong(ops):
    class Mine(gpunet.Model):
        def train_step(self, data):
            return 1.0
    inputs = gpunet.layers.Input((6,))
    model = Mine(inputs, gpunet.layers.Dense(1)(inputs))
    with pytest.raises(RuntimeError, match="compile your model"):
        model.fit(X, Y, verbose=0)
    model.compile("sgd", "mse")
    with pytest.raises(TypeError, match="must return a dict of logs"):
        model.fit(X, Y, verbose=0)
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        model.fit(X, Y, class_weight=[1.0, 2.0], verbose=0)
    with pytest.raises(ValueError, match="only supported for models with a single output.*missing"):
        model.fit(X, class_weight={0: 1.0, 1: 2.0}, verbose=0)
    with pytest.raises(ValueError, match="no entry for class 1"):
        model.fit(X, Y, class_weight={0: 1.0}, verbose=0)


def _weighted_guide_class(lib, Tape):
    """The guide's "Supporting sample_weight & class_weight" model: the step reads a third element when fit
    gives one."""
    class CustomModel(lib.Model):
        def train_step(self, data):
            if len(data) == 3:
                x, y, sample_weight = data
            else:
                sample_weight = None
                x, y = data
            with Tape() as tape:
                y_pred = self(x, training=True)
                loss = self.compiled_loss(y, y_pred, sample_weight=sample_weight, regularization_losses=self.losses)
            trainable_vars = self.trainable_variables
            self.optimizer.apply_gradients(zip(tape.gradient(loss, trainable_vars), trainable_vars))
            self.compiled_metrics.update_state(y, y_pred, sample_weight=sample_weight)
            return {m.name: m.result() for m in self.metrics}
    return CustomModel


@pytest.mark.parametrize("with_sample_weight", [False, True], ids=["class-weight", "class-and-sample-weight"])
def test_class_weight_reaches_the_step_as_sample_weights_as_in_tf_keras(tfk, with_sample_weight):
    """tf.keras 2 folds class_weight into the batch's sample weights before the step sees it (times the
    sample_weight given); the validation data is not weighed by class. (tf.keras 2.21 cannot take
    validation_split with both sample_weight and class_weight, "Cannot convert a partially known TensorShape",
    even for a model of its own steps: that case validates on validation_data.)"""
    import tensorflow as tf
    sw = RS.uniform(0.5, 2.0, len(X)).astype("float32") if with_sample_weight else None
    runs = []
    for lib, Tape in ((tfk, tf.GradientTape), (gpunet, gpunet.GradientTape)):
        model = _functional(lib, _weighted_guide_class(lib, Tape))
        if runs:
            model.set_weights(runs[0][2])
        start = model.get_weights()
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="binary_crossentropy",
                      metrics=["accuracy"], weighted_metrics=["mae"])
        history = model.fit(X, Y, sample_weight=sw, class_weight={0: 0.25, 1: 3.0}, batch_size=8, epochs=3,
                            shuffle=False, verbose=0,
                            **({"validation_data": (X[:12], Y[:12])} if with_sample_weight else {"validation_split": 0.25}))
        runs.append((model, history.history, start))
    (theirs, their_history, _), (ours, our_history, _) = runs
    assert sorted(our_history) == sorted(their_history)
    for key in their_history:
        np.testing.assert_allclose(our_history[key], their_history[key], rtol=1e-5, err_msg=key)
    for p, q in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6)


def test_class_weight_of_one_hot_targets_from_a_sequence_weighs_each_row_by_its_class(ops):
    """One-hot targets take the weight of their argmax's class; batches from a Sequence are weighed as arrays'
    are: the same training as the rows' class weights given as sample_weight."""
    classes = np.eye(3, dtype="float32")[RS.randint(0, 3, len(X))]
    weights = {0: 0.5, 1: 2.0, 2: 1.25}

    class Rows(gpunet.utils.Sequence):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return X[i * 16:(i + 1) * 16], classes[i * 16:(i + 1) * 16]
    runs = []
    for how in ("class_weight", "sample_weight"):
        gpunet.utils.set_random_seed(3)
        inputs = gpunet.layers.Input((6,))
        model = _weighted_guide_class(gpunet, gpunet.GradientTape)(
            inputs, gpunet.layers.Dense(3, activation="softmax")(inputs))
        model.compile(optimizer=gpunet.optimizers.SGD(0.5), loss="categorical_crossentropy")
        if how == "class_weight":
            history = model.fit(Rows(), class_weight=weights, epochs=2, shuffle=False, verbose=0)
        else:
            rows = np.array([weights[c] for c in classes.argmax(1)], "float32")
            history = model.fit(X, classes, sample_weight=rows, batch_size=16, epochs=2, shuffle=False, verbose=0)
        runs.append((history.history["loss"], model.get_weights()))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-6)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert runs[0][0][0] != pytest.approx(runs[0][0][1])  # (it trained)
