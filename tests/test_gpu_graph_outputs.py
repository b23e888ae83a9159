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


@pytest.mark.parametrize("what", ["weights-per-output", "an-output-without-loss", "sparse-output", "output-read"])
def test_several_outputs_the_step_does_not_take_train_layer_by_layer(emulator, what):
    """Weights per output (the plan is built, its epochs not taken), an output with no loss, a sparse
    output's packed labels, an output another layer reads: the layer path's training, as on NumPy."""
    x, y, sw = data("two-heads")
    loss, weights = ["binary_crossentropy", "mse"], [sw, sw[::-1].copy()] if what == "weights-per-output" else sw
    if what == "sparse-output":
        y, loss = [y[0], (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)], ["binary_crossentropy",
                                                                        "sparse_categorical_crossentropy"]
    elif what == "an-output-without-loss":
        loss = {"a": "binary_crossentropy"}
    runs = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(7)
            i = gpunet.Input((8,))
            if what == "output-read":  # (its sigmoid is fused into the loss kernel: the reader needs it applied)
                a = L.Dense(1, activation="sigmoid", name="a")(i)
                model = Model(i, [a, L.Dense(2, name="b")(L.Concatenate()([a, i]))])
            elif what == "sparse-output":
                model = Model(i, [L.Dense(1, activation="sigmoid", name="a")(i),
                                  L.Dense(3, activation="softmax", name="b")(i)])
            else:
                model = two_heads()
            model.compile(optimizer="adam", loss=loss)
            runs.append((model, model.fit(x, y, sample_weight=weights, batch_size=16, epochs=2, verbose=0).history))
    (gpu, history), (_, want) = runs
    assert what == "weights-per-output" or not isinstance(gpu._plan, GpuGraphPlan)
    for key in want:
        np.testing.assert_allclose(history[key], want[key], rtol=2e-5, atol=2e-6, err_msg=key)
