"""Activity regularizers of hidden Dense layers inside the GPU step plan (gpunet/backend/gpu_regularizers.py:
a reg_grad launch over each such layer's output, its factors over the batch's rows), kernels emulated on
the CPU: the model trains through the plan as the layer path trains it on NumPy (the penalty in every
epoch's and batch's loss, its gradient in every update, a short last batch divided by its own rows), the
sparse autoencoder of Keras's blog included; what the plan leaves to the layer path still trains there."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import Dense, Dropout, Input
from gpunet.models import Model, Sequential
from gpunet.regularizers import L1, L1L2, L2
from plan_cases import data


class Halved(L1L2):
    """A user's regularizer with its own arithmetic: the kernel does not compute it."""

    def __call__(self, x):
        return super().__call__(x) * 0.5

    def gradient(self, x):
        return super().gradient(x) * 0.5


def pima_net(regs, dropout=None):
    first, second, last = regs
    layers = [Dense(12, input_dim=8, activation="relu", activity_regularizer=first),
              Dense(8, activation="tanh", activity_regularizer=second)]
    # (rate 0: the same arithmetic on both backends)
    layers += [Dropout(0.0, activity_regularizer=dropout)] if dropout is not None else []
    return Sequential(layers + [Dense(1, activation="sigmoid", activity_regularizer=last)])


def autoencoder(_regs=None):
    """Keras's blog's sparse autoencoder, in small: an L1 activity regularizer on the code layer."""
    inputs = Input(shape=(8,))
    code = Dense(4, activation="relu", activity_regularizer=L1(1e-3))(inputs)
    return Model(inputs, Dense(8, activation="sigmoid")(code))


CASES = {
    "l1-and-l2": (pima_net, (L1(0.01), L2(0.02), None), "binary_crossentropy", False),
    "l1l2-one-layer": (pima_net, (None, L1L2(l1=0.003, l2=0.05), None), "binary_crossentropy", False),
    "sparse-autoencoder": (autoencoder, None, "mse", True),
}


def fit(ops, case, batch_sizes=(10,), batch_logs=False, epochs=2):
    """``case``: a CASES name, or such an entry."""
    build, regs, loss, reconstruct = CASES[case] if isinstance(case, str) else case
    x, y, _ = data("pima")
    y = (1.0 / (1.0 + numpy.exp(-x))) if reconstruct else y
    seen, histories = [], []
    callbacks = [gpunet.callbacks.LambdaCallback(on_batch_end=lambda b, logs: seen.append(logs["loss"]))] \
        if batch_logs else []
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        net = build(regs)
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss=loss, metrics=["mae"])
        for batch_size in batch_sizes:  # (a new batch size: the penalties' columns sized anew)
            gpunet.utils.set_random_seed(9)
            histories.append(net.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0,
                                     callbacks=callbacks).history)
        evaluated = net.evaluate(x, y, verbose=0)
    return net, histories, seen, evaluated


def assert_same(got, ref, tol):
    for g, r in zip(got[1], ref[1]):
        for key in r:
            numpy.testing.assert_allclose(g[key], r[key], rtol=tol, err_msg=key)
    numpy.testing.assert_allclose(got[2], ref[2], rtol=tol)
    numpy.testing.assert_allclose(got[3], ref[3], rtol=tol)
    for g, r in zip(got[0].get_weights(), ref[0].get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol)


def reg_grad_launches(emulator):
    return [k for k, _, _ in emulator.launches if k.startswith("reg_grad")]


@pytest.mark.parametrize("batch_logs", [False, True], ids=["epoch-logs", "batch-logs"])
@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_activity_regularized_models_train_on_the_gpu_plan_as_on_numpy(emulator, case, floatx, batch_logs):
    """Batches of 10, then of 32 (101 samples: short last batches of 1 and 5): a launch per regularized
    layer and step, the fused one-launch step refused (it has no stage for them)."""
    B.set_floatx(floatx)
    emulator.launches.clear()
    got = fit(EmulatedCupyBackend(emulator), case, (10, 32), batch_logs)
    ref = fit(B.resolve("numpy"), case, (10, 32), batch_logs)
    assert isinstance(got[0]._plan, GpuPlan), "the GPU plan trained it"
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    assert "mlp_step" not in kernels
    regularized = sum(layer.activity_regularizer is not None for layer in got[0].layers)
    n = data("pima")[0].shape[0]
    assert n % 10 and n % 32
    steps = 2 * (-(-n // 10) + -(-n // 32))
    assert len(reg_grad_launches(emulator)) == regularized * steps
    assert_same(got, ref, 1e-10 if floatx == "float64" else 2e-5)
    assert len(got[2]) == (steps if batch_logs else 0)


def test_the_penalty_is_in_the_loss_and_its_gradient_in_the_weights(emulator):
    """Against the same model without its activity regularizers, on the plan: a larger loss, other weights."""
    B.set_floatx("float64")
    with_regs = fit(EmulatedCupyBackend(emulator), "l1-and-l2")
    plain = fit(EmulatedCupyBackend(emulator), (pima_net, (None, None, None), "binary_crossentropy", False))
    assert isinstance(with_regs[0]._plan, GpuPlan) and isinstance(plain[0]._plan, GpuPlan)
    assert with_regs[1][0]["loss"][0] > plain[1][0]["loss"][0]
    assert not numpy.allclose(with_regs[0].get_weights()[0], plain[0].get_weights()[0])


@pytest.mark.parametrize("where", ["output-layer", "dropout-layer", "users-regularizer"])
def test_what_the_plan_leaves_to_the_layer_path_trains_there_as_on_numpy(emulator, where):
    """An activity regularizer on the output layer (the loss kernel's gradient is taken before its
    activation), on a layer other than Dense, or of a user's own arithmetic: the layer path."""
    B.set_floatx("float64")
    regs = {"output-layer": (None, None, L2(0.01)), "dropout-layer": (None, None, None),
            "users-regularizer": (None, Halved(l2=0.02), None)}[where]
    build = (lambda r: pima_net(r, dropout=L1(0.01))) if where == "dropout-layer" else pima_net
    case = (build, regs, "binary_crossentropy", False)
    emulator.launches.clear()
    got, ref = fit(EmulatedCupyBackend(emulator), case), fit(B.resolve("numpy"), case)
    assert not isinstance(got[0]._plan, GpuPlan), "the layer path trained it"
    assert reg_grad_launches(emulator) == []  # (the layer path's penalty: CuPy operations, no plan launch)
    assert_same(got, ref, 1e-10)


def test_a_callback_changing_a_factor_or_removing_a_regularizer_is_followed(emulator):
    """A batch callback that raises a layer's l1 after batch 20 (the steps rebuilt from the next step),
    and an activity regularizer removed between fits (the plan rebuilt without it), as on NumPy."""
    B.set_floatx("float64")

    def run(ops):
        x, y, _ = data("pima")
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            net = pima_net((L1(0.01), None, None))
            net.compile(optimizer="rmsprop", loss="binary_crossentropy")
            regularizer = net.layers[0].activity_regularizer
            raise_l1 = gpunet.callbacks.LambdaCallback(
                on_batch_end=lambda b, logs: setattr(regularizer, "l1", 0.2) if b == 20 else None)
            first = net.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[raise_l1]).history["loss"]
            plan = net._plan
            net.layers[0].activity_regularizer = None
            second = net.fit(x, y, batch_size=16, epochs=2, verbose=0).history["loss"]
        return net, first, second, plan

    got, ref = run(EmulatedCupyBackend(emulator)), run(B.resolve("numpy"))
    assert isinstance(got[3], GpuPlan) and isinstance(got[0]._plan, GpuPlan) and got[0]._plan is not got[3]
    assert got[0]._plan.regs is None
    numpy.testing.assert_allclose(got[1], ref[1], rtol=1e-10)
    numpy.testing.assert_allclose(got[2], ref[2], rtol=1e-10)
    for g, r in zip(got[0].get_weights(), ref[0].get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


def test_evaluate_and_predict_run_the_forward_plan_with_the_penalty(emulator):
    """evaluate adds each batch's activity penalty as the layer path does (epoch logs and every batch's
    running logs), reading the penalties from the device once rather than per batch; predict, which has
    no loss, ignores them; both through the GPU forward plan."""
    from gpunet.backend.gpu_forward import GpuForward
    B.set_floatx("float64")
    x, y, _ = data("pima")
    results = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        seen = []
        cb = gpunet.callbacks.LambdaCallback(on_test_batch_end=lambda b, logs: seen.append(logs["loss"]))
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            net = pima_net((L1(0.01), L2(0.02), None))
            net.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
            reads = getattr(ops, "host_reads", 0)
            plain = net.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
            reads = getattr(ops, "host_reads", 0) - reads
            per_batch = net.evaluate(x, y, batch_size=16, verbose=0, callbacks=[cb], return_dict=True)
            predicted = ops.to_host(net.predict(x, batch_size=16, verbose=0))
            net.layers[0].activity_regularizer = net.layers[1].activity_regularizer = None
            before = getattr(ops, "host_reads", 0)
            unregularized = net.evaluate(x, y, batch_size=16, verbose=0)
            reads = (reads, getattr(ops, "host_reads", 0) - before)
        results.append((plain, per_batch, seen, predicted, unregularized, reads, getattr(net, "_gpu_forward", None)))
    got, ref = results
    assert isinstance(got[6], GpuForward) and got[6].activity == []  # (rebuilt once the regularizers went)
    assert got[5][0] == got[5][1] + 1, f"{got[5]} host reads: the penalties were read per batch"
    for g, r in zip(got[:2], ref[:2]):
        assert g.keys() == r.keys()
        numpy.testing.assert_allclose([g[k] for k in r], [r[k] for k in r], rtol=1e-12)
    assert len(got[2]) == len(ref[2]) == -(-x.shape[0] // 16)
    numpy.testing.assert_allclose(got[2], ref[2], rtol=1e-12)
    numpy.testing.assert_allclose(got[3], ref[3], rtol=1e-12)
    assert got[0]["loss"] > got[4][0] + 1e-3  # the penalty is in evaluate's loss
    numpy.testing.assert_allclose(got[4], ref[4], rtol=1e-12)
