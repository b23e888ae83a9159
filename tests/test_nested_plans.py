"""A model nested in another (the transfer-learning guide's base model) inside the fused steps: NumPy's
graph plan and the GPU's graph step (its kernels emulated on the CPU) run it by its own forward and
backward, as the layer path runs it, and train the rest of the model on their own buffers and kernels.
No gradient flows to what only the model's inputs make through layers without trainable weights (a
frozen base, a lookup layer): those calls run no backward at all, and the first trainable Dense layer
after them computes no input gradient. Each path trains as the layer path does (float64: histories,
weights, predictions), frozen and then unfrozen for fine-tuning."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend.gpu_graphs import Between
from gpunet.layers import Activation, BatchNormalization, Dense, Dropout, Input, Lambda
from gpunet.models import Sequential

N = 61  # (a short last batch at batch size 16)


def data():
    rng = numpy.random.default_rng(11)
    x = rng.standard_normal((N, 8))
    return x, (x[:, :4].sum(1, keepdims=True) > 0).astype("float64")


def base_model():
    """The guide's base (a Dense, a BatchNormalization, a relu): frozen, then fine-tuned."""
    return Sequential([Input((8,)), Dense(16), BatchNormalization(), Activation("relu")], name="base")


def guide_model(base):
    """The guide's ``x = base_model(inputs, training=False)``, a Dropout (too small to matter: the GPU's
    masks are its own) and a Dense head."""
    inputs = Input((8,))
    return gpunet.Model(inputs, Dense(1)(Dropout(1e-13)(base(inputs, training=False))))


def sequential_model(base):
    """Keras 2's ``model.add(base_model)`` and a head."""
    return Sequential([base, Dense(6, activation="relu"), Dense(1)])


BUILDS = {"guide": guide_model, "sequential": sequential_model}
PATHS = ("layer-path", "numpy", "emulated-gpu")


def run(path, build, emulator=None):
    """``build(base)`` trained 2 epochs with the base frozen, then 2 unfrozen (recompiled, as the guide
    says); returns the model, its plan after each phase, the histories, predictions and weights."""
    if path == "emulated-gpu":
        ops = EmulatedCupyBackend(emulator)
    else:
        ops = B.resolve("cupy" if path == "cupy" else "numpy")
    x, y = data()
    plans, histories = [], []
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(7)
        base = base_model()
        model = build(base)
        for trainable in (False, True):
            base.trainable = trainable
            model.compile(optimizer=gpunet.optimizers.Adam(0.01),
                          loss=gpunet.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
            if path == "layer-path":
                model._train_plan = lambda: None
            histories.append(model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False).history)
            plans.append(model._plan)
        predicted = ops.to_host(model.predict(x, verbose=0))
    return model, plans, histories, predicted, model.get_weights()


def assert_same(got, ref, tol=1e-10):
    for h, r in zip(got[2], ref[2]):
        for key in r:
            numpy.testing.assert_allclose(h[key], r[key], rtol=tol, atol=tol, err_msg=key)
    numpy.testing.assert_allclose(got[3], ref[3], rtol=tol * 10, atol=tol)
    for g, r in zip(got[4], ref[4]):
        numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_a_nested_base_model_trains_inside_the_fused_steps_as_on_the_layer_path(emulator, name):
    B.set_floatx("float64")
    runs = {path: run(path, BUILDS[name], emulator) for path in PATHS}
    assert [type(p).__name__ for p in runs["numpy"][1]] == ["GraphPlan", "GraphPlan"]
    gpu_plans = runs["emulated-gpu"][1]
    assert [type(p).__name__ for p in gpu_plans] == ["GpuGraphPlan", "GpuGraphPlan"]
    # frozen: the base runs its forward only (its output takes no gradient, so no backward entry);
    # unfrozen: its forward and its backward, between the step's graphs
    for plan, betweens in zip(gpu_plans, (1, 2)):
        for step in plan._steps.values():
            assert sum(isinstance(e, Between) for e in step.entries) == betweens and step.capturable
    for path in ("numpy", "emulated-gpu"):
        assert_same(runs[path], runs["layer-path"])
    assert runs["numpy"][2][1]["loss"][-1] < runs["numpy"][2][0]["loss"][0]


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(BUILDS))
def test_on_a_gpu_a_nested_base_model_trains_on_the_graph_step_as_on_the_layer_path(name):
    B.set_floatx("float32")
    got, ref = run("cupy", BUILDS[name]), run("layer-path", BUILDS[name])
    assert [type(p).__name__ for p in got[1]] == ["GpuGraphPlan", "GpuGraphPlan"]
    for h, r in zip(got[2], ref[2]):  # (float32 over four epochs, batch statistics in the fine-tuning two)
        numpy.testing.assert_allclose(h["loss"], r["loss"], rtol=1e-4)
    numpy.testing.assert_allclose(got[3], ref[3], atol=2e-3)


def test_a_frozen_prefix_runs_no_backward_on_numpy(monkeypatch):
    """NumPy's graph plan calls no backward of a frozen base, nor of a Dropout after it (their outputs take
    no gradient); the layer path calls both every step."""
    B.set_floatx("float64")
    x, y = data()
    calls = []
    original = Sequential.backward
    monkeypatch.setattr(Sequential, "backward",
                        lambda self, *a, **k: calls.append(self.name) or original(self, *a, **k))
    for path in ("numpy", "layer-path"):
        calls.clear()
        with B.use_backend("numpy"):
            gpunet.utils.set_random_seed(7)
            base = base_model()
            model = guide_model(base)
            base.trainable = False
            model.compile(optimizer="adam", loss=gpunet.losses.BinaryCrossentropy(from_logits=True))
            if path == "layer-path":
                model._train_plan = lambda: None
            model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        assert calls.count("base") == (0 if path == "numpy" else 4), path
        assert type(model._plan).__name__ == ("GraphPlan" if path == "numpy" else "NoneType")


@pytest.mark.parametrize("what", ["lambda", "users-layer"])
def test_a_nested_model_holding_an_activity_regularizer_keeps_the_layer_path(emulator, what):
    """A layer of your own inside the nested model, holding one with an activity regularizer: the layer path,
    on both backends, training as before; a Lambda there runs inside the nested model's own code on the plans
    (as a layer of your own without one does: test_user_layer_plans.py; a mask cannot cross a nested model at
    all: gpunet refuses to nest it)."""
    class Twice(gpunet.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.penalty = gpunet.layers.ActivityRegularization(l2=1e-3)

        def call(self, inputs):
            return self.penalty(inputs * 2.0)

    inner = {"lambda": lambda: [Dense(16, activation="relu"), Lambda(lambda t: t * 0.5)],
             "users-layer": lambda: [Dense(16, activation="relu"), Twice()]}[what]
    plans = {"lambda": ("GraphPlan", "GpuGraphPlan"), "users-layer": ("bool", "bool")}[what]
    B.set_floatx("float64")
    for path in ("numpy", "emulated-gpu"):
        x, y = data()
        ops = EmulatedCupyBackend(emulator) if path == "emulated-gpu" else B.resolve("numpy")
        with B.use_backend(ops):
            base = Sequential([Input((8,))] + inner(), name="base")
            inputs = Input((8,))
            model = gpunet.Model(inputs, Dense(1)(base(inputs)))
            model.compile(optimizer="adam", loss=gpunet.losses.BinaryCrossentropy(from_logits=True))
            history = model.fit(x, y, batch_size=16, epochs=2, verbose=0).history
        assert type(model._plan).__name__ == plans[path == "emulated-gpu"], (path, model._plan)
        assert numpy.isfinite(history["loss"]).all()
