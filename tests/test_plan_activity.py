"""Activity regularizers of Dense layers in NumPy's fused steps (gpunet/backend/dense_plan.py, and graph_plan.py for
a graph that is not a chain): the penalty of each layer's output over the batch's rows in the step's loss, its
gradient added before the activation's backward, as the layer path does (gpunet/models/engine.py, graph_run.py) --
hidden layers with dropout or a normalization after them, the output layer (its sigmoid no longer fused with the
loss), a regularizer of your own, Keras's blog's sparse autoencoder, a residual graph; epoch and batch logs,
short last batches, train_on_batch."""
import numpy
import pytest

import gpunet
from gpunet import backend as B
from gpunet.backend.dense_plan import DensePlan
from gpunet.backend.graph_plan import GraphPlan
from gpunet.layers import Add, BatchNormalization, Dense, Dropout, Input
from gpunet.models import Model, Sequential
from gpunet.regularizers import L1, L2, L1L2
from plan_cases import data
from test_kernel_activity_regularizers import Halved


def dropped(regs):
    first, second, last = regs
    return Sequential([Dense(12, input_dim=8, activation="relu", activity_regularizer=first), Dropout(0.2),
                       Dense(8, activation="tanh", activity_regularizer=second),
                       Dense(1, activation="sigmoid", activity_regularizer=last)])


def normalized(regs):
    first, second, last = regs
    return Sequential([Dense(12, input_dim=8, activity_regularizer=first), BatchNormalization(),
                       Dense(8, activation="elu", activity_regularizer=second), Dropout(0.1),
                       Dense(1, activation="sigmoid", activity_regularizer=last)])


def autoencoder(regs):
    inputs = Input(shape=(8,))
    code = Dense(4, activation="relu", activity_regularizer=regs[0])(inputs)
    return Model(inputs, Dense(8, activation="sigmoid", activity_regularizer=regs[2])(code))


def residual(regs):
    """Not a chain: NumPy's graph step (gpunet/backend/graph_plan.py), the penalties at each Dense call."""
    first, second, last = regs
    inputs = Input(shape=(8,))
    h = Dense(12, activation="relu", activity_regularizer=first)(inputs)
    joined = Add()([h, Dense(12, activation="tanh", activity_regularizer=second)(h)])
    return Model(inputs, Dense(1, activation="sigmoid", activity_regularizer=last)(joined))


CASES = {
    "hidden-l1-l2": (dropped, (L1(0.01), L2(0.02), None)),
    "output-too": (dropped, (L1(0.01), None, L1L2(l1=0.01, l2=0.05))),
    "before-batchnorm": (normalized, (L1(0.02), L2(0.01), None)),
    "users-regularizer": (normalized, (None, Halved(l1=0.01, l2=0.03), Halved(l2=0.1))),
    "sparse-autoencoder": (autoencoder, (L1(1e-3), None, None)),
    "residual-graph": (residual, (L1(0.01), L2(0.02), L1L2(l1=0.01, l2=0.05))),
    "residual-graph-hidden": (residual, (None, L1(0.03), None)),
}


def fit(case, plan, batch_logs=False, regs=None):
    """Batches of 10, then 32 (101 samples: short last batches), evaluate, train_on_batch; with ``plan``
    False the layer path trains."""
    build, case_regs = CASES[case]
    x, y, _ = data("pima")
    if build is autoencoder:
        y = 1.0 / (1.0 + numpy.exp(-x))
    seen, steps = [], []
    callbacks = [gpunet.callbacks.LambdaCallback(on_batch_end=lambda b, logs: seen.append(logs["loss"]))]
    gpunet.utils.set_random_seed(5)
    net = build(case_regs if regs is None else regs)
    net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy", metrics=["mae"])
    if not plan:
        net._train_plan = lambda: None
    else:
        original = type(net._train_plan()).step  # (built: its steps counted below)

    histories = []
    for batch_size in (10, 32):
        gpunet.utils.set_random_seed(9)
        if plan:
            net._plan.step = lambda lo, hi, p=net._plan: (steps.append(hi - lo), original(p, lo, hi))
        histories.append(net.fit(x, y, batch_size=batch_size, epochs=2, verbose=0,
                                 callbacks=callbacks if batch_logs else []).history)
    on_batch = net.train_on_batch(x[:7], y[:7])
    return net, histories, seen, net.evaluate(x, y, verbose=0), on_batch, steps


@pytest.fixture(autouse=True)
def numpy_backend():
    """NumPy's plan whatever "auto" picks (the GPU's: tests/test_kernel_activity_regularizers.py)."""
    with B.use_backend(B.resolve("numpy")):
        yield


@pytest.mark.parametrize("batch_logs", [False, True], ids=["epoch-logs", "batch-logs"])
@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_fused_step_adds_activity_penalties_as_the_layer_path(case, floatx, batch_logs):
    B.set_floatx(floatx)
    got, ref = fit(case, True, batch_logs), fit(case, False, batch_logs)
    assert isinstance(got[0]._plan, DensePlan) and not isinstance(ref[0]._plan, DensePlan)
    assert isinstance(got[0]._plan, GraphPlan) == (CASES[case][0] is residual)
    n = data("pima")[0].shape[0]
    assert len(got[5]) == 2 * (-(-n // 10) + -(-n // 32)) + 1, "every step (train_on_batch's too) ran in the plan"
    tol = 1e-10 if floatx == "float64" else 2e-5
    for g, r in zip(got[1], ref[1]):
        for key in r:
            numpy.testing.assert_allclose(g[key], r[key], rtol=tol, err_msg=key)
    numpy.testing.assert_allclose(got[2], ref[2], rtol=tol)
    assert len(got[2]) == (len(got[5]) - 1 if batch_logs else 0)
    weights = list(zip(got[0].get_weights(), ref[0].get_weights()))
    if floatx == "float32" and CASES[case][0] is normalized:
        # (the bias before the BatchNormalization has a gradient of rounding noise, which Adam scales to whole
        # steps: the two paths' float32 runs part there after some 50 steps, with activity regularizers or without)
        tol, weights = 1e-3, weights[:1] + weights[2:]
    numpy.testing.assert_allclose(got[3], ref[3], rtol=tol)
    numpy.testing.assert_allclose(got[4], ref[4], rtol=tol)
    for g, r in weights:
        numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol)


def test_the_penalty_raises_the_loss_and_its_gradient_moves_the_weights():
    B.set_floatx("float64")
    with_regs, plain = fit("output-too", True), fit("output-too", True, regs=(None, None, None))
    assert with_regs[1][0]["loss"][0] > plain[1][0]["loss"][0] + 1e-3
    assert not numpy.allclose(with_regs[0].get_weights()[0], plain[0].get_weights()[0])
    assert plain[0]._plan.fused and not with_regs[0]._plan.fused  # (sigmoid + cross-entropy fused without one)


def test_a_shared_layer_or_a_nested_models_penalty_keeps_the_layer_path():
    """A Dense called twice with an activity regularizer (a penalty per call), and one inside a nested model
    (whose own code the graph step would run without it): the layer path, as before."""
    inputs = Input(shape=(8,))
    shared = Dense(4, activity_regularizer=L1(0.1))
    twice = Model(inputs, Dense(1)(Add()([shared(inputs), shared(Dense(8)(inputs))])))
    inner = Sequential([Dense(4, input_dim=8, activity_regularizer=L1(0.1)), Dense(4)])
    nested = Model(inputs, Dense(1)(Add()([inner(inputs), Dense(4)(inputs)])))
    for model in (twice, nested):
        model.compile(optimizer="sgd", loss="mse")
        assert model._train_plan() is None
