"""fit/evaluate options not covered elsewhere: validation_data, activity regularization,
validation_freq, shuffle=False, and Keras's handling of trainable after compile."""
import numpy as np
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.models import Sequential
from gpunet.layers import Dense
from gpunet import regularizers


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3))
    return x, (x[:, 0] > 0).astype("float64")


def test_validation_data_gives_val_keys_equal_to_evaluate():
    x, y = data()
    vx, vy = data(17, seed=1)
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    h = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_data=(vx, vy))
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    loss, acc = model.evaluate(vx, vy, batch_size=8, verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(loss, rel=1e-6)
    assert h.history["val_accuracy"][-1] == acc
    with pytest.raises(ValueError, match="validation_data must be a tuple"):
        model.fit(x, y, verbose=0, validation_data=vx)


@pytest.mark.parametrize("weights", [False, True], ids=["class weights", "and sample weights"])
def test_class_weights_weigh_the_training_rows_not_the_validation_split(ops, weights):
    """tf.keras 2 weights the training loss by class, not validation_split's rows (gpunet weighted those too:
    the fuzz against tf.keras 2.21 found it); sample weights go with their rows into validation, as there."""
    x, y = data(50)
    sw = np.linspace(0.5, 2.0, 50)
    model = Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="sgd", metrics=["accuracy"])
    h = model.fit(x, y, epochs=1, batch_size=50, verbose=0, validation_split=0.2, class_weight={0: 1.0, 1: 4.0},
                  sample_weight=sw if weights else None)
    loss, accuracy = model.evaluate(x[40:], y[40:], sample_weight=sw[40:] if weights else None, batch_size=50,
                                    verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(loss, rel=1e-6) and h.history["val_accuracy"][0] == accuracy


def test_validation_freq_only_validates_on_those_epochs():
    x, y = data()
    model = Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam")
    seen = []
    cb = gpunet.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append("val_loss" in logs))
    model.fit(x, y, epochs=4, verbose=0, validation_split=0.25, validation_freq=2, callbacks=[cb])
    assert seen == [False, True, False, True]


def test_activity_regularizer_adds_mean_penalty_to_loss_in_fit_and_evaluate():
    x, y = data(10)
    model = Sequential([Dense(2, input_dim=3, activity_regularizer=regularizers.l2(0.5),
                              kernel_initializer="ones"),
                        Dense(1, activation="sigmoid", kernel_initializer="ones")])
    model.compile(loss="binary_crossentropy", optimizer="sgd")
    plain = Sequential([Dense(2, input_dim=3, kernel_initializer="ones"),
                        Dense(1, activation="sigmoid", kernel_initializer="ones")])
    plain.compile(loss="binary_crossentropy", optimizer="sgd")
    hidden = x @ np.ones((3, 2))
    penalty = 0.5 * (hidden.astype("float32") ** 2).sum() / len(x)  # Keras: sum / batch size
    got, want = model.evaluate(x, y, batch_size=10, verbose=0), plain.evaluate(x, y, batch_size=10, verbose=0)
    assert got == pytest.approx(want + penalty, rel=1e-5)
    first = model.fit(x, y, epochs=1, batch_size=10, verbose=0, shuffle=False).history["loss"][0]
    assert first == pytest.approx(want + penalty, rel=1e-5)


@pytest.mark.parametrize("layer", ["LayerNormalization", "Activation", "Dropout"])
def test_any_layer_takes_an_activity_regularizer_as_tf_keras_base_layer_does(layer):
    """tf.keras 2's base Layer takes ``activity_regularizer=`` for every layer: its penalty on the layer's
    output (sum / batch size) enters the loss, as Dense's does."""
    x, y = data(10)
    make = {"LayerNormalization": lambda **k: gpunet.layers.LayerNormalization(**k),
            "Activation": lambda **k: gpunet.layers.Activation("tanh", **k),
            "Dropout": lambda **k: gpunet.layers.Dropout(0.5, **k)}[layer]
    losses = []
    for kwargs in ({"activity_regularizer": "l2"}, {}):
        model = Sequential([Dense(2, input_dim=3, kernel_initializer="ones"), make(**kwargs),
                            Dense(1, activation="sigmoid", kernel_initializer="ones")])
        model.compile(loss="binary_crossentropy", optimizer="sgd")
        losses.append(model.evaluate(x, y, batch_size=10, verbose=0))
        if kwargs:
            assert model.layers[1].activity_regularizer.get_config()["l2"] == pytest.approx(0.01)
            hidden = model.ops.to_host(model.layers[1](model.layers[0](x)))  # (inference: Dropout is the identity)
    assert losses[0] == pytest.approx(losses[1] + 0.01 * (hidden ** 2).sum() / len(x), rel=1e-5)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        make(activity_regulariser="l2")


def test_activity_regularizer_gradient_pulls_activations_down():
    x, y = data(30)
    after = {}
    for reg in (None, regularizers.l1(1.0)):
        gpunet.utils.set_random_seed(1)
        model = Sequential([Dense(4, input_dim=3, activity_regularizer=reg), Dense(1, activation="sigmoid")])
        model.compile(loss="binary_crossentropy", optimizer=gpunet.optimizers.Adam(0.05))
        model.fit(x, y, epochs=30, verbose=0)
        after[reg is None] = float(np.abs(model.ops.to_host(model.layers[0](x))).mean())
    # without the penalty the hidden activations grow; with it they shrink towards 0
    assert after[True] > 1.0 and after[False] < 0.15


def test_shuffle_false_is_order_preserving_and_differs_from_shuffled():
    x, y = data(32)
    runs = {}
    for shuffle in (False, True):
        gpunet.utils.set_random_seed(3)
        m = Sequential([Dense(1, input_dim=3, activation="sigmoid")])
        m.compile(loss="binary_crossentropy", optimizer="sgd")
        m.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=shuffle)
        runs[shuffle] = m.get_weights()[0]
    gpunet.utils.set_random_seed(3)
    m = Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    m.compile(loss="binary_crossentropy", optimizer="sgd")
    for lo in range(0, 32, 4):
        m.train_on_batch(x[lo:lo + 4], y[lo:lo + 4])
    assert np.array_equal(m.get_weights()[0], runs[False])
    assert not np.array_equal(runs[False], runs[True])


def test_freezing_a_layer_then_recompiling_keeps_it_fixed():
    x, y = data()
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1, activation="sigmoid")])
    model.layers[0].trainable = False
    model.compile(loss="binary_crossentropy", optimizer="adam")
    frozen = model.layers[0].get_weights()
    model.fit(x, y, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(frozen, model.layers[0].get_weights()))
    assert not np.array_equal(model.layers[1].get_weights()[0], np.zeros((4, 1)))


def test_any_layer_takes_initial_weights_as_keras_2s_base_layer_does():
    """Keras 2's ``Dense(2, weights=[w, b])``: the layer's weights once built (tf.keras 2 sets them after
    build); a list that does not fit says what was expected, when the layer is built."""
    w, b = np.arange(6.0).reshape(3, 2), np.array([0.5, -0.5])
    gamma, beta = np.full(2, 2.0), np.full(2, 0.25)
    model = Sequential([Dense(2, input_dim=3, weights=[w, b]),
                        gpunet.layers.LayerNormalization(weights=[gamma, beta])])
    got = model.get_weights()
    for a, want in zip(got, [w, b, gamma, beta]):
        np.testing.assert_array_equal(a, want)
    assert model.layers[0]._initial_weights is None  # (set once, not again at a rebuild)
    with pytest.raises(ValueError, match="expects 2 weight arrays, received 1"):
        Sequential([Dense(2, input_dim=3, weights=[w])])


def test_on_the_gpu_a_dropout_with_an_activity_regularizer_keeps_its_penalty_in_evaluate(emulator):
    """The GPU forward plan leaves out the layers that are the identity in inference, but not one with an
    activity regularizer: its penalty enters evaluate's loss there too (emulated kernels, as NumPy)."""
    x, y = data(10)
    got = []
    for ops, reg in ((EmulatedCupyBackend(emulator), "l2"), (B.resolve("numpy"), "l2"), (B.resolve("numpy"), None)):
        with B.use_backend(ops):
            model = Sequential([Dense(2, input_dim=3, kernel_initializer="ones"),
                                gpunet.layers.Dropout(0.5, activity_regularizer=reg),
                                Dense(1, activation="sigmoid", kernel_initializer="ones")])
            model.compile(loss="binary_crossentropy", optimizer="sgd")
            got.append(model.evaluate(x, y, batch_size=10, verbose=0))
    assert got[0] == pytest.approx(got[1], rel=1e-6) and got[1] > got[2] + 0.01
