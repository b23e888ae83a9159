"""predict and evaluate of a functional graph that is not a chain on a GPU (backend/gpu_graph_forward.py),
through the CPU emulation of its kernels with NumPy standing in for CuPy: the same outputs, loss and
metrics as NumPy's layer path, one launch per Dense layer, a fixed number of device reads whatever the
number of batches; what it does not take runs layer by layer."""
import numpy as np
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B, layers as L
from gpunet.backend.gpu_graph_forward import GpuGraphForward
from gpunet.callbacks import LambdaCallback
from gpunet.models import Model
from test_gpu_graph_plan import CASES, data


def softmax_output():
    i = gpunet.Input((8,))
    return Model(i, L.Softmax()(L.Add()([L.Dense(3)(i), L.Dense(3, activation="relu")(i)])))


def frozen_layers():
    """A frozen Dense layer and a frozen BatchNormalization (both layer by layer in training),
    noise layers (the identity in inference) and an activation layer as the output after a merge."""
    i = gpunet.Input((8,))
    h = L.GaussianNoise(0.5)(L.Dense(6, activation="tanh", trainable=False)(i))
    h2 = L.BatchNormalization(trainable=False)(L.Dense(6)(L.Dropout(0.4)(i)))
    return Model(i, L.Activation("sigmoid")(L.Add()([L.Dense(1)(h), L.Dense(1)(h2)])))


def shared_batch_norm():
    i = gpunet.Input((8,))
    norm = L.BatchNormalization()
    return Model(i, L.Dense(1, activation="sigmoid")(L.Add()([norm(L.Dense(8)(i)), norm(i)])))


EXTRA = {  # model, loss, metrics, batch size: graphs only inference takes whole
    "softmax-output": (softmax_output, "categorical_crossentropy", ["accuracy"], 8),
    "frozen-layers": (frozen_layers, "binary_crossentropy", ["accuracy"], 8),
    "shared-batch-norm": (shared_batch_norm, "binary_crossentropy", ["accuracy"], 8),
}
ALL = {**CASES, **EXTRA}


def case_data(case):
    if case == "softmax-output":
        x, y, _ = data("residual")
        return x, np.eye(3)[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0)], np.linspace(0.5, 2.0, 61)
    return data("residual") if case in EXTRA else data(case)


def on_both(case):
    """(model, predicted, evaluated) on NumPy's layer path after 2 epochs of training there (BatchNormalization's
    moving statistics moved), and the same on the emulated GPU with those weights."""
    make, loss, metrics, batch = ALL[case]
    x, y, sw = case_data(case)
    runs = []
    for ops in (B.resolve("numpy"), gpu()):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(5)
            model = make()
            model.compile(optimizer="adam", loss=loss, metrics=list(metrics), loss_weights=None if isinstance(
                loss, str) else [1.0, 0.5])
            if runs:
                model.set_weights(runs[0][0].get_weights())
            else:
                model.fit(x, y, sample_weight=sw, batch_size=batch, epochs=2, verbose=0)
            runs.append((model, model.predict(x, batch_size=batch, verbose=0),
                         model.evaluate(x, y, sample_weight=sw, batch_size=batch, verbose=0)))
    return runs


_KERNELS = {}


@pytest.fixture(autouse=True)
def _emulator(emulator):  # noqa: F811
    _KERNELS["emulator"] = emulator


def gpu():
    """The emulated CuPy backend (the session's kernel builds)."""
    return EmulatedCupyBackend(_KERNELS["emulator"])


@pytest.mark.parametrize("case", sorted(ALL))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_and_evaluate_equal_numpys_layer_path(case, dtype):
    B.set_floatx(dtype)
    (_, want, want_eval), (model, got, got_eval) = on_both(case)
    assert isinstance(model._gpu_forward, GpuGraphForward)
    tol = 1e-5 if dtype == "float32" else 1e-12
    got, want = (list(p) if isinstance(p, list) else [p] for p in (got, want))  # (several outputs: a list)
    assert len(got) == len(want) == (2 if case == "two-heads" else 1)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype == np.dtype(dtype) and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    np.testing.assert_allclose(got_eval, want_eval, rtol=tol, atol=tol)


def test_a_batch_is_a_launch_per_dense_layer_and_the_merges_are_elementwise():
    emulator = _KERNELS["emulator"]
    for case, launches in (("residual", 3), ("resnet-block", 6 + 3)):  # (resnet: 3 activation layers after merges)
        (_, want, _), (model, got, _) = on_both(case)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        x = case_data(case)[0]
        emulator.launches.clear()
        with B.use_backend(model.ops):
            model.predict(x, batch_size=len(x), verbose=0)  # one batch
        assert isinstance(model._gpu_forward, GpuGraphForward) and len(emulator.launches) == launches


def test_evaluate_reads_the_device_a_fixed_number_of_times_whatever_the_batches():
    x, y, _ = data("residual")
    ops = gpu()
    with B.use_backend(ops):
        model = CASES["residual"][0]()
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        reads = []
        for batch in (4, 8, 61):
            before = ops.host_reads
            model.evaluate(x, y, batch_size=batch, verbose=0)
            reads.append(ops.host_reads - before)
    assert isinstance(model._gpu_forward, GpuGraphForward) and reads[0] == reads[1] == reads[2]


def test_batch_logs_of_evaluate_equal_numpys():
    x, y, _ = data("two-inputs")
    seen = []
    for model, _, _ in on_both("two-inputs"):
        seen.append([])
        logs = LambdaCallback(on_test_batch_end=lambda batch, logs, kept=seen[-1]: kept.append(dict(logs)))
        with B.use_backend(model.ops):
            model.evaluate(x, y, batch_size=12, verbose=0, callbacks=[logs])
    assert isinstance(model._gpu_forward, GpuGraphForward)
    assert len(seen[0]) == len(seen[1]) == 6
    for a, b in zip(*seen):
        assert sorted(a) == sorted(b)
        for key in a:
            np.testing.assert_allclose(b[key], a[key], rtol=1e-5, atol=1e-6)


def test_new_weights_and_a_new_activation_are_taken():
    x, _, _ = data("residual")
    (ref, _, _), (model, _, _) = on_both("residual")
    fwd = model._gpu_forward
    weights = [w * 0.5 for w in ref.get_weights()]
    for m in (ref, model):
        m.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for m in (ref, model):
        m.layers[-1].activation = gpunet.activations.get("linear")
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert model._gpu_forward is not fwd and isinstance(model._gpu_forward, GpuGraphForward)


class Twice(L.Layer):
    """A layer of your own holding one with an activity regularizer, which the plans do not take (one without
    runs by its own code in the forward plan, as a Lambda does: test_user_layer_plans.py, test_op_layer_plans.py)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.penalty = L.ActivityRegularization(l2=1e-3)

    def call(self, inputs):
        return self.penalty(inputs * 2.0)


@pytest.mark.parametrize("make", [
    lambda: (lambda i: Model(i, L.Dense(1)(L.Add()([Twice()(L.Dense(4)(i)), L.Dense(4)(i)]))))(gpunet.Input((8,))),
], ids=["users-layer"])
def test_what_it_does_not_take_runs_layer_by_layer(make):
    x = data("residual")[0]
    outs = []
    for ops in (B.resolve("numpy"), gpu()):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(9)
            model = make()
            outs.append(model.predict(x, verbose=0))
    assert model._gpu_forward is False
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-6)


def test_a_call_with_training_true_runs_its_layers_own_forward_in_that_mode():
    """A Dropout called with training=True keeps dropping in predict, as the layer path does: the forward
    plan runs that call by the layer's own forward in training mode (gpu_own_layers.own_inference), so
    two predicts differ and a seeded one repeats."""
    x = data("residual")[0]
    with B.use_backend(gpu()):
        gpunet.utils.set_random_seed(9)
        i = gpunet.Input((8,))
        model = Model(i, L.Dense(1)(L.Add()([L.Dropout(0.5)(L.Dense(4)(i), training=True), L.Dense(4)(i)])))
        gpunet.utils.set_random_seed(3)
        first, second = (gpu().to_host(model.predict(x, verbose=0)) for _ in range(2))
        gpunet.utils.set_random_seed(3)
        again = gpu().to_host(model.predict(x, verbose=0))
    assert isinstance(model._gpu_forward, GpuGraphForward)
    assert not np.allclose(first, second) and np.array_equal(first, again)
