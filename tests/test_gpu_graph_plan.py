"""The GPU step of a functional graph that is not a chain (backend/gpu_graph_plan.py), through the
CPU emulation of its kernels with NumPy standing in for CuPy: whole trainings against NumPy's layer
path, a fixed number of device reads an epoch, capture-ready steps; and, marked `gpu`, on a real GPU:
graph replay equals eager bit for bit, CuPy equals NumPy."""
import numpy as np
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B, layers as L
from gpunet.backend import cupy_unavailable_reason
from gpunet.backend.gpu_graph_plan import GpuGraphPlan
from gpunet.models import Model
from test_graph_plan import siamese, siamese_data  # one Dense layer on both inputs, shared

_NO_CUDA = cupy_unavailable_reason()


def residual():
    i = gpunet.Input((8,))
    h = L.Dense(12, activation="relu")(i)
    h2 = L.Dense(12, activation="tanh", kernel_regularizer="l2")(h)
    return Model(i, L.Dense(1, activation="sigmoid")(L.Add()([h, h2])))


def wide_and_deep():
    i = gpunet.Input((8,))
    d = L.Dense(6, activation="relu", kernel_constraint=gpunet.constraints.MaxNorm(1.0))(i)
    return Model(i, L.Dense(1, activation="sigmoid")(L.Concatenate()([i, d])))


def two_inputs():
    a, b = gpunet.Input((5,), name="a"), gpunet.Input((3,), name="b")
    ha, hb = L.Dense(6, activation="elu")(a), L.Dense(6, use_bias=False)(b)
    merged = L.Average()([ha, hb, L.Subtract()([ha, hb])])
    return Model([a, b], L.Dense(3, activation="softmax")(merged))


def fan_out():
    """One tensor read by four calls, an Add of three, a hidden softmax, a linear output (MSE)."""
    i = gpunet.Input((8,))
    h = L.Dense(10, activation="sigmoid")(i)
    s = L.Add()([h, L.Dense(10, activation="relu")(h), L.Dense(10, activation="softmax")(h)])
    return Model(i, L.Dense(2)(L.Concatenate()([s, h])))


def activation_layers():
    """Keras 2's Dense(n) then Activation(...): folded into the Dense layer, the output's too."""
    i = gpunet.Input((8,))
    h = L.Activation("relu")(L.Dense(12)(i))
    h2 = L.LeakyReLU(0.1)(L.Dense(12)(h))
    return Model(i, L.Activation("sigmoid")(L.Dense(1)(L.Add()([h, h2]))))


def normalized():
    """BatchNormalization between Dense layers (no bias before it), an activation folded after one."""
    i = gpunet.Input((8,))
    h = L.Activation("relu")(L.BatchNormalization()(L.Dense(12, use_bias=False)(i)))
    h2 = L.BatchNormalization(momentum=0.9, epsilon=1e-2)(L.Dense(12, use_bias=False)(h))
    return Model(i, L.Dense(1, activation="sigmoid")(L.Add()([h, h2])))


def resnet_block():
    """The ResNet pattern: the activation after the Add (a launch of its own), a LeakyReLU after a
    Concatenate, an ELU (it keeps its input for the backward) after a Subtract."""
    i = gpunet.Input((8,))
    h = L.Dense(12, activation="relu")(i)
    x = L.Activation("relu")(L.Add()([L.Dense(12)(h), h]))
    y = L.LeakyReLU(0.2)(L.Concatenate()([x, L.Dense(4)(i)]))
    z = L.ELU()(L.Subtract()([L.Dense(6)(y), L.Dense(6)(i)]))
    return Model(i, L.Dense(1, activation="sigmoid")(z))


def ensemble():
    """Two sigmoid heads averaged: a merge as the model's output."""
    i = gpunet.Input((8,))
    heads = [L.Dense(1, activation="sigmoid")(L.Dense(6, activation="relu")(i)) for _ in range(2)]
    return Model(i, L.Average()(heads))


def summed_regression():
    """Two linear heads added (MSE)."""
    i = gpunet.Input((8,))
    return Model(i, L.Add()([L.Dense(2)(i), L.Dense(2)(L.Dense(5, activation="tanh")(i))]))


def softmax_after_a_merge():
    """A hidden softmax after a merge (the row-softmax launch each way)."""
    i = gpunet.Input((8,))
    return Model(i, L.Dense(1, activation="sigmoid")(L.Softmax()(L.Add()([L.Dense(4)(i), L.Dense(4)(i)]))))


def activation_output():
    """The output an activation layer after a merge: the loss kernel fuses its sigmoid."""
    i = gpunet.Input((8,))
    return Model(i, L.Activation("sigmoid")(L.Add()([L.Dense(1)(i), L.Dense(1, activation="tanh")(i)])))


def softmax_output_mse():
    """The output a softmax layer after a merge with a loss that does not fuse it (MSE)."""
    i = gpunet.Input((8,))
    return Model(i, L.Softmax()(L.Add()([L.Dense(2)(i), L.Dense(2, activation="tanh")(i)])))


def two_heads():
    """Two outputs (models/multi_output.py's packed loss): a sigmoid head, a regression head over an Add."""
    i = gpunet.Input((8,))
    h = L.Dense(6, activation="relu")(i)
    b = L.Add(name="b")([L.Dense(2)(i), L.Dense(2, activation="tanh")(h)])
    return Model(i, [L.Dense(1, activation="sigmoid", name="a")(h), b])


CASES = {  # model, loss, metrics, batch size
    "residual": (residual, "binary_crossentropy", ["accuracy"], 8),
    "wide-and-deep": (wide_and_deep, "binary_crossentropy", ["accuracy"], 7),
    "two-inputs": (two_inputs, "categorical_crossentropy", ["accuracy"], 12),
    "fan-out": (fan_out, "mse", ["mae"], 9),
    "activation-layers": (activation_layers, "binary_crossentropy", ["accuracy"], 8),
    "normalized": (normalized, "binary_crossentropy", ["accuracy"], 8),
    "resnet-block": (resnet_block, "binary_crossentropy", ["accuracy"], 8),
    "ensemble": (ensemble, "binary_crossentropy", ["accuracy"], 8),
    "summed-regression": (summed_regression, "mse", ["mae"], 9),
    "siamese": (siamese, "binary_crossentropy", ["accuracy"], 8),
    "softmax-after-a-merge": (softmax_after_a_merge, "binary_crossentropy", ["accuracy"], 8),
    "activation-output": (activation_output, "binary_crossentropy", ["accuracy"], 8),
    "softmax-output-mse": (softmax_output_mse, "mse", ["mae"], 9),
    "two-heads": (two_heads, ["binary_crossentropy", "mse"], ["mae"], 8),
}


def data(case):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(61, 8))
    if case == "two-inputs":
        return [x[:, :5], x[:, 5:]], np.eye(3)[rng.integers(0, 3, 61)], None
    if case == "siamese":
        return siamese_data(x)
    if case == "two-heads":
        y = (x[:, :1] + x[:, 1:2] > 0).astype(float)
        return x, [y, np.stack([x[:, 2] - x[:, 3], x[:, 4]], axis=1)], rng.uniform(0.5, 2.0, 61)
    if case in ("fan-out", "summed-regression", "softmax-output-mse"):
        return x, rng.normal(size=(61, 2)), rng.uniform(0.5, 2.0, 61)
    return x, (x[:, :1] + x[:, 1:2] > 0).astype(float), None


def dropout_chain(rate):
    i = gpunet.Input((8,))
    h = L.Dropout(rate / 2)(i)  # (dropout on the input too)
    h = L.Dropout(rate)(L.Dense(12, activation="relu")(h))
    return Model(i, L.Dense(1, activation="sigmoid")(L.Dense(6, activation="tanh")(h)))


def trained(case, ops, layer_path=False, epochs=3):
    make, loss, metrics, batch = CASES[case]
    x, y, sw = data(case)
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(11)
        model = make()
        model.compile(optimizer=gpunet.optimizers.Adam(0.01), loss=loss, metrics=list(metrics),
                      loss_weights=None if isinstance(loss, str) else [1.0, 0.5])
        if layer_path:
            model._build_plan = lambda: None
        gpunet.utils.set_random_seed(12)
        history = model.fit(x, y, sample_weight=sw, batch_size=batch, epochs=epochs, verbose=0).history
        return model, history, model.predict(x, verbose=0)


def assert_alike(got, want, dtype):
    tol = 2e-5 if dtype == "float32" else 1e-10
    (model, history, predicted), (ref, expected_history, expected) = got, want
    assert sorted(history) == sorted(expected_history)
    for key in expected_history:
        np.testing.assert_allclose(history[key], expected_history[key], rtol=tol, atol=tol, err_msg=key)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    for p, e in zip(*((list(v) if isinstance(v, list) else [v]) for v in (predicted, expected))):  # (several outputs)
        np.testing.assert_allclose(p, e, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_gpu_graph_step_trains_as_numpys_layer_path(emulator, case, dtype):
    B.set_floatx(dtype)
    emulator.launches.clear()
    got = trained(case, EmulatedCupyBackend(emulator))
    assert isinstance(got[0]._plan, GpuGraphPlan)
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    assert {"batch_gather", "loss_grad", "dense_forward", "dense_backward", "adam_update"} <= kernels
    assert_alike(got, trained(case, B.resolve("numpy"), layer_path=True), dtype)


def test_an_epoch_reads_the_device_a_fixed_number_of_times_and_its_steps_can_be_captured(emulator):
    ops = EmulatedCupyBackend(emulator)
    x, y, _ = data("residual")
    with B.use_backend(ops):
        model = residual()
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        reads = []
        for batch in (4, 8, 8):
            before = ops.host_reads
            model.fit(x, y, batch_size=batch, epochs=2, verbose=0)
            reads.append(ops.host_reads - before)
    plan = model._plan
    assert isinstance(plan, GpuGraphPlan)
    assert reads[1] == reads[2] and reads[0] == reads[1], "the same reads whatever the number of steps"
    steps = list(plan._steps.values())
    assert steps and all(step.capturable for step in steps), "kernels and elementwise operations only"


@pytest.mark.parametrize("make", [
    lambda: (lambda i, norm: Model(i, L.Dense(1, activation="sigmoid")(L.Add()([
        norm(L.Dense(8)(i)), norm(i)]))))(gpunet.Input((8,)), L.BatchNormalization()),
], ids=["shared-batch-norm"])
def test_what_the_gpu_graph_step_does_not_take_trains_layer_by_layer(emulator, make):
    """A BatchNormalization called twice (a frozen one trains on the step: test_kernel_own_layers.py)."""
    x, y, _ = data("residual")
    with B.use_backend(EmulatedCupyBackend(emulator)):
        model = make()
        model.compile(optimizer="adam", loss="binary_crossentropy")
        history = model.fit(x, y, epochs=2, verbose=0).history
    assert model._plan is False and np.isfinite(history["loss"]).all()


@pytest.mark.gpu
@pytest.mark.real_gpu
@pytest.mark.skipif(_NO_CUDA is not None, reason=f"no CUDA: {_NO_CUDA}")
@pytest.mark.parametrize("case", sorted(CASES))
def test_graph_replay_equals_eager_bit_for_bit_and_cupy_equals_numpy(case, monkeypatch):
    from gpunet.backend import gpu_graphs
    monkeypatch.setattr(gpu_graphs, "UNROLL", 3)
    cupy_ops = B.resolve("cupy")
    monkeypatch.setenv("GPUNET_CUDA_GRAPHS", "0")
    eager = trained(case, cupy_ops)
    monkeypatch.setenv("GPUNET_CUDA_GRAPHS", "1")
    graphed = trained(case, cupy_ops)
    assert isinstance(graphed[0]._plan, GpuGraphPlan) and graphed[0]._plan._graphs.captures >= 1
    assert eager[1] == graphed[1]
    for a, b in zip(eager[0].get_weights(), graphed[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert_alike(graphed, trained(case, B.resolve("numpy"), layer_path=True), "float32")


@pytest.mark.parametrize("case", ["residual", "two-inputs"])
def test_streamed_x_trains_exactly_as_resident(emulator, monkeypatch, case):
    """x larger than the device's share: each batch is brought in, the step reads it from its buffer."""
    from gpunet.backend import upload
    from gpunet.models import streaming
    B.set_floatx("float64")
    runs = []
    for free in (1024, 1 << 40):
        transport = upload.SimulatedTransport(free_bytes=free)
        monkeypatch.setattr(upload, "transport_for", lambda o: transport)
        monkeypatch.setattr(streaming, "transport_for", lambda o: transport)
        model, history, predicted = trained(case, EmulatedCupyBackend(emulator))
        runs.append((model, history, predicted, len(transport.queue)))
    (streamed, history, predicted, copies), (resident, want, expected, _) = runs
    assert isinstance(streamed._plan, GpuGraphPlan) and copies > 0, "x went through the double-buffered uploads"
    assert history == want
    for a, b in zip(streamed.get_weights(), resident.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_dropout_draws_the_chain_plans_masks(emulator, monkeypatch):
    """Dropout in the graph step: the chain plan's kernel, salts and seeds, so a chain trained through
    the graph step equals the chain plan's training bit for bit (the GPU's masks are its own hash's,
    not NumPy's: the two plans are compared with each other)."""
    from gpunet.backend.gpu_graph_plan import build_gpu_graph_plan
    from gpunet.backend.gpu_plan import GpuPlan
    monkeypatch.setenv("GPUNET_FUSED_STEP", "0")  # (the chain plan's multi-launch step)
    B.set_floatx("float64")
    ops = EmulatedCupyBackend(emulator)
    x, y, _ = data("residual")
    runs = []
    for graph in (False, True):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(21)
            model = dropout_chain(0.3)
            model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
            if graph:
                model._build_plan = lambda model=model: build_gpu_graph_plan(model)
            gpunet.utils.set_random_seed(22)
            runs.append((model.fit(x, y, batch_size=8, epochs=3, verbose=0).history, model.get_weights(), model._plan))
    assert type(runs[0][2]) is GpuPlan and isinstance(runs[1][2], GpuGraphPlan)
    assert len(runs[1][2]._steps) and all(len(s.masks) == 2 for s in runs[1][2]._steps.values())
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_dropout_in_a_residual_graph_is_repeatable_and_drops(emulator):
    def residual_dropout(rate):
        i = gpunet.Input((8,))
        h = L.Dense(12, activation="relu")(i)
        h2 = L.Dropout(rate)(L.Dense(12, activation="relu")(h))
        return Model(i, L.Dense(1, activation="sigmoid")(L.Add()([h, h2])))

    ops = EmulatedCupyBackend(emulator)
    x, y, _ = data("residual")
    weights = []
    for rate in (0.4, 0.4, 0.0):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            model = residual_dropout(rate)
            model.compile(optimizer="adam", loss="binary_crossentropy")
            gpunet.utils.set_random_seed(6)
            model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        assert isinstance(model._plan, GpuGraphPlan)
        weights.append(model.get_weights())
    for a, b in zip(weights[0], weights[1]):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(weights[0], weights[2]))


def test_a_loss_changed_in_place_rebuilds_the_plan(emulator):
    """The loss kernel bakes the loss's settings in (Huber's delta here): a change builds the plan again."""
    x, y, _ = data("summed-regression")
    with B.use_backend(EmulatedCupyBackend(emulator)):
        model = summed_regression()
        loss = gpunet.losses.Huber(delta=1.0)
        model.compile(optimizer="adam", loss=loss)
        model.fit(x, y, epochs=1, verbose=0)
        first = model._plan
        model.fit(x, y, epochs=1, verbose=0)
        assert isinstance(first, GpuGraphPlan) and model._plan is first
        loss.delta = 0.5
        model.fit(x, y, epochs=1, verbose=0)
    assert isinstance(model._plan, GpuGraphPlan) and model._plan is not first
    assert model._plan.loss_kernel.delta == 0.5
