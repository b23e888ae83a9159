"""Several outputs on the GPU graph step (backend/gpu_graph_plan.py; models/multi_output.py's packed
loss): each output its loss kernel, its loss weight the gradient's scale, the epoch's outputs packed
when read; what the step does not take trains layer by layer. Through the kernels' CPU emulation,
against NumPy's layer path (the CASES of test_gpu_graph_plan.py hold a two-headed graph too)."""
import numpy as np
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B, layers as L
from gpunet.backend.gpu_graph_plan import GpuGraphPlan
from gpunet.models import Model
from test_gpu_graph_plan import data, two_heads


def test_several_outputs_train_on_the_step_with_batch_logs_as_numpys_layer_path(emulator):
    """Each output its loss kernel (its loss weight the gradient's scale), the epoch's outputs packed
    when read: batch logs read after every step equal the layer path's."""
    from gpunet.callbacks import LambdaCallback
    x, y, sw = data("two-heads")
    runs = []
    for ops, layer_path in ((EmulatedCupyBackend(emulator), False), (B.resolve("numpy"), True)):
        seen = []
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(11)
            model = two_heads()
            model.compile(optimizer="adam", loss={"a": "binary_crossentropy", "b": "mae"}, loss_weights={"b": 2.0},
                          metrics={"a": ["accuracy"], "b": ["mse"]})
            if layer_path:
                model._build_plan = lambda: None
            logs = LambdaCallback(on_batch_end=lambda batch, logs: seen.append(dict(logs)))
            history = model.fit(x, y, sample_weight=sw, batch_size=16, epochs=2, verbose=0, callbacks=[logs]).history
        runs.append((model, history, seen))
    (gpu, history, seen), (_, want, want_seen) = runs
    plan = gpu._plan
    assert isinstance(plan, GpuGraphPlan) and len(plan.loss_kernels) == 2 and plan.loss_weights == [1.0, 2.0]
    assert sorted(history) == sorted(want) and len(seen) == len(want_seen) == 8
    for got, ref in zip(seen + [history], want_seen + [want]):
        for key in ref:
            np.testing.assert_allclose(got[key], ref[key], rtol=2e-5, atol=2e-6, err_msg=key)


@pytest.mark.parametrize("what", ["weights-per-output", "an-output-without-loss", "output-read"])
def test_several_outputs_the_step_does_not_take_train_layer_by_layer(emulator, what):
    """Weights per output (the plan is built, its epochs not taken), an output with no loss, an output
    another layer reads: the layer path's training, as on NumPy."""
    x, y, sw = data("two-heads")
    loss, weights = ["binary_crossentropy", "mse"], [sw, sw[::-1].copy()] if what == "weights-per-output" else sw
    if what == "an-output-without-loss":
        loss = {"a": "binary_crossentropy"}
    runs = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(7)
            i = gpunet.Input((8,))
            if what == "output-read":  # (its sigmoid is fused into the loss kernel: the reader needs it applied)
                a = L.Dense(1, activation="sigmoid", name="a")(i)
                model = Model(i, [a, L.Dense(2, name="b")(L.Concatenate()([a, i]))])
            else:
                model = two_heads()
            model.compile(optimizer="adam", loss=loss)
            runs.append((model, model.fit(x, y, sample_weight=weights, batch_size=16, epochs=2, verbose=0).history))
    (gpu, history), (_, want) = runs
    assert what == "weights-per-output" or not isinstance(gpu._plan, GpuGraphPlan)
    for key in want:
        np.testing.assert_allclose(history[key], want[key], rtol=2e-5, atol=2e-6, err_msg=key)


def _twice_mae(y_true, y_pred):
    """A user's loss function."""
    return 2.0 * gpunet.ops.mean(gpunet.ops.abs(y_true - y_pred), axis=-1)


GENERIC = {  # output a's loss, output b's loss (at least one without a kernel), which run their own compute
    "smoothing-and-huber": (lambda: gpunet.losses.BinaryFocalCrossentropy(label_smoothing=0.1),
                            lambda: gpunet.losses.Huber(delta=0.3), [True, True]),
    "focal-and-user-function": (lambda: gpunet.losses.BinaryFocalCrossentropy(gamma=2.0), lambda: _twice_mae,
                                [False, True]),  # (the binary focal loss: its own kernel)
    "kernel-and-mean-with-sample-weight": (
        lambda: "binary_crossentropy", lambda: gpunet.losses.MeanSquaredError(reduction="mean_with_sample_weight"),
        [False, True]),
    # sparse labels (one packed column for a two-unit output): a kernel's, and one without
    "sparse-logits": (lambda: gpunet.losses.BinaryCrossentropy(label_smoothing=0.2),
                      lambda: gpunet.losses.SparseCategoricalCrossentropy(from_logits=True), [False, False]),
    "sparse-ignore-class": (lambda: gpunet.losses.BinaryCrossentropy(label_smoothing=0.2),
                            lambda: gpunet.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
                            [False, True]),
}


def _fit_generic(case, ops, sw):
    x, y, weights = data("two-heads")
    if "sparse" in case:
        y = [y[0], (x[:, 2] > x[:, 3]).astype(int)]
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(11)
        model = two_heads()
        model.compile(optimizer="adam", loss=[make() for make in GENERIC[case][:2]], loss_weights=[0.5, 2.0],
                      metrics={"a": ["accuracy"]})
        history = model.fit(x, y, sample_weight=weights if sw else None, batch_size=16, epochs=3, verbose=0,
                            validation_split=0.2).history
        history["evaluate"] = model.evaluate(x, y, batch_size=16, verbose=0)
    return model, history


@pytest.mark.parametrize("sw", [True, False], ids=["weighted", "unweighted"])
@pytest.mark.parametrize("case", sorted(GENERIC))
def test_several_outputs_with_losses_no_kernel_computes_train_on_the_step_as_numpy(emulator, case, sw):
    """An output whose loss has no kernel (focal, a user's function, another reduction, ignore_class;
    Huber, whose delta a model of several outputs does not bake in) runs its loss's compute inside the
    graph step, times its loss weight; before, the whole model trained layer by layer on a GPU. Beside
    kernel losses, one with label smoothing (the plan smooths its columns of the targets)."""
    B.set_floatx("float64")
    gpu, history = _fit_generic(case, EmulatedCupyBackend(emulator), sw)
    plan = gpu._plan
    assert isinstance(plan, GpuGraphPlan) and plan.target_widths == [1, 1 if "sparse" in case else 2]
    assert [k.generic for k in plan.loss_kernels] == GENERIC[case][2]
    ref, want = _fit_generic(case, B.resolve("numpy"), sw)
    assert sorted(history) == sorted(want)
    for key in want:
        np.testing.assert_allclose(history[key], want[key], rtol=1e-10, atol=1e-12, err_msg=key)
    for got, ref_w in zip(gpu.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, ref_w, rtol=1e-9, atol=1e-12)


def test_an_outputs_loss_changed_in_place_is_followed(emulator):
    """One output's loss objects changed between two fits: label smoothing set (the plan smooths that
    output's targets afresh) and another reduction (the steps, which bake the gradient's scale in,
    are rebuilt: the plan compares each output's loss config); training goes on as NumPy's layer path."""
    x, y, _ = data("two-heads")
    runs = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(3)
            model, first, second = two_heads(), gpunet.losses.BinaryCrossentropy(), gpunet.losses.MeanSquaredError()
            model.compile(optimizer="adam", loss=[first, second])
            history = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
            first.label_smoothing, second.reduction = 0.3, "sum"
            history["after"] = model.fit(x, y, batch_size=16, epochs=2, verbose=0).history["loss"]
            runs.append((model, history))
    (gpu, history), (_, want) = runs
    kernels = gpu._plan.loss_kernels
    assert [k.generic for k in kernels] == [False, False] and [k.per_row for k in kernels] == [True, False]
    assert gpu._plan._smoothing == (0.3, 0.0)
    for key in want:
        np.testing.assert_allclose(history[key], want[key], rtol=2e-5, atol=2e-6, err_msg=key)


@pytest.mark.parametrize("losses", [("binary_crossentropy", "mse"),
                                    ("smoothed", "user")], ids=["kernels", "smoothing-and-a-users-function"])
def test_sample_weights_per_output_train_on_the_step_as_numpy(emulator, losses):
    """fit's weights per output (a dict of arrays): each output's loss kernel (or its loss's compute)
    reads its own column, gathered with the targets; before, such an epoch trained layer by layer."""
    x, y, sw = data("two-heads")
    weights = {"a": sw, "b": np.linspace(0.2, 3.0, len(sw))}
    make = {"binary_crossentropy": lambda: "binary_crossentropy", "mse": lambda: "mse", "user": lambda: _twice_mae,
            "smoothed": lambda: gpunet.losses.BinaryCrossentropy(label_smoothing=0.2)}
    B.set_floatx("float64")
    runs = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(11)
            model = two_heads()
            model.compile(optimizer="adam", loss=[make[name]() for name in losses], loss_weights=[1.0, 0.5],
                          weighted_metrics={"a": ["accuracy"]})
            emulator.launches.clear()
            history = model.fit(x, y, sample_weight=weights, batch_size=16, epochs=2, verbose=0).history
            history["evaluate"] = model.evaluate(x, y, sample_weight=weights, batch_size=16, verbose=0)
            runs.append((model, history, [k.split("<")[0] for k, _, _ in emulator.launches]))
    (gpu, history, kernels), (ref, want, _) = runs
    assert isinstance(gpu._plan, GpuGraphPlan) and gpu._plan.weight_columns == 2
    assert kernels.count("batch_gather") == 2 * 4  # (61 rows in batches of 16: every step on the plan)
    assert sorted(history) == sorted(want)
    for key in want:
        np.testing.assert_allclose(history[key], want[key], rtol=1e-10, atol=1e-12, err_msg=key)
    for a, b in zip(gpu.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
