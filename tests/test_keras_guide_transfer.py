"""The tf.keras 2 guide "Transfer learning & fine-tuning", its Keras parts: freezing layers and
nested models, and a base model called with ``training=False``, which keeps its BatchNormalization
in inference mode even once unfrozen for fine-tuning (Keras bakes a call's ``training`` argument
into the graph; ``training=True`` likewise keeps a Dropout active in ``predict``: Monte Carlo
dropout). Against tf.keras 2.21, in memory and through files."""
import numpy as np
import pytest

import gpunet as keras
from gpunet.models import load_model

from graph_gradients import assert_trains_alike

RNG = np.random.default_rng(0)
X = RNG.random((64, 8)).astype("float32")
Y = (X.sum(1, keepdims=True) > 4).astype("float32")


def test_frozen_layers_and_models_keep_their_weights():
    layer = keras.layers.Dense(3)
    layer.build((None, 4))
    layer.trainable = False
    assert (len(layer.weights), len(layer.trainable_weights), len(layer.non_trainable_weights)) == (2, 0, 2)
    layer1, layer2 = keras.layers.Dense(3, activation="relu"), keras.layers.Dense(3, activation="sigmoid")
    model = keras.Sequential([keras.Input(shape=(3,)), layer1, layer2])
    layer1.trainable = False
    before = layer1.get_weights() + layer2.get_weights()
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.random.random((2, 3)), np.random.random((2, 3)), verbose=0)
    after = layer1.get_weights() + layer2.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before[:2], after[:2]))
    assert not np.array_equal(before[2], after[2])
    inner_model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(3, activation="relu"),
                                    keras.layers.Dense(3, activation="relu")])
    model = keras.Sequential([keras.Input(shape=(3,)), inner_model, keras.layers.Dense(3, activation="sigmoid")])
    model.trainable = False
    assert inner_model.trainable is False and inner_model.layers[0].trainable is False


def _fine_tuned(lib):
    base_model = lib.Sequential([lib.Input(shape=(8,)), lib.layers.Dense(16), lib.layers.BatchNormalization(),
                                 lib.layers.Activation("relu")], name="base")
    inputs = lib.Input(shape=(8,))
    x = base_model(inputs, training=False)
    outputs = lib.layers.Dense(1)(x)
    return base_model, lib.Model(inputs, outputs)


def test_a_base_model_called_in_inference_mode_stays_so_when_fine_tuned(tfk, tmp_path):
    (base, model), (ref_base, ref) = _fine_tuned(keras), _fine_tuned(tfk)
    model.set_weights(ref.get_weights())
    stats = base.layers[1].get_weights()[2:]
    for m, b, lib in ((model, base, keras), (ref, ref_base, tfk)):
        b.trainable = False
        m.compile(optimizer=lib.optimizers.SGD(0.05), loss=lib.losses.BinaryCrossentropy(from_logits=True))
    assert_trains_alike(model, ref, X, Y, epochs=2)
    for m, b, lib in ((model, base, keras), (ref, ref_base, tfk)):
        b.trainable = True  # fine-tuning: recompiled, as the guide says
        m.compile(optimizer=lib.optimizers.SGD(0.01), loss=lib.losses.BinaryCrossentropy(from_logits=True))
    assert_trains_alike(model, ref, X, Y, epochs=2)
    gamma, beta, moving_mean, moving_variance = base.layers[1].get_weights()
    assert not np.array_equal(gamma, np.ones_like(gamma))  # it trains...
    np.testing.assert_array_equal(moving_mean, stats[0])  # ...but its statistics stay the pretrained ones
    np.testing.assert_array_equal(moving_variance, stats[1])
    for path in ("tuned.h5", "tuned.keras"):
        model.save(tmp_path / path)
        back = load_model(tmp_path / path)
        assert [n.training for n in back._nodes if n.layer.name == "base"] == [False]
        np.testing.assert_array_equal(back.predict(X, verbose=0), model.predict(X, verbose=0))
    config = tfk.models.load_model(tmp_path / "tuned.h5").get_config()
    assert [l["inbound_nodes"][0][0][3] for l in config["layers"] if l["name"] == "base"] == [{"training": False}]
    ref.save(tmp_path / "tf.h5")
    back = load_model(tmp_path / "tf.h5")
    assert [n.training for n in back._nodes if n.layer.name == "base"] == [False]


def test_dropout_called_with_training_true_stays_active_in_predict():
    """Monte Carlo dropout: two predictions differ; the same model without the argument repeats."""
    inputs = keras.Input(shape=(8,))
    hidden = keras.layers.Dense(32, activation="relu")(inputs)
    mc = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dropout(0.5)(hidden, training=True)))
    plain = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dropout(0.5)(hidden)))
    assert not np.array_equal(mc.predict(X, verbose=0), mc.predict(X, verbose=0))
    assert not np.array_equal(mc(X).numpy(), mc(X).numpy())
    np.testing.assert_array_equal(plain.predict(X, verbose=0), plain.predict(X, verbose=0))
    assert mc.get_config()["layers"][-2]["inbound_nodes"] == [[["dense", 0, 0, {"training": True}]]]


@pytest.mark.parametrize("value", ["yes", 1])
def test_a_config_with_a_non_boolean_training_argument_is_refused(value):
    from gpunet.saving.errors import InvalidConfigError
    inputs = keras.Input(shape=(2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    config = model.get_config()
    config["layers"][1]["inbound_nodes"][0][0][3] = {"training": value}
    with pytest.raises(InvalidConfigError, match="a call's training argument must be true, false or null"):
        keras.Model.from_config(config)
