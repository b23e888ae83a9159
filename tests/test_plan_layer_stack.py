"""Keras 2's ``Dense(n)`` + ``Activation(a)`` trains and predicts on the fused plans, folded
into one Dense layer (gpunet/backend/layer_stack.py), and computes exactly what
``Dense(n, activation=a)`` computes; a leading ``Flatten`` feeds them each sample as one row,
as 2-D input would: on the NumPy plan and on the GPU plan (kernels emulated)."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend import cupy_unavailable_reason
from gpunet.backend.dense_plan import DensePlan
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.backend.graph_plan import GraphPlan
from gpunet.layers import Activation, Dense, Dropout, Flatten
from gpunet.models import Sequential
from plan_cases import CASES, data

OPS = {"numpy": lambda emu: B.resolve("numpy"), "gpu": lambda emu: EmulatedCupyBackend(emu),
       "cupy": lambda emu: B.resolve("cupy")}
PLAN = {"numpy": DensePlan, "gpu": GpuPlan, "cupy": GpuPlan}
_NO_CUDA = cupy_unavailable_reason()
# the NumPy plan, the GPU plan with its kernels emulated, and (marked gpu) on a real GPU
BACKENDS = ["numpy", "gpu", pytest.param("cupy", marks=[pytest.mark.gpu, pytest.mark.skipif(
    _NO_CUDA is not None, reason=f"no CUDA: {_NO_CUDA}")])]


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
@pytest.mark.parametrize("backend", BACKENDS)
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
    if backend != "numpy":
        assert separate._gpu_forward, "predict and evaluate ran on the GPU inference plan"
    layer_names = [layer["class_name"] for layer in separate.get_config()["layers"]]
    assert layer_names.count("Activation") == len(joined.layers)  # the model itself is unchanged


@pytest.mark.parametrize("backend", ["numpy", "gpu"])
def test_an_activation_that_cannot_fold_runs_by_its_own_code(emulator, backend):
    """After a Dense with an activation of its own (relu then tanh), or after a Dropout (on the
    GPU plan's training step), the Activation layer is run as a layer, by its own code: inside
    NumPy's graph step, or between the GPU chain step's kernels (gpu_own_layers.py), trained as
    the layer path trains it."""
    B.set_floatx("float64")
    ops = OPS[backend](emulator)
    x, y, _ = data("pima")
    for extra in ([Activation("tanh")], [Dropout(0.0), Activation("relu")]):
        nets = []
        for forced in (False, True):
            with B.use_backend(ops):
                gpunet.utils.set_random_seed(5)
                net = Sequential([Dense(6, input_dim=8, activation="relu")] + extra + [Dense(1, activation="sigmoid")])
                net.compile(optimizer="sgd", loss="binary_crossentropy")
                if forced:
                    net._train_plan = lambda: None  # what fit does for a model no plan covers
                nets.append((net, net.fit(x, y, batch_size=10, epochs=2, verbose=0).history["loss"]))
        (net, got), (_, want) = nets
        assert type(net._plan).__name__ == ("GraphPlan" if backend == "numpy" else "GpuPlan"), extra
        numpy.testing.assert_allclose(got, want, rtol=1e-12)


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


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_leading_flatten_trains_on_the_plan_as_rows_would(emulator, backend):
    """The TensorFlow beginner tutorial's ``Flatten(input_shape=(28, 28))`` first (here 6 x 5):
    the same training, predictions and evaluation as 2-D input of 30 features, on the plan."""
    B.set_floatx("float64")
    ops = OPS[backend](emulator)
    rng = numpy.random.default_rng(4)
    x = rng.standard_normal((90, 6, 5))
    y = rng.integers(0, 4, 90)
    results, nets = [], []
    for flat in (False, True):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            first = [Flatten(input_shape=(6, 5))] if flat else []
            net = Sequential(first + [Dense(16, activation="relu", **({} if flat else {"input_dim": 30})),
                                      Flatten(), Dense(4), Activation("softmax")])
            net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            data = x if flat else x.reshape(90, 30)
            gpunet.utils.set_random_seed(9)
            history = net.fit(data, y, batch_size=16, epochs=3, verbose=0)
            results.append((history.history, net.predict(data, verbose=0), net.evaluate(data, y, verbose=0)))
        nets.append(net)
    assert isinstance(nets[1]._plan, PLAN[backend]), "the fused plan trained it"
    assert results[0][0] == results[1][0]
    numpy.testing.assert_array_equal(results[0][1], results[1][1])
    assert results[0][2] == results[1][2]
    if backend != "numpy":
        assert nets[1]._gpu_forward, "predict and evaluate ran on the GPU inference plan"


def test_the_beginner_tutorial_model_takes_the_gpu_plan(emulator):
    """Flatten, Dense(relu), Dropout, Dense(softmax) with sparse labels, as the tutorial has it
    (at 8 x 8 pixels): the GPU step plan trains it and the loss falls."""
    B.set_floatx("float32")
    ops = EmulatedCupyBackend(emulator)
    rng = numpy.random.default_rng(2)
    y = rng.integers(0, 10, 200)
    x = rng.standard_normal((200, 8, 8)).astype("float32") * 0.3
    x[numpy.arange(200), y % 8, y // 8 * 4] += 2.0  # each class lights its own pixel
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(1)
        net = Sequential([Flatten(input_shape=(8, 8)), Dense(32, activation="relu"), Dropout(0.2),
                          Dense(10, activation="softmax")])
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
        losses = net.fit(x, y, batch_size=20, epochs=5, verbose=0).history["loss"]
    assert isinstance(net._plan, GpuPlan)
    assert losses[-1] < losses[0] * 0.5, losses


def test_a_leading_flatten_streams_as_resident(emulator, monkeypatch):
    """x of (samples, 6, 5) too large for the device's share streams batch by batch into the GPU
    plan through a leading Flatten, and trains exactly as resident x does."""
    from gpunet.backend import upload
    from gpunet.models import streaming
    B.set_floatx("float64")
    ops = EmulatedCupyBackend(emulator)
    rng = numpy.random.default_rng(4)
    x, y = rng.standard_normal((90, 6, 5)), rng.integers(0, 4, 90)
    runs = []
    for free in (1024, 1 << 40):
        transport = upload.SimulatedTransport(free_bytes=free)
        monkeypatch.setattr(upload, "transport_for", lambda o: transport)
        monkeypatch.setattr(streaming, "transport_for", lambda o: transport)
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            net = Sequential([Flatten(input_shape=(6, 5)), Dense(16, activation="relu"), Dense(4, activation="softmax")])
            net.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            gpunet.utils.set_random_seed(9)
            runs.append((net.fit(x, y, batch_size=16, epochs=2, verbose=0).history, net.get_weights(),
                         len(transport.queue)))
        assert isinstance(net._plan, GpuPlan)
    assert runs[0][2] >= 2 * 6 and runs[1][2] <= 2  # streamed: a copy per batch; resident: one upload
    assert runs[0][0] == runs[1][0]
    for s, r in zip(runs[0][1], runs[1][1]):
        numpy.testing.assert_array_equal(s, r)


def _plan_and_layer_path(make, x, y, batch_size, monkeypatch):
    """(history, weights, plan) of the model ``make()`` builds, trained on the NumPy plan, then on
    the layer path, from the same seeds."""
    from gpunet.models import engine
    runs = []
    for plan in (True, False):
        if not plan:
            monkeypatch.setattr(engine, "build_plan", lambda model: None)
            monkeypatch.setattr(engine, "build_graph_plan", lambda model: None)
        with B.use_backend("numpy"):  # (NumPy's plan by name: "auto" picks CuPy on a GPU machine)
            gpunet.utils.set_random_seed(5)
            net = make()
            gpunet.utils.set_random_seed(9)
            history = net.fit(x, y, batch_size=batch_size, epochs=3, verbose=0).history
            runs.append((history, net.get_weights(), net._plan))
    assert isinstance(runs[0][2], DensePlan) and runs[1][2] is False
    for key in runs[1][0]:
        numpy.testing.assert_allclose(runs[0][0][key], runs[1][0][key], rtol=1e-12, err_msg=key)
    for p, l in zip(runs[0][1], runs[1][1]):
        numpy.testing.assert_allclose(p, l, rtol=1e-10, atol=1e-12)
    return runs


@pytest.fixture
def numpy_backend():
    with B.use_backend("numpy") as backend:  # (NumPy's plan by name: "auto" picks CuPy on a GPU machine)
        yield backend


@pytest.mark.parametrize("rates", [(0.3,), (0.5, 0.0), (0.2, 0.4)], ids=["one", "rate-0", "two"])
def test_dropout_between_dense_layers_trains_on_the_numpy_plan_as_layer_by_layer(rates, monkeypatch):
    """The beginner tutorial's Dropout on the NumPy plan: the same masks as the layer path draws
    (same generator, same order, a seeded layer's own generator too), so the same training."""
    B.set_floatx("float64")
    x, y, _ = data("wide-reduced")

    def make():
        drops = [Dropout(rates[0])] + [Dropout(r, seed=11) for r in rates[1:]]
        net = Sequential([Flatten(input_shape=(78,)), Dense(48, activation="relu"), drops[0], Dense(40),
                          Activation("tanh")] + drops[1:] + [Dense(10, activation="softmax")])
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss="categorical_crossentropy",
                    metrics=["accuracy"])
        return net
    _plan_and_layer_path(make, x, y, 32, monkeypatch)


@pytest.mark.parametrize("rates", [(0.2,), (0.3, 0.1)], ids=["one", "two"])
def test_dropout_on_the_input_trains_on_the_numpy_plan_as_layer_by_layer(rates, monkeypatch):
    """Keras's "dropout on the visible layer" (Dropout(0.2, input_shape=(60,)) on the sonar data)
    on the NumPy plan: the input's masks drawn first, as the layer path draws them; the epoch's
    copy of x stays whole (a second epoch sees the original inputs)."""
    B.set_floatx("float64")
    x, y, _ = data("pima")

    def make():
        net = Sequential([Dropout(rates[0], input_shape=(8,))] + [Dropout(r, seed=3) for r in rates[1:]]
                         + [Dense(12, activation="relu"), Dropout(0.3), Dense(1, activation="sigmoid")])
        net.compile(optimizer=gpunet.optimizers.SGD(learning_rate=0.05, momentum=0.8), loss="binary_crossentropy")
        return net
    runs = _plan_and_layer_path(make, x, y, 10, monkeypatch)
    assert sorted(map(tuple, runs[0][2].x[:, :8])) == sorted(map(tuple, x))  # the last epoch's shuffle of x, whole


def test_dropout_on_the_output_leaves_the_chain_plan_for_the_graph_step(numpy_backend):
    """Dropout on the output, or with a noise_shape: not the chain's plan; the graph step (its masks
    drawn as the layer path draws them) trains it as the layer path does."""
    x, y, _ = data("pima")
    for layers in (lambda: [Dense(4, input_dim=8), Dense(1, activation="sigmoid"), Dropout(0.2)],
                   lambda: [Dense(4, input_dim=8), Dropout(0.2, noise_shape=(None, 1)), Dense(1, activation="sigmoid")]):
        runs = []
        for planned in (True, False):
            gpunet.utils.set_random_seed(5)
            net = Sequential(layers())
            net.compile(optimizer="sgd", loss="binary_crossentropy")
            if not planned:
                net._build_plan = lambda: None
            runs.append((net.fit(x, y, epochs=2, verbose=0).history["loss"], net.get_weights(), net._plan))
        assert isinstance(runs[0][2], GraphPlan) and runs[1][2] is False
        numpy.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-6)
        for a, b in zip(runs[0][1], runs[1][1]):
            numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
