"""An optimizer without a fused update kernel on the GPU step plans: Adafactor, your subclass of an optimizer,
Adam with ``adaptive_epsilon`` update by their own ``apply`` between the step's captured graphs
(backend/gpu_optimizer.py, kind "own"), where such a model trained layer by layer on a GPU; the chain's step
and the graph step train as the layer path does (kernels emulated on the CPU, float64), the iteration count
and a scheduled rate followed as there."""
import numpy
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend.gpu_graphs import Between
from gpunet.layers import Add, Dense, Input
from gpunet.models import Model, Sequential
from gpunet.optimizers import SGD, Adafactor, Adam
from gpunet.optimizers.schedules import ExponentialDecay
from test_masked_plans import backend as path_backend


class SignSGD(SGD):
    """Your subclass: each weight moves by the learning rate against its gradient's sign."""

    def _update(self, params, grads, lr, t):
        params -= lr * self.ops.xp.sign(grads)


def chain():
    return Sequential([Dense(12, activation="relu", input_shape=(8,)), Dense(8, activation="relu"),
                       Dense(1, activation="sigmoid")])


def residual():
    i = Input((8,))
    h = Dense(12, activation="relu")(i)
    return Model(i, Dense(1, activation="sigmoid")(Add()([h, Dense(12, activation="tanh")(h)])))


OPTIMIZERS = {"adafactor": lambda: Adafactor(learning_rate=0.05),
              "sign-sgd": lambda: SignSGD(ExponentialDecay(0.01, 4, 0.5)),
              "adam-adaptive-epsilon": lambda: Adam(0.01, adaptive_epsilon=True),
              "sign-sgd-clipnorm": lambda: SignSGD(0.01, clipnorm=0.5)}


def data():
    rng = numpy.random.default_rng(9)
    x = rng.standard_normal((70, 8))
    return x, (x[:, :3].sum(1, keepdims=True) > 0).astype("float64")


def run(path, build, optimizer, emulator):
    x, y = data()
    with B.use_backend(path_backend("numpy" if path == "layer-path" else path, emulator)):
        gpunet.utils.set_random_seed(3)
        model = build()
        model.compile(optimizer=optimizer(), loss="binary_crossentropy", metrics=["accuracy"])
        if path == "layer-path":
            model._train_plan = lambda: None
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False).history
        return model, history


@pytest.mark.parametrize("build, plan", [(chain, "GpuPlan"), (residual, "GpuGraphPlan")], ids=["chain", "residual"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_an_optimizer_without_a_kernel_updates_by_its_own_apply_inside_the_gpu_step(emulator, build, plan, name):
    B.set_floatx("float64")
    ref, ref_history = run("layer-path", build, OPTIMIZERS[name], emulator)
    model, history = run("emulated-gpu", build, OPTIMIZERS[name], emulator)
    assert type(model._plan).__name__ == plan and model._plan.optimizer.kind == "own"
    for step in model._plan._steps.values():
        assert isinstance(step.entries[-1], Between) or any(isinstance(e, Between) for e in step.entries)
    for key in ref_history:
        numpy.testing.assert_allclose(history[key], ref_history[key], rtol=1e-10, atol=1e-12, err_msg=key)
    for g, r in zip(model.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)
    assert model.optimizer.iterations == ref.optimizer.iterations == 15
    assert float(model.optimizer.learning_rate.numpy()) == float(ref.optimizer.learning_rate.numpy())


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["adafactor", "adam-adaptive-epsilon"])
def test_on_a_gpu_an_optimizer_without_a_kernel_updates_inside_the_step(name):
    B.set_floatx("float32")
    ref, ref_history = run("layer-path", chain, OPTIMIZERS[name], None)
    model, history = run("cupy", chain, OPTIMIZERS[name], None)
    assert type(model._plan).__name__ == "GpuPlan" and model._plan.optimizer.kind == "own"
    for key in ref_history:
        numpy.testing.assert_allclose(history[key], ref_history[key], rtol=2e-5, atol=1e-6, err_msg=key)
    for g, r in zip(model.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=2e-4, atol=1e-5)
