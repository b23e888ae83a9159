"""Keras 2's ``Dense(n)`` + ``Activation(a)`` trains and predicts on the fused plans, folded
into one Dense layer (gpunet/backend/layer_stack.py), and computes exactly what
``Dense(n, activation=a)`` computes: on the NumPy plan and on the GPU plan (kernels emulated)."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend.dense_plan import DensePlan
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import Activation, Dense, Dropout
from gpunet.models import Sequential
from plan_cases import CASES, data

OPS = {"numpy": lambda emu: B.resolve("numpy"), "gpu": lambda emu: EmulatedCupyBackend(emu)}
PLAN = {"numpy": DensePlan, "gpu": GpuPlan}


def build(case, ops, separate, extra=()):
    """The case's network with each activation as its own layer (``separate``) or in its Dense."""
    sizes, acts, loss, metrics, width, _, _ = CASES[case]
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        layers = []
        for i, (n, act) in enumerate(zip(sizes, acts)):
            first = {"input_dim": width} if i == 0 else {}
            layers += [Dense(n, **first), Activation(act)] if separate else [Dense(n, activation=act, **first)]
        net = Sequential(layers + list(extra))
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss=loss, metrics=list(metrics))
    return net


def train(net, ops, case, epochs=3):
    x, y, sw = data(case)
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(9)
        history = net.fit(x, y, sample_weight=sw, batch_size=CASES[case][5], epochs=epochs, verbose=0)
        return history.history, net.predict(x, batch_size=16, verbose=0), net.evaluate(x, y, verbose=0)


@pytest.mark.parametrize("case", ["pima", "wide-reduced", "softmax-sparse", "mse"])
@pytest.mark.parametrize("backend", ["numpy", "gpu"])
def test_an_activation_layer_trains_folded_into_the_dense_before_it(emulator, backend, case):
    B.set_floatx("float64")
    ops = OPS[backend](emulator)
    joined, separate = build(case, ops, False), build(case, ops, True)
    assert len(separate.layers) == 2 * len(joined.layers)
    for a, b in zip(joined.get_weights(), separate.get_weights()):
        numpy.testing.assert_array_equal(a, b)
    want, got = train(joined, ops, case), train(separate, ops, case)
    assert isinstance(separate._plan, PLAN[backend]), "the fused plan trained it"
    assert want[0] == got[0]  # the histories, bit for bit
    numpy.testing.assert_array_equal(want[1], got[1])
    assert want[2] == got[2]
    for a, b in zip(joined.get_weights(), separate.get_weights()):
        numpy.testing.assert_array_equal(a, b)
    if backend == "gpu":
        assert separate._gpu_forward, "predict and evaluate ran on the GPU inference plan"
    layer_names = [layer["class_name"] for layer in separate.get_config()["layers"]]
    assert layer_names.count("Activation") == len(joined.layers)  # the model itself is unchanged


@pytest.mark.parametrize("backend", ["numpy", "gpu"])
def test_an_activation_that_cannot_fold_runs_layer_by_layer(emulator, backend):
    """After a Dense with an activation of its own (relu then tanh), or after a Dropout (on the
    GPU plan's training step), the Activation layer is run as a layer: the same values as
    the layer path gives, no plan."""
    B.set_floatx("float64")
    ops = OPS[backend](emulator)
    x, y, _ = data("pima")
    nets = []
    for extra in ([Activation("tanh")], [Dropout(0.0), Activation("relu")]):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            net = Sequential([Dense(6, input_dim=8, activation="relu")] + extra + [Dense(1, activation="sigmoid")])
            net.compile(optimizer="sgd", loss="binary_crossentropy")
            net.fit(x, y, batch_size=10, epochs=2, verbose=0)
        nets.append(net)
    assert nets[0]._plan is False
    assert backend == "numpy" or nets[1]._plan is False  # (the NumPy plan takes no Dropout at all)


@pytest.mark.parametrize("backend", ["numpy", "gpu"])
def test_changing_a_folded_activation_rebuilds_the_plan(emulator, backend):
    """An Activation layer given another activation after a fit: the next fit trains with it, as
    a model built with that activation would."""
    B.set_floatx("float64")
    ops = OPS[backend](emulator)
    nets = [build("pima", ops, True), build("pima", ops, True)]
    train(nets[0], ops, "pima", epochs=1)
    train(nets[1], ops, "pima", epochs=1)
    first = nets[0]._plan
    nets[0].layers[1].activation = gpunet.activations.get("tanh")
    with B.use_backend(ops):
        nets[1].layers[1].activation = gpunet.activations.get("tanh")
        nets[1]._plan = None  # built afresh for the model as it now is
    got, want = train(nets[0], ops, "pima"), train(nets[1], ops, "pima")
    assert nets[0]._plan is not first and isinstance(nets[0]._plan, PLAN[backend])
    assert got[0] == want[0]
    numpy.testing.assert_array_equal(got[1], want[1])
