"""BatchNormalization inside NumPy's fused step (backend/dense_plan.py, backend/norm_chain.py): a
Keras MLP with normalization between its Dense layers trains on the plan exactly as on the layer
path, resumes bit for bit from a saved file, and follows changes to the layer."""
import numpy
import pytest

import gpunet
from gpunet import backend as B
from gpunet.backend.dense_plan import DensePlan
from gpunet.layers import Activation, BatchNormalization, Dense, Dropout
from gpunet.models import Sequential, load_model

@pytest.fixture(autouse=True)
def numpy_backend():
    """These tests are about NumPy's fused step by name ("auto" picks CuPy on a GPU machine)."""
    with B.use_backend("numpy") as backend:
        yield backend


MODELS = {
    "dense-bn-relu": lambda: [Dense(12, input_dim=8), BatchNormalization(), Activation("relu"),
                              Dense(8), BatchNormalization(momentum=0.9), Activation("tanh"),
                              Dense(1, activation="sigmoid")],
    "bn-after-activation-then-dropout": lambda: [Dense(12, input_dim=8, activation="elu"),
                                                 BatchNormalization(center=False), Dropout(0.3),
                                                 Dense(1, activation="sigmoid")],
    "regularized-gamma-softmax": lambda: [Dense(10, input_dim=8), BatchNormalization(
        scale=True, gamma_regularizer="l2", beta_constraint=gpunet.constraints.MaxNorm(0.5)), Activation("relu"),
        BatchNormalization(scale=False), Dense(3, activation="softmax")],
}


def data(name):
    rng = numpy.random.default_rng(4)
    x = rng.standard_normal((57, 8)) * 2 + 1
    if name == "regularized-gamma-softmax":
        return x, numpy.eye(3)[rng.integers(0, 3, 57)], "categorical_crossentropy"
    return x, (rng.random((57, 1)) > 0.5) * 1.0, "binary_crossentropy"


def train(name, plan, epochs=3):
    x, y, loss = data(name)
    gpunet.utils.set_random_seed(5)
    net = Sequential(MODELS[name]())
    net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss=loss, metrics=["accuracy"])
    if not plan:
        net._plan = False  # what a model outside the plan gets: the layer path
    seen = []
    log = gpunet.callbacks.LambdaCallback(on_batch_end=lambda b, logs: seen.append(logs["loss"]))
    gpunet.utils.set_random_seed(9)
    history = net.fit(x, y, batch_size=10, epochs=epochs, verbose=0, callbacks=[log] if plan else []).history
    return net, history, net.evaluate(x, y, verbose=0), seen


@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_normalized_models_train_on_the_plan_as_on_the_layer_path(name, floatx):
    B.set_floatx(floatx)
    net, history, scores, seen = train(name, plan=True)
    ref, ref_history, ref_scores, _ = train(name, plan=False)
    assert isinstance(net._plan, DensePlan) and ref._plan is False
    assert len(seen) == 3 * 6  # batch logs came from the plan too
    tol = 1e-10 if floatx == "float64" else 2e-5
    for key in ref_history:
        numpy.testing.assert_allclose(history[key], ref_history[key], rtol=tol, err_msg=key)
    numpy.testing.assert_allclose(scores, ref_scores, rtol=tol)
    for g, r, w in zip(net.get_weights(), ref.get_weights(), ref.weights):
        # a bias right before a BatchNormalization gets a gradient of pure rounding noise (the batch
        # mean removes it), which Adam scales to full steps in float32, the moving mean carrying it
        feeds_norm = any(w is getattr(l, "bias", None) for i, l in enumerate(ref.layers[:-1])
                         if isinstance(ref.layers[i + 1], BatchNormalization))
        if floatx == "float64" or not (feeds_norm or "moving_mean" in w.path):
            numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol, err_msg=w.path)


def test_a_normalized_model_resumes_bit_for_bit_through_a_saved_file(tmp_path):
    B.set_floatx("float32")
    x, y, _ = data("dense-bn-relu")
    straight, _, _, _ = train("dense-bn-relu", plan=True, epochs=4)
    first, _, _, _ = train("dense-bn-relu", plan=True, epochs=2)
    first.save(tmp_path / "m.h5")
    resumed = load_model(tmp_path / "m.h5")
    resumed.fit(x, y, batch_size=10, epochs=4, initial_epoch=2, verbose=0)
    assert isinstance(resumed._plan, DensePlan)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        numpy.testing.assert_array_equal(a, b)


def test_a_changed_momentum_or_a_frozen_layer_is_followed():
    B.set_floatx("float64")
    x, y, _ = data("dense-bn-relu")
    runs = []
    for plan in (True, False):
        net, _, _, _ = train("dense-bn-relu", plan=plan, epochs=1)
        built = net._plan
        net.layers[1].momentum = 0.5
        if not plan:
            net._plan = False
        history = net.fit(x, y, batch_size=10, epochs=1, verbose=0).history
        if plan:
            assert isinstance(net._plan, DensePlan) and net._plan is not built
        net.layers[4].trainable = False
        net.compile(optimizer="sgd", loss="binary_crossentropy")
        frozen = net.fit(x, y, batch_size=10, epochs=1, verbose=0).history
        # a frozen BatchNormalization: not the chain's plan; the graph step runs it by its own code
        assert type(net._plan).__name__ == "GraphPlan"
        runs.append((history, frozen, net.get_weights()))
    for got, ref in zip(runs[0][:2], runs[1][:2]):
        numpy.testing.assert_allclose(got["loss"], ref["loss"], rtol=1e-10)
    for g, r in zip(runs[0][2], runs[1][2]):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-10)
