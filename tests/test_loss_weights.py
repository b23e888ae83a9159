"""compile's ``loss_weights`` on a model of one output: tf.keras 2 multiplies the loss by it (a number, a list of
one, a dict of one), trained and logged; gpunet used to ignore it (losses/weighted.py)."""
import numpy
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.layers import Dense, Input
from gpunet.models import Model, Sequential, load_model
from test_masked_plans import backend as path_backend


def data():
    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((60, 5))
    return x, (x[:, :2].sum(1) > 0).astype("float64")[:, None]


def sequential():
    gpunet.utils.set_random_seed(2)
    return Sequential([Input((5,)), Dense(6, activation="relu"), Dense(1, activation="sigmoid", name="out")])


def functional():
    gpunet.utils.set_random_seed(2)
    inputs = Input((5,))
    return Model(inputs, Dense(1, activation="sigmoid", name="out")(Dense(6, activation="relu")(inputs)))


def train(path, emulator, build, rate, **compiled):
    x, y = data()
    with B.use_backend(path_backend("numpy" if path == "layer-path" else path, emulator)):
        model = build()
        model.compile(optimizer=gpunet.optimizers.SGD(rate), loss="binary_crossentropy", metrics=["accuracy"],
                      **compiled)
        if path == "layer-path":
            model._train_plan = lambda: None
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False).history
        return model, history, model.evaluate(x, y, verbose=0)


@pytest.mark.parametrize("path", ["layer-path", "numpy", "emulated-gpu"])
@pytest.mark.parametrize("build, weights", [(sequential, [0.25]), (sequential, 0.25), (functional, {"out": 0.25})],
                         ids=["sequential-list", "sequential-number", "functional-dict"])
def test_a_loss_weight_scales_the_loss_trained_and_logged(emulator, path, build, weights):
    """SGD on w * loss at rate r takes the steps of SGD on the loss at rate w * r: the same weights, and the
    logged loss w times the other's (the accuracy the same)."""
    B.set_floatx("float64")
    model, history, evaluated = train(path, emulator, build, 0.4, loss_weights=weights)
    ref, ref_history, ref_evaluated = train(path, emulator, build, 0.1)
    numpy.testing.assert_allclose(history["loss"], 0.25 * numpy.array(ref_history["loss"]), rtol=1e-10)
    assert history["accuracy"] == ref_history["accuracy"]
    numpy.testing.assert_allclose(evaluated, [0.25 * ref_evaluated[0], ref_evaluated[1]], rtol=1e-10)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_the_weight_is_saved_with_the_training_config(tmp_path):
    x, y = data()
    model = sequential()
    model.compile("sgd", loss="mse", loss_weights=[0.5])
    path = str(tmp_path / "weighted.h5")
    model.save(path)
    loaded = load_model(path)
    numpy.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)
    plain = sequential()
    plain.compile("sgd", loss="mse")
    numpy.testing.assert_allclose(model.evaluate(x, y, verbose=0), 0.5 * plain.evaluate(x, y, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("weights", [[1.0, 0.5], {"a": 1.0, "b": 2.0}, "heavy", [True]])
def test_weights_that_are_not_one_number_are_refused_by_name(weights):
    model = sequential()
    with pytest.raises(ValueError, match="loss_weights for a model of one output must be a number"):
        model.compile("sgd", loss="mse", loss_weights=weights)
    assert model.optimizer is None  # (nothing compiled)
