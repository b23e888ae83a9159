"""LayerNormalization inside the GPU step plan (kernels/layer_norm.cu, gpunet/backend/gpu_layer_norm.py),
kernels emulated on the CPU: the kernels against the layer's own NumPy forward and backward (with the
activation folded after it) on odd shapes with NaN and inf, and whole models with LayerNormalization
trained through the plan as on NumPy. Before, such a model trained layer by layer on a GPU."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend import cuda_kernels as K
from gpunet.backend import gpu_layer_norm as LN
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.backend.layer_stack import FoldedNorm
from gpunet.layers import Activation, BatchNormalization, Dense, Dropout, LayerNormalization
from gpunet.models import Sequential
from kernel_cases import DTYPES, guarded, intact
from plan_cases import data

# one column (variance 0); a partial 32-column row; several 32-column passes; more rows than the grid holds
SHAPES = [(5, 1), (10, 12), (37, 70), (300, 33)]
ACTS = ["linear", "relu", "tanh", "gelu"]  # kept: nothing, mask, y, z


def reference(x, dy, act, center, scale, dtype):
    """The layer path on NumPy: LayerNormalization then Activation, forward and backward."""
    with B.use_backend("numpy"):
        ln, a = LayerNormalization(epsilon=1e-3, center=center, scale=scale), Activation(act)
        ln.build((None, x.shape[1]))
        rng = numpy.random.default_rng(2)
        for w in (ln.gamma, ln.beta):
            if w is not None:
                w.value[...] = rng.standard_normal(w.value.shape).astype(dtype)
                w.grad = numpy.zeros_like(w.value)
        with numpy.errstate(invalid="ignore", over="ignore"):
            y = a.forward(ln.forward(x, training=True), training=True)
            dx = ln.backward(a.backward(dy))
        return ln, y, dx, [None if w is None else w.grad for w in (ln.gamma, ln.beta)]


@pytest.mark.parametrize("special", [False, True], ids=["finite", "nan-inf"])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_kernels_match_the_layer_forward_and_backward(emulator, dtype, shape, act, special):
    B.set_floatx(numpy.dtype(dtype).name)
    M, N = shape
    rng = numpy.random.default_rng(M * 100 + N)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    if special:
        x[1, 0], dy[M - 1, N - 1] = numpy.nan, numpy.inf
    center, scale = act != "tanh", act != "gelu"  # each of center / scale off once
    ln, ref_y, ref_dx, ref_grads = reference(x, dy, act, center, scale, dtype)
    entry = LN.LayerNormEntry(FoldedNorm(ln), K.activation_spec(act, {}))
    # the kernels' buffers guarded, as the plan's are its own
    entry.gamma = guarded(ln.gamma.value.copy()) if scale else None
    entry.beta = guarded(ln.beta.value.copy()) if center else None
    entry.dgamma = guarded(numpy.zeros(N, dtype)) if scale else None
    entry.dbeta = guarded(numpy.zeros(N, dtype)) if center else None
    xg, dyg = guarded(x.reshape(-1)).reshape(shape), guarded(dy.reshape(-1)).reshape(shape)
    y, xhat, dx = (guarded(numpy.zeros(M * N, dtype)).reshape(shape) for _ in range(3))
    inv = guarded(numpy.zeros(M, dtype))
    keep = {"mask": numpy.zeros(shape, numpy.uint8), "z": numpy.zeros(shape, dtype)}.get(entry.spec.keep)
    emulator.launches.clear()
    sm = 2  # (a small grid: 300 rows need the grid-stride loop)
    emulator(LN.forward_launch(entry, xg, y, xhat, inv, keep, sm))
    for launch in LN.backward_launches(entry, dyg, xhat, inv, keep, y, dx, sm):
        emulator(launch)
    names = [k.split("<")[0] for k, _, _ in emulator.launches]
    assert names == ["ln_forward", "ln_param_grads", "ln_backward"][:3 if center or scale else 1] + (
        [] if center or scale else ["ln_backward"])
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == numpy.float32 else dict(rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(y, ref_y, **tol, err_msg="y")
    numpy.testing.assert_allclose(dx, ref_dx, **tol, err_msg="dx")
    for got, ref, name in ((entry.dgamma, ref_grads[0], "dgamma"), (entry.dbeta, ref_grads[1], "dbeta")):
        if ref is not None:
            numpy.testing.assert_allclose(got, ref, **tol, err_msg=name)
    if special:
        assert numpy.isnan(y[1]).all() and numpy.isfinite(y[0]).all(), "NaN in a row reaches that row only"
    buffers = (y, xhat, dx, inv, entry.gamma, entry.beta, entry.dgamma, entry.dbeta)
    assert all(intact(a) for a in buffers if a is not None), "a kernel wrote outside its buffer"


def test_the_forward_kernel_keeps_nothing_in_inference_and_may_write_over_its_input(emulator):
    """xhat and inv null (predict's use) and y = x: the layer's output all the same."""
    B.set_floatx("float64")
    x = numpy.random.default_rng(4).standard_normal((9, 40))
    ln, ref_y, _, _ = reference(x, x, "relu", True, True, numpy.float64)
    entry = LN.LayerNormEntry(FoldedNorm(ln), K.activation_spec("relu", {}))
    buf = guarded(x.reshape(-1)).reshape(x.shape)
    emulator(LN.forward_launch(entry, buf, buf, None, None, None, 132))
    numpy.testing.assert_allclose(buf, ref_y, rtol=1e-12, atol=1e-13)
    assert intact(buf)


MODELS = {
    # the transformer MLP's order: Dense (linear), LayerNormalization, Activation
    "dense-ln-gelu": lambda: [Dense(12, input_dim=8), LayerNormalization(), Activation("gelu"),
                              Dense(8), LayerNormalization(epsilon=1e-5), Activation("relu"),
                              Dense(1, activation="sigmoid")],
    "ln-after-activation": lambda: [Dense(12, input_dim=8, activation="tanh"), LayerNormalization(center=False),
                                    Dropout(0.0), Dense(1, activation="sigmoid")],
    "ln-on-the-input-and-bn": lambda: [LayerNormalization(input_shape=(8,), scale=False), Dense(6, activation="elu"),
                                       BatchNormalization(), LayerNormalization(),
                                       Dense(1, activation="sigmoid")],
}


def run(ops, name, epochs=3, callbacks=()):
    x, y, _ = data("pima")
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        net = Sequential(MODELS[name]())
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                    metrics=["accuracy"])
        gpunet.utils.set_random_seed(9)
        history = net.fit(x, y, batch_size=10, epochs=epochs, verbose=0, callbacks=list(callbacks)).history
        scores = net.evaluate(x, y, verbose=0)
    return net, history, scores


@pytest.mark.parametrize("fused_step", ["1", "0"], ids=["one-launch-allowed", "multi-launch"])
@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_with_layer_normalization_train_on_the_gpu_plan_as_on_numpy(emulator, name, floatx, fused_step,
                                                                           monkeypatch):
    """The multi-launch step's ln launches, whether or not the one-launch step is allowed (it has no
    stage for a LayerNormalization), every step captured (no callable entry)."""
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)
    B.set_floatx(floatx)
    emulator.launches.clear()
    got = run(EmulatedCupyBackend(emulator), name)
    ref = run(B.resolve("numpy"), name)
    plan = got[0]._plan
    assert isinstance(plan, GpuPlan), "the GPU plan trained it"
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    assert {"ln_forward", "ln_param_grads", "ln_backward"} <= kernels and "mlp_step" not in kernels
    assert all(step.capturable for step in plan._steps.values())
    tol = 1e-9 if floatx == "float64" else 3e-5
    for key in ref[1]:
        numpy.testing.assert_allclose(got[1][key], ref[1][key], rtol=tol, err_msg=key)
    numpy.testing.assert_allclose(got[2], ref[2], rtol=tol * 10)
    for g, r, w in zip(got[0].get_weights(), ref[0].get_weights(), ref[0].weights):
        numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol, err_msg=w.path)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_predict_and_evaluate_run_each_layer_normalization_as_one_launch_of_the_forward_plan(emulator, name):
    """After training (a layer frozen: inference computes the same), predict and evaluate run each
    LayerNormalization layer as one ln_forward launch a batch, and equal the layer path on NumPy."""
    B.set_floatx("float64")
    x, y, _ = data("pima")
    results = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        net = run(ops, name, epochs=1)[0]
        with B.use_backend(ops):
            next(l for l in net.layers if isinstance(l, LayerNormalization)).trainable = False
            emulator.launches.clear()
            results.append((net.predict(x, batch_size=32, verbose=0), net.evaluate(x, y, batch_size=32, verbose=0),
                            [k.split("<")[0] for k, _, _ in emulator.launches]))
    (pred, scores, kernels), (ref_pred, ref_scores, _) = results
    norms = sum(isinstance(l, LayerNormalization) for l in MODELS[name]())
    assert kernels.count("ln_forward") == 2 * norms * -(-len(x) // 32)  # predict's batches, then evaluate's
    assert "ln_backward" not in kernels
    numpy.testing.assert_allclose(pred, ref_pred, rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(scores, ref_scores, rtol=1e-10)


def test_an_epsilon_a_callback_changes_is_followed_from_the_next_step(emulator):
    """epsilon is baked into the launches: a batch callback's change rebuilds the steps, as the layer
    path reads it at its next step."""
    B.set_floatx("float64")

    def callback(net_of):
        def at(batch, logs):
            if batch == 3:
                norm = next(l for l in net_of() if isinstance(l, LayerNormalization))
                norm.epsilon *= 10.0
        return gpunet.callbacks.LambdaCallback(on_batch_end=at)

    runs = []
    x, y, _ = data("pima")
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            net = Sequential(MODELS["dense-ln-gelu"]())
            net.compile(optimizer="adam", loss="binary_crossentropy")
            history = net.fit(x, y, batch_size=10, epochs=2, verbose=0, shuffle=False,
                              callbacks=[callback(lambda: net.layers)]).history
        runs.append((net, history))
    (gpu, history), (ref, want) = runs
    assert isinstance(gpu._plan, GpuPlan)
    numpy.testing.assert_allclose(history["loss"], want["loss"], rtol=1e-10)
    for g, r in zip(gpu.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("what", ["softmax-after", "activity-regularizer", "frozen", "last"])
def test_what_the_chain_step_does_not_take_trains_as_numpy(emulator, what):
    """The layer path, but for a frozen LayerNormalization: the graph step runs it by its own code."""
    B.set_floatx("float64")
    x, y, _ = data("pima")
    make = {"softmax-after": lambda: [Dense(6, input_dim=8), LayerNormalization(), Activation("softmax"),
                                      Dense(1, activation="sigmoid")],
            "activity-regularizer": lambda: [Dense(6, input_dim=8), LayerNormalization(activity_regularizer="l2"),
                                             Dense(1, activation="sigmoid")],
            "frozen": lambda: [Dense(6, input_dim=8), LayerNormalization(trainable=False),
                               Dense(1, activation="sigmoid")],
            "last": lambda: [Dense(6, input_dim=8), Dense(1, activation="sigmoid"), LayerNormalization()]}[what]
    runs = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            net = Sequential(make())
            net.compile(optimizer="adam", loss="mse")
            runs.append((net, net.fit(x, y, batch_size=10, epochs=2, verbose=0).history))
    (gpu, history), (_, want) = runs
    assert type(gpu._plan).__name__ == ("GpuGraphPlan" if what == "frozen" else "bool")
    numpy.testing.assert_allclose(history["loss"], want["loss"], rtol=1e-10)


_NO_CUDA = B.cupy_unavailable_reason()


@pytest.mark.gpu
@pytest.mark.real_gpu
@pytest.mark.skipif(_NO_CUDA is not None, reason=f"no CUDA: {_NO_CUDA}")
def test_on_cupy_a_layer_normalized_model_is_captured_and_trains_as_numpy(monkeypatch):
    from gpunet.backend import gpu_graphs
    monkeypatch.setattr(gpu_graphs, "UNROLL", 3)
    monkeypatch.setenv("GPUNET_CUDA_GRAPHS", "1")
    B.set_floatx("float32")
    got = run(B.resolve("cupy"), "dense-ln-gelu")
    ref = run(B.resolve("numpy"), "dense-ln-gelu")
    assert isinstance(got[0]._plan, GpuPlan) and got[0]._plan._graphs.captures > 0
    numpy.testing.assert_allclose(got[1]["loss"], ref[1]["loss"], rtol=3e-5)


def pre_norm_residual():
    """A pre-norm residual MLP block (a transformer's feed-forward half) and a normalized head."""
    from gpunet.layers import Add, Input
    i = Input((8,))
    h = Dense(12)(i)
    block = Dense(12, activation="gelu")(LayerNormalization(epsilon=1e-5)(h))
    h = Add()([h, Dense(12)(block)])
    out = Dense(1, activation="sigmoid")(Activation("relu")(LayerNormalization(center=False)(h)))
    return gpunet.Model(i, out)


@pytest.mark.parametrize("floatx", ["float64", "float32"])
def test_a_pre_norm_residual_graph_trains_and_predicts_on_the_graph_plans_as_numpy(emulator, floatx):
    """The graph step runs each LayerNormalization as the chain's plan does (an activation layer after
    it folded in), and predict and evaluate run through the graph forward plan."""
    from gpunet.backend.gpu_graph_forward import GpuGraphForward
    from gpunet.backend.gpu_graph_plan import GpuGraphPlan
    B.set_floatx(floatx)
    x, y, _ = data("pima")
    results = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            net = pre_norm_residual()
            net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy")
            gpunet.utils.set_random_seed(9)
            emulator.launches.clear()
            history = net.fit(x, y, batch_size=10, epochs=2, verbose=0, validation_split=0.2).history
            trained = [k.split("<")[0] for k, _, _ in emulator.launches]
            emulator.launches.clear()
            pred = net.predict(x, batch_size=64, verbose=0)
            results.append((net, history, pred, trained, [k.split("<")[0] for k, _, _ in emulator.launches]))
    (gpu, history, pred, trained, predicted), (ref, want, ref_pred, _, _) = results
    assert isinstance(gpu._plan, GpuGraphPlan) and isinstance(gpu._gpu_forward, GpuGraphForward)
    assert {"ln_forward", "ln_param_grads", "ln_backward"} <= set(trained)
    assert predicted.count("ln_forward") == 2 * -(-len(x) // 64) and "ln_backward" not in predicted
    tol = 1e-9 if floatx == "float64" else 3e-5
    for key in want:
        numpy.testing.assert_allclose(history[key], want[key], rtol=tol, err_msg=key)
    numpy.testing.assert_allclose(pred, ref_pred, rtol=tol * 10, atol=tol)
    for g, r in zip(gpu.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol)
