"""Ops on symbolic tensors (``x * 0.5``, ``K.tanh(h)``, ``K.concatenate``: tf.keras 2's TFOpLambda layers)
and ``Lambda`` layers inside the fused graph steps: NumPy's graph plan and the GPU's graph step and forward
plan (kernels emulated on the CPU) run each such call by its own code on the tape, as the layer path runs
it, its inputs that are the model's own marked as taking no gradient (a loss function's ``y_true``), and
the Dense layers around it in their own buffers and kernels. Such a model trained layer by layer before.
A layer of your own keeps the layer path (its call may add a loss the step would not see)."""
import numpy
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet import backend as K
from gpunet.backend.gpu_graphs import Between
from gpunet.layers import Dense, Input, Lambda
from test_masked_plans import run as masked_plans_run

N = 101


def data():
    rng = numpy.random.default_rng(4)
    x = rng.standard_normal((N, 8))
    return x, (x[:, :3].sum(1, keepdims=True) > 0).astype("float64")


def arithmetic():
    """Operators and backend functions on symbolic tensors around Dense layers, and a Lambda."""
    i = Input((8,))
    h = Dense(12, activation="relu")(i * 0.5)
    h = Lambda(lambda t: t * t)(h) + Dense(12)(i)
    return gpunet.Model(i, Dense(1, activation="sigmoid")(K.tanh(h)))


def loss_of_the_input():
    """A loss function with the model's input as its y_true (no gradient flows to it), as a feature."""
    i = Input((8,))
    rec = Dense(8, activation="sigmoid")(Dense(3, activation="relu")(i))
    err = K.mean(K.binary_crossentropy(i, rec), axis=-1, keepdims=True)
    return gpunet.Model(i, Dense(1, activation="sigmoid")(K.concatenate([rec, err], axis=-1)))


# name: (builder, calls by their own code: forward entries, backward entries in the GPU step)
CASES = {"arithmetic": (arithmetic, (4, 3)), "loss-of-the-input": (loss_of_the_input, (3, 3))}


def run(path, build, emulator=None, data=data):
    """(model, History dict, predictions, evaluate's results) on ``path``: test_masked_plans.run's."""
    return masked_plans_run(path, build, data, emulator)


def assert_alike(got, ref, tol):
    for key in ref[1]:
        numpy.testing.assert_allclose(got[1][key], ref[1][key], rtol=tol, atol=tol, err_msg=key)
    numpy.testing.assert_allclose(got[2], ref[2], rtol=tol * 10, atol=tol)
    numpy.testing.assert_allclose(got[3], ref[3], rtol=tol, atol=tol)
    for g, r in zip(got[0].get_weights(), ref[0].get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol)


def assert_graph_steps_train_as_the_layer_path(emulator, build, own_calls, data=data):
    """float64: ``build()`` trains on NumPy's graph plan and the emulated GPU's graph step and forward plan as
    on the layer path, the GPU step holding ``own_calls`` (forward entries, backward entries) of own code."""
    B.set_floatx("float64")
    ref = run("layer-path", build, data=data)
    got = {path: run(path, build, emulator, data) for path in ("numpy", "emulated-gpu")}
    assert type(got["numpy"][0]._plan).__name__ == "GraphPlan"
    gpu = got["emulated-gpu"][0]
    assert type(gpu._plan).__name__ == "GpuGraphPlan" and type(gpu._gpu_forward).__name__ == "GpuGraphForward"
    for step in gpu._plan._steps.values():
        assert sum(isinstance(e, Between) for e in step.entries) == sum(own_calls) and step.capturable
    for run_ in got.values():
        assert_alike(run_, ref, 1e-10)
    assert ref[1]["loss"][-1] < ref[1]["loss"][0]


def assert_gpu_graph_step_trains_as_the_layer_path(build, data=data):
    """float32 on a real GPU: ``build()`` trains on the GPU graph step as on the layer path."""
    B.set_floatx("float32")
    got, ref = run("cupy", build, data=data), run("layer-path", build, data=data)
    assert type(got[0]._plan).__name__ == "GpuGraphPlan"
    assert_alike(got, ref, 2e-5)


@pytest.mark.parametrize("case", sorted(CASES))
def test_ops_and_lambdas_train_inside_the_graph_steps_as_on_the_layer_path(emulator, case):
    assert_graph_steps_train_as_the_layer_path(emulator, *CASES[case])


@pytest.mark.gpu
def test_on_a_gpu_ops_and_lambdas_train_on_the_graph_step_as_on_the_layer_path():
    assert_gpu_graph_step_trains_as_the_layer_path(arithmetic)
