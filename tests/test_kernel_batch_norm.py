"""BatchNormalization inside the GPU step plan (kernels/batch_norm.cu, gpunet/backend/gpu_batch_norm.py),
kernels emulated on the CPU: the kernels against the layer's own NumPy forward and backward (with
the activation folded after it) on odd shapes with NaN and inf, and whole models with
BatchNormalization trained through the plan as on NumPy, moving statistics included."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend import cuda_kernels as K
from gpunet.backend import gpu_batch_norm as BN
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.backend.layer_stack import FoldedNorm
from gpunet.layers import Activation, BatchNormalization, Dense, Dropout
from gpunet.models import Sequential
from kernel_cases import DTYPES, guarded, intact
from plan_cases import data

# one row (variance 0); a partial 32-column block; several blocks; a tall batch (32 thread rows)
SHAPES = [(1, 3), (10, 12), (37, 70), (300, 33)]
ACTS = ["linear", "relu", "tanh", "gelu"]  # kept: nothing, mask, y, z


def reference(x, dy, act, center, scale, dtype):
    """The layer path on NumPy: BatchNormalization (training) then Activation, forward and backward."""
    with B.use_backend("numpy"):
        bn, a = BatchNormalization(momentum=0.8, epsilon=1e-3, center=center, scale=scale), Activation(act)
        bn.build((None, x.shape[1]))
        rng = numpy.random.default_rng(2)
        for w in (bn.gamma, bn.beta, bn.moving_mean):
            if w is not None:
                w.value[...] = rng.standard_normal(w.value.shape).astype(dtype)
        bn.moving_variance.value[...] = rng.uniform(0.5, 2, x.shape[1]).astype(dtype)
        for w in (bn.gamma, bn.beta):
            if w is not None:
                w.grad = numpy.zeros_like(w.value)
        start = [w.value.copy() for w in bn.weights]
        with numpy.errstate(invalid="ignore", over="ignore"):
            y = a.forward(bn.forward(x, training=True), training=True)
            dx = bn.backward(a.backward(dy))
        grads = [None if w is None else w.grad for w in (bn.gamma, bn.beta)]
        return bn, start, y, dx, grads


@pytest.mark.parametrize("special", [False, True], ids=["finite", "nan-inf"])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_kernels_match_the_layer_forward_and_backward(emulator, dtype, shape, act, special):
    B.set_floatx(numpy.dtype(dtype).name)  # the layer's weights in the kernel's dtype
    M, N = shape
    rng = numpy.random.default_rng(M * 100 + N)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    if special:
        x[0, 1], dy[M - 1, 2] = numpy.nan, numpy.inf
    center, scale = act != "tanh", act != "gelu"  # each of center / scale off once
    bn, start, ref_y, ref_dx, ref_grads = reference(x, dy, act, center, scale, dtype)
    gamma, beta, mm, mv = (guarded(w) if w is not None else None for w in
                           ([start[0]] if scale else [None]) + ([start[int(scale)]] if center else [None]) + start[-2:])
    entry = BN.NormEntry.__new__(BN.NormEntry)  # as the plan builds it, over these guarded buffers
    entry.layer, entry.spec, entry.units = bn, K.activation_spec(act, {}), N
    entry.gamma, entry.beta, entry.moving_mean, entry.moving_var = gamma, beta, mm, mv
    entry.dgamma = guarded(numpy.zeros(N, dtype)) if scale else None
    entry.dbeta = guarded(numpy.zeros(N, dtype)) if center else None
    xg, dyg = guarded(x.reshape(-1)).reshape(shape), guarded(dy.reshape(-1)).reshape(shape)
    y, xhat, dx = (guarded(numpy.zeros(M * N, dtype)).reshape(shape) for _ in range(3))
    inv = guarded(numpy.zeros(N, dtype))
    keep = {"mask": numpy.zeros(shape, numpy.uint8), "z": numpy.zeros(shape, dtype)}.get(entry.spec.keep)
    emulator.launches.clear()
    emulator(BN.forward_launch(entry, xg, y, xhat, inv, keep, 132))
    emulator(BN.backward_launch(entry, dyg, xhat, inv, keep, y, dx))
    assert [b for _, _, b in emulator.launches] == [(32, 32 if M >= 256 else 8, 1)] * 2
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == numpy.float32 else dict(rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(y, ref_y, **tol, err_msg="y")
    numpy.testing.assert_allclose(dx, ref_dx, **tol, err_msg="dx")
    numpy.testing.assert_allclose(mm, bn.moving_mean.value, **tol, err_msg="moving_mean")
    numpy.testing.assert_allclose(mv, bn.moving_variance.value, **tol, err_msg="moving_variance")
    for got, ref, name in ((entry.dgamma, ref_grads[0], "dgamma"), (entry.dbeta, ref_grads[1], "dbeta")):
        if ref is not None:
            numpy.testing.assert_allclose(got, ref, **tol, err_msg=name)
    if special:
        assert numpy.isnan(y[:, 1]).all() and numpy.isnan(mm[1]), "NaN in a column reaches its whole column"
        assert numpy.isfinite(y[:, 0]).all() or M == 1
    assert all(intact(a) for a in (y, xhat, dx, inv, mm, mv) + tuple(a for a in (gamma, beta) if a is not None))


@pytest.mark.parametrize("act", ["relu", "sigmoid", "linear"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: numpy.dtype(d).name)
def test_inference_kernel_matches_the_layer_in_place(emulator, dtype, shape, act):
    """bn_inference (predict, evaluate) against the layer outside training, with NaN and inf in x,
    written over its own input as the forward plan may."""
    B.set_floatx(numpy.dtype(dtype).name)
    M, N = shape
    x = numpy.random.default_rng(N).standard_normal(shape).astype(dtype)
    x[0, 0], x[M - 1, N - 1] = numpy.nan, -numpy.inf
    bn = reference(x, x, act, center=True, scale=N != 12, dtype=dtype)[0]  # its weights, random
    with B.use_backend("numpy"), numpy.errstate(invalid="ignore", over="ignore"):
        ref = Activation(act).forward(bn.forward(x, training=False), training=False)
    buf = guarded(x.reshape(-1)).reshape(shape)
    spec = K.activation_spec(act, {})
    emulator(BN.inference_launch(FoldedNorm(bn), spec, buf, buf, 132))
    tol = dict(rtol=2e-6, atol=2e-6) if dtype == numpy.float32 else dict(rtol=1e-13, atol=1e-13)
    numpy.testing.assert_allclose(buf, ref, **tol)
    assert numpy.array_equal(numpy.isnan(buf), numpy.isnan(ref)) and intact(buf)


MODELS = {
    # Keras's usual order: Dense (linear), BatchNormalization, Activation
    "dense-bn-relu": lambda: [Dense(12, input_dim=8), BatchNormalization(), Activation("relu"),
                              Dense(8), BatchNormalization(momentum=0.9), Activation("tanh"), Dense(1, activation="sigmoid")],
    "bn-after-activation": lambda: [Dense(12, input_dim=8, activation="relu"), BatchNormalization(epsilon=0.01),
                                    Dropout(0.0), Dense(1, activation="sigmoid")],
    "bn-on-the-input": lambda: [BatchNormalization(input_shape=(8,), center=False), Dense(6, activation="elu"),
                                BatchNormalization(scale=False), Dense(1, activation="sigmoid")],
}


def build(ops, name, optimizer=None):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        net = Sequential(MODELS[name]())
        net.compile(optimizer=optimizer or gpunet.optimizers.Adam(learning_rate=0.01), loss="binary_crossentropy",
                    metrics=["accuracy"])
    return net


def run(ops, name, epochs=3, batch_logs=False):
    x, y, _ = data("pima")
    net = build(ops, name)
    seen = []
    callbacks = [gpunet.callbacks.LambdaCallback(on_batch_end=lambda b, logs: seen.append(logs["loss"]))] \
        if batch_logs else []
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(9)
        history = net.fit(x, y, batch_size=10, epochs=epochs, verbose=0, callbacks=callbacks).history
        scores = net.evaluate(x, y, verbose=0)
    return net, history, seen, scores


@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_with_batch_normalization_train_on_the_gpu_plan_as_on_numpy(emulator, name, floatx, monkeypatch):
    """The multi-launch step's bn_forward and bn_backward launches (the one-launch step, which takes
    two of these models: test_kernel_fused_batch_norm.py)."""
    monkeypatch.setenv("GPUNET_FUSED_STEP", "0")
    B.set_floatx(floatx)
    emulator.launches.clear()
    got = run(EmulatedCupyBackend(emulator), name, batch_logs=floatx == "float64")
    ref = run(B.resolve("numpy"), name, batch_logs=floatx == "float64")
    assert isinstance(got[0]._plan, GpuPlan), "the GPU plan trained it"
    kernels = [k.split("<")[0] for k, _, _ in emulator.launches]
    assert {"bn_forward", "bn_backward"} <= set(kernels) and "mlp_step" not in kernels
    tol = 1e-9 if floatx == "float64" else 2e-5
    for key in ref[1]:
        numpy.testing.assert_allclose(got[1][key], ref[1][key], rtol=tol, err_msg=key)
    numpy.testing.assert_allclose(got[2], ref[2], rtol=tol)
    numpy.testing.assert_allclose(got[3], ref[3], rtol=tol * 10)  # evaluate: the moving statistics
    assert_same_weights(got[0], ref[0], floatx, tol)


def assert_same_weights(got, ref, floatx, tol):
    """A bias right before a BatchNormalization layer has no effect (the batch mean removes it) and a
    gradient of pure rounding noise, which Adam scales up to full steps: in float32 its values, and
    the moving mean that carries them, are noise on both backends, so only float64 compares them."""
    layers = ref.layers
    washed = {w.path for i in range(len(layers) - 1) if isinstance(layers[i + 1], BatchNormalization)
              and getattr(layers[i], "bias", None) is not None for w in (layers[i].bias, layers[i + 1].moving_mean)}
    for g, r, w in zip(got.get_weights(), ref.get_weights(), ref.weights):
        if floatx == "float64" or w.path not in washed:
            numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol, err_msg=w.path)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_predict_and_evaluate_of_normalized_models_run_through_the_forward_plan(emulator, name):
    """After training, predict and evaluate run each BatchNormalization layer as one launch with
    its moving statistics (a frozen one too), and equal the layer path on NumPy."""
    B.set_floatx("float64")
    x, y, _ = data("pima")
    results = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        net = build(ops, name)
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(9)
            net.fit(x, y, batch_size=10, epochs=2, verbose=0)
            next(l for l in net.layers if isinstance(l, BatchNormalization)).trainable = False  # inference: the same
            emulator.launches.clear()
            results.append((net.predict(x, batch_size=32, verbose=0), net.evaluate(x, y, batch_size=32, verbose=0),
                            [k.split("<")[0] for k, _, _ in emulator.launches]))
    (pred, scores, kernels), (ref_pred, ref_scores, _) = results
    norms = sum(isinstance(l, BatchNormalization) for l in MODELS[name]())
    batches = -(-len(x) // 32)
    assert kernels.count("bn_inference") == 2 * norms * batches  # predict's batches, then evaluate's
    numpy.testing.assert_allclose(pred, ref_pred, rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(scores, ref_scores, rtol=1e-10)


def test_a_changed_momentum_rebuilds_and_a_final_normalization_keeps_the_layer_path(emulator):
    B.set_floatx("float64")
    results = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        net, *_ = run(ops, "dense-bn-relu", epochs=1)
        first = net._plan
        net.layers[1].momentum = 0.5
        x, y, _ = data("pima")
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(4)
            history = net.fit(x, y, batch_size=10, epochs=1, verbose=0).history
        results.append((history, net.get_weights()))
        if isinstance(first, GpuPlan):
            assert isinstance(net._plan, GpuPlan) and net._plan is not first, "rebuilt for the new momentum"
            assert not FoldedNorm(net.layers[1]) == first.sequence[1].source
    numpy.testing.assert_allclose(results[0][0]["loss"], results[1][0]["loss"], rtol=1e-10)
    for g, r in zip(results[0][1], results[1][1]):  # (atol: the bias before the BatchNormalization is noise)
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-10)

    x, y, _ = data("pima")
    # a frozen one runs by its own code in the graph step (test_kernel_own_layers.py); one at the output: the layer path
    for layers, plan in (([Dense(4, input_dim=8), BatchNormalization(trainable=False), Dense(1, activation="sigmoid")],
                          "GpuGraphPlan"), ([Dense(1, input_dim=8, activation="sigmoid"), BatchNormalization()], "bool")):
        ops = EmulatedCupyBackend(emulator)
        with B.use_backend(ops):
            net = Sequential(layers)
            net.compile(optimizer="adam", loss="binary_crossentropy")
            net.fit(x, y, batch_size=10, epochs=1, verbose=0)
        assert type(net._plan).__name__ == plan



@pytest.mark.gpu
@pytest.mark.parametrize("floatx", ["float64", "float32"])
def test_batch_normalization_trains_on_a_real_gpu_as_on_numpy(floatx):
    B.set_floatx(floatx)
    got, ref = run(B.resolve("cupy"), "dense-bn-relu"), run(B.resolve("numpy"), "dense-bn-relu")
    assert isinstance(got[0]._plan, GpuPlan)
    tol = 1e-9 if floatx == "float64" else 2e-5
    for key in ref[1]:
        numpy.testing.assert_allclose(got[1][key], ref[1][key], rtol=tol, err_msg=key)
    assert_same_weights(got[0], ref[0], floatx, tol)


def test_momentum_changed_by_a_callback_mid_epoch_takes_effect_at_once(emulator):
    """A batch callback that sets a layer's momentum (and epsilon) at batch 3: the GPU plan rebuilds
    its steps before the next one, so the moving statistics follow as on NumPy."""
    B.set_floatx("float64")
    x, y, _ = data("pima")
    results = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        net = build(ops, "dense-bn-relu")

        def change(batch, logs, net=net):
            if batch == 3:
                net.layers[1].momentum, net.layers[1].epsilon = 0.5, 0.01
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(9)
            history = net.fit(x, y, batch_size=10, epochs=1, verbose=0,
                              callbacks=[gpunet.callbacks.LambdaCallback(on_batch_end=change)]).history
        results.append((history, net))
    (got, net), (ref, ref_net) = results
    assert isinstance(net._plan, GpuPlan)
    numpy.testing.assert_allclose(got["loss"], ref["loss"], rtol=1e-10)
    assert_same_weights(net, ref_net, "float64", 1e-9)
