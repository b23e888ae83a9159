"""BatchNormalization inside the one-launch step (kernels/mlp_step.cu, gpunet/backend/gpu_fused_step.py,
gpu_fused_norm.py), kernels emulated on the CPU: models with a BatchNormalization right after a
Dense layer train as one mlp_step launch a step, to the same histories, weights and moving
statistics as the multi-launch step (bn_forward / bn_backward launches) and as NumPy; the
sequences mlp_step has no stage for keep the multi-launch step."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend import gpu_fused_step as FS
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import Activation, BatchNormalization, Dense, Dropout
from gpunet.models import Sequential
from plan_cases import data

MODELS = {
    # the brief's Keras MLP: Dense (linear), BatchNormalization, Activation; two of them
    "dense-bn-relu": (lambda: [Dense(16, input_dim=8), BatchNormalization(), Activation("relu"), Dense(8),
                               BatchNormalization(momentum=0.9), Activation("relu"), Dense(1, activation="sigmoid")],
                      lambda o: o.Adam(learning_rate=0.01)),
    "scale-center-off-tanh-elu": (lambda: [Dense(12, input_dim=8, use_bias=False), BatchNormalization(scale=False),
                                           Activation("tanh"), Dense(6, use_bias=False),
                                           BatchNormalization(center=False, epsilon=0.01), Activation("elu"),
                                           Dense(1, activation="sigmoid")],
                                  lambda o: o.SGD(learning_rate=0.05, momentum=0.8)),
    # a Dropout in front of the next Dense layer reads the normalized output; a kernel regularizer,
    # a gamma regularizer and a max-norm constraint beside them
    "dropout-regularized": (lambda: [Dense(12, input_dim=8, use_bias=False, kernel_regularizer="l2"),
                                     BatchNormalization(gamma_regularizer=gpunet.regularizers.L1(0.01)),
                                     Activation("relu"), Dropout(0.3),
                                     Dense(6, kernel_constraint=gpunet.constraints.MaxNorm(1.5), use_bias=False),
                                     BatchNormalization(), Activation("gelu"), Dense(1, activation="sigmoid")],
                            lambda o: o.RMSprop(learning_rate=0.01)),
    # the Dense layer's own activation, then a BatchNormalization with none folded after it
    "bn-after-activation": (lambda: [Dense(12, input_dim=8, activation="relu"), BatchNormalization(epsilon=0.01),
                                     Dropout(0.0), Dense(1, activation="sigmoid")],
                            lambda o: o.SGD(learning_rate=0.05)),
}
# sequences the one-launch step declines: they train on the multi-launch step
DECLINED = {
    "bn-first": lambda: [BatchNormalization(input_shape=(8,)), Dense(6, activation="relu"),
                         Dense(1, activation="sigmoid")],
    "two-bn-in-a-row": lambda: [Dense(6, input_dim=8), BatchNormalization(), BatchNormalization(center=False),
                                Activation("relu"), Dense(1, activation="sigmoid")],
    "dropout-before-bn": lambda: [Dense(6, input_dim=8), Dropout(0.2), BatchNormalization(), Activation("relu"),
                                  Dense(1, activation="sigmoid")],
}
TRAINING = {"mlp_step", "batch_gather", "dense_forward", "dense_backward", "bn_forward", "bn_backward", "loss_grad",
            "dropout_forward", "dropout_backward"}


def train(ops, layers, optimizer, epochs=3, fused="1", monkeypatch=None, emulator=None, between=None, callbacks=()):
    """(history, weights, model, training kernels): ``layers`` trained ``epochs`` epochs on the
    Pima-like data (its last batch one row), GPUNET_FUSED_STEP=``fused``; ``between(net)`` then
    one more epoch, when given. The kernels are those ``emulator`` saw (none without it)."""
    launches = [] if emulator is None else emulator.launches
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused)
    x, y, _ = data("pima")
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        net = Sequential(layers())
        net.compile(optimizer=optimizer(gpunet.optimizers), loss="binary_crossentropy", metrics=["accuracy"])
        gpunet.utils.set_random_seed(9)
        launches.clear()
        history = net.fit(x, y, batch_size=10, epochs=epochs, verbose=0, callbacks=list(callbacks)).history
        if between is not None:
            between(net)
            more = net.fit(x, y, batch_size=10, epochs=1, verbose=0).history
            history = {k: history[k] + more[k] for k in history}
    return history, net.get_weights(), net, {k.split("<")[0] for k, _, _ in launches}


def tolerance(floatx):
    return dict(rtol=1e-10, atol=1e-12) if floatx == "float64" else dict(rtol=2e-5, atol=2e-6)


def washed(net):
    """The weights of ``net`` (indices) that a bias right before a BatchNormalization (the batch mean
    removes it: its gradient is rounding noise, which Adam scales to whole steps) makes noise in
    float32 in either form of the step: that bias and the moving mean that carries it (compared in
    float64 only, as test_kernel_batch_norm.py's)."""
    layers = net.layers
    return {i for i, w in enumerate(net.weights) for j in range(len(layers) - 1)
            if isinstance(layers[j + 1], BatchNormalization) and getattr(layers[j], "bias", None) is not None
            and layers[j].activation.name == "linear"
            and w.path in (layers[j].bias.path, layers[j + 1].moving_mean.path)}


def assert_same(got, ref, floatx, tol=None):
    tol = tol or tolerance(floatx)
    assert got[0].keys() == ref[0].keys()
    for key in ref[0]:
        numpy.testing.assert_allclose(got[0][key], ref[0][key], err_msg=key, **tol)
    skip = washed(ref[2]) if floatx == "float32" else set()
    names = [w.path for w in ref[2].weights]
    assert any("moving_variance" in n for n in names) and len(got[1]) == len(ref[1]) == len(names)
    for i, (g, r) in enumerate(zip(got[1], ref[1])):
        if i not in skip:
            numpy.testing.assert_allclose(g, r, err_msg=names[i], **tol)


@pytest.mark.parametrize("floatx", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_batch_normalization_trains_in_one_launch_as_in_many_and_as_on_numpy(emulator, monkeypatch, name, floatx):
    B.set_floatx(floatx)
    layers, optimizer = MODELS[name]
    runs = {f: train(EmulatedCupyBackend(emulator), layers, optimizer, fused=f, monkeypatch=monkeypatch,
                     emulator=emulator) for f in ("1", "0")}
    assert runs["1"][3] & TRAINING == {"mlp_step"}, runs["1"][3]
    assert {"bn_forward", "bn_backward", "dense_forward"} <= runs["0"][3] and "mlp_step" not in runs["0"][3]
    assert all(isinstance(r[2]._plan, GpuPlan) for r in runs.values())
    assert all(s.launches == 1 for s in runs["1"][2]._plan._steps.values())
    assert_same(runs["1"], runs["0"], floatx)
    ref = train(B.resolve("numpy"), layers, optimizer, monkeypatch=monkeypatch, emulator=emulator)
    if "dropout" in name:  # (other masks than the plan's: NumPy draws its own)
        assert not numpy.allclose(runs["1"][1][0], ref[1][0])
        return
    assert_same(runs["1"], ref, floatx, dict(rtol=1e-9, atol=1e-10) if floatx == "float64" else None)


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_sequences_without_a_stage_keep_the_multi_launch_step(emulator, monkeypatch, name):
    B.set_floatx("float64")
    got = train(EmulatedCupyBackend(emulator), DECLINED[name], lambda o: o.Adam(learning_rate=0.01),
                monkeypatch=monkeypatch, emulator=emulator)
    assert isinstance(got[2]._plan, GpuPlan)
    assert FS.stages(got[2]._plan) is None
    assert "mlp_step" not in got[3] and {"bn_forward", "bn_backward"} <= got[3], got[3]
    if name != "dropout-before-bn":  # (its masks: the plan's own)
        ref = train(B.resolve("numpy"), DECLINED[name], lambda o: o.Adam(learning_rate=0.01),
                    monkeypatch=monkeypatch, emulator=emulator)
        assert_same(got, ref, "float64", dict(rtol=1e-9, atol=1e-10))


def test_a_batch_too_large_for_one_block_keeps_the_multi_launch_step(emulator, monkeypatch):
    """The normalized layer's xhat and output take room of their own: a batch whose values no longer
    fit in the block's 40 KiB trains on the multi-launch step."""
    B.set_floatx("float32")
    layers = MODELS["dense-bn-relu"][0]
    shapes = [(8, 16), (16, 8), (8, 1)]
    plain = FS.layout(100, 8, 1, False, shapes)[6]
    normed = FS.layout(100, 8, 1, False, shapes, normed=["mask", "mask", None])[6]
    assert plain <= FS.values("float32") < normed == plain + 2 * 100 * 24 + 24
    monkeypatch.setenv("GPUNET_FUSED_STEP", "1")
    rng = numpy.random.default_rng(3)
    x, y = rng.standard_normal((200, 8)), (rng.random((200, 1)) > 0.5).astype(float)
    ops = EmulatedCupyBackend(emulator)
    with B.use_backend(ops):
        net = Sequential(layers())
        net.compile(optimizer="adam", loss="binary_crossentropy")
        emulator.launches.clear()
        net.fit(x, y, batch_size=100, epochs=1, verbose=0)
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    assert "mlp_step" not in kernels and "bn_forward" in kernels


@pytest.mark.parametrize("when", ["between-fits", "mid-epoch"])
def test_a_changed_momentum_or_epsilon_takes_effect_in_the_one_launch_step(emulator, monkeypatch, when):
    """mlp_step bakes each BatchNormalization's momentum and epsilon into its arguments: set between
    two fits, or by a batch callback, they rebuild the step, which then moves the moving statistics
    as NumPy does (with the old momentum, moving_variance would be far off)."""
    B.set_floatx("float64")
    layers, optimizer = MODELS["dense-bn-relu"]

    def change(net):
        net.layers[1].momentum, net.layers[4].epsilon = 0.3, 0.05

    class AtBatch(gpunet.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 4:
                change(self.model)

    def run(ops):
        if when == "between-fits":
            return train(ops, layers, optimizer, epochs=1, monkeypatch=monkeypatch, emulator=emulator, between=change)
        return train(ops, layers, optimizer, epochs=2, monkeypatch=monkeypatch, emulator=emulator,
                     callbacks=[AtBatch()])

    got, ref = run(EmulatedCupyBackend(emulator)), run(B.resolve("numpy"))
    unchanged = train(EmulatedCupyBackend(emulator), layers, optimizer, epochs=1 if when == "between-fits" else 2,
                      monkeypatch=monkeypatch, emulator=emulator, between=(lambda net: None) if when == "between-fits"
                      else None)
    assert got[3] & TRAINING == {"mlp_step"}, got[3]
    assert_same(got, ref, "float64", dict(rtol=1e-9, atol=1e-10))
    variance = [w.path for w in ref[2].weights].index(ref[2].layers[1].moving_variance.path)
    assert not numpy.allclose(got[1][variance], unchanged[1][variance], rtol=1e-3), "the new momentum was used"


@pytest.mark.gpu
@pytest.mark.parametrize("floatx", ["float32", "float64"])
def test_batch_normalization_trains_in_one_launch_as_in_many_on_a_real_gpu(monkeypatch, floatx):
    B.set_floatx(floatx)
    layers, optimizer = MODELS["dense-bn-relu"]
    runs = {f: train(B.resolve("cupy"), layers, optimizer, fused=f, monkeypatch=monkeypatch) for f in ("1", "0")}
    assert all(s.launches == 1 for s in runs["1"][2]._plan._steps.values())
    assert not any(s.launches == 1 for s in runs["0"][2]._plan._steps.values())
    assert_same(runs["1"], runs["0"], floatx)
