"""Masks inside the fused steps: an ``Embedding(mask_zero=True)`` or a ``Masking`` layer, and the calls its
mask reaches (a Dropout, a Dense over the steps, the ``GlobalAveragePooling1D`` that takes it), run by their
layers' own code inside NumPy's graph plan and the GPU's graph step and forward plan (kernels emulated on
the CPU), the mask handed from call to call as the layer path hands it on (layers/masking.py); the Dense
layers after the pooling run in the plans' buffers and kernels. Keras's masked text classifier trained
layer by layer before. Each path trains and predicts as the layer path does; a mask going anywhere a plan
does not run by the layer's own code (a merge, the output) keeps the layer path, and what gpunet does not
implement is refused there as before."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend.gpu_graphs import Between
from gpunet.layers import (Add, BatchNormalization, Dense, Dropout, Embedding, GlobalAveragePooling1D, Input,
                           Masking, Reshape)
from gpunet.models import Sequential

N, STEPS, VOCAB = 101, 10, 40


def tokens():
    """Padded sequences (0 after each one's length), labelled by how many small ids they hold."""
    rng = numpy.random.default_rng(4)
    x = rng.integers(1, VOCAB, (N, STEPS)).astype("float64")
    for row, length in enumerate(rng.integers(2, STEPS + 1, N)):
        x[row, length:] = 0
    return x, (((x > 0) & (x < VOCAB // 2)).sum(1, keepdims=True) > 2).astype("float64")


def frames():
    """Sequences of 3 features, padded with all-zero steps (what ``Masking()`` masks), as rows."""
    rng = numpy.random.default_rng(5)
    x = rng.standard_normal((N, STEPS, 3))
    for row, length in enumerate(rng.integers(2, STEPS + 1, N)):
        x[row, length:] = 0.0
    return x.reshape((N, -1)), (x[:, :, 0].sum(1, keepdims=True) > 0).astype("float64")


def text_classifier():
    """The masking guide's classifier: masked embedding, a Dense over the steps, the masked mean, a head."""
    return Sequential([Embedding(VOCAB, 8, mask_zero=True, input_length=STEPS), Dropout(1e-13),
                       Dense(6, activation="tanh"), GlobalAveragePooling1D(), Dense(8, activation="relu"),
                       Dense(1, activation="sigmoid")])


def masked_frames():
    """A functional model over padded frames: Masking, a Dense over the steps, the masked mean, a residual head."""
    i = Input((STEPS * 3,))
    pooled = GlobalAveragePooling1D()(Dense(4, activation="relu")(Masking()(Reshape((STEPS, 3))(i))))
    return gpunet.Model(i, Dense(1, activation="sigmoid")(Add()([pooled, Dense(4)(pooled)])))


# name: (builder, data, the own-code calls with a mask: forward entries, backward entries)
CASES = {"text-classifier": (text_classifier, tokens, (4, 4)), "masked-frames": (masked_frames, frames, (4, 2))}
PATHS = ("layer-path", "numpy", "emulated-gpu")


def backend(path, emulator):
    """The backend a path runs on: the kernels' CPU emulation, CuPy (a GPU), or NumPy."""
    if path == "emulated-gpu":
        return EmulatedCupyBackend(emulator)
    return B.resolve("cupy" if path == "cupy" else "numpy")


def run(path, build, data, emulator=None):
    ops = backend(path, emulator)
    x, y = data()
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(3)
        model = build()
        model.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
        if path == "layer-path":
            model._train_plan = lambda: None
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False).history
        return model, history, ops.to_host(model.predict(x, verbose=0)), model.evaluate(x, y, verbose=0)


@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_masks_go_between_the_calls_the_plans_run_by_their_own_code(emulator, case, floatx):
    B.set_floatx(floatx)
    build, data, (forwards, backwards) = CASES[case]
    runs = {path: run(path, build, data, emulator) for path in PATHS}
    assert type(runs["numpy"][0]._plan).__name__ == "GraphPlan"
    gpu = runs["emulated-gpu"][0]
    assert type(gpu._plan).__name__ == "GpuGraphPlan" and type(gpu._gpu_forward).__name__ == "GpuGraphForward"
    for step in gpu._plan._steps.values():  # (no backward for the Reshape and Masking on the model's input)
        assert sum(isinstance(e, Between) for e in step.entries) == forwards + backwards
    tol = 1e-10 if floatx == "float64" else 2e-5
    ref = runs["layer-path"]
    for path in ("numpy", "emulated-gpu"):
        got = runs[path]
        for key in ref[1]:
            numpy.testing.assert_allclose(got[1][key], ref[1][key], rtol=tol, atol=tol, err_msg=f"{path} {key}")
        numpy.testing.assert_allclose(got[2], ref[2], rtol=tol * 10, atol=tol, err_msg=path)
        numpy.testing.assert_allclose(got[3], ref[3], rtol=tol, atol=tol, err_msg=path)
        for g, r in zip(got[0].get_weights(), ref[0].get_weights()):
            numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol, err_msg=path)
    assert ref[1]["loss"][-1] < ref[1]["loss"][0]


@pytest.mark.gpu
@pytest.mark.parametrize("case", sorted(CASES))
def test_on_a_gpu_the_graph_step_trains_masked_models_as_the_layer_path(case):
    """CuPy (float32): the graph step and forward plan, against NumPy's layer path."""
    B.set_floatx("float32")
    build, data, _ = CASES[case]
    got, ref = run("cupy", build, data), run("layer-path", build, data)
    assert type(got[0]._plan).__name__ == "GpuGraphPlan" and type(got[0]._gpu_forward).__name__ == "GpuGraphForward"
    for key in ref[1]:
        numpy.testing.assert_allclose(got[1][key], ref[1][key], rtol=2e-5, atol=2e-5, err_msg=key)
    numpy.testing.assert_allclose(got[2], ref[2], rtol=2e-4, atol=2e-5)
    for g, r in zip(got[0].get_weights(), ref[0].get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=2e-4, atol=2e-5)


@pytest.mark.gpu
@pytest.mark.real_gpu
def test_on_a_real_gpu_the_launches_between_the_masked_calls_are_captured(monkeypatch):
    """The step's launches before, between and after the own-code calls are captured as CUDA graphs and
    replayed; graph replay trains exactly as eager launches do."""
    B.set_floatx("float32")
    runs = []
    for graphs in ("0", "1"):
        monkeypatch.setenv("GPUNET_CUDA_GRAPHS", graphs)
        runs.append(run("cupy", text_classifier, tokens))
    (eager, *_), (graphed, *_) = runs
    assert graphed._plan._graphs.captures >= 1 and runs[0][1] == runs[1][1]
    for a, b in zip(eager.get_weights(), graphed.get_weights()):
        numpy.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("path", ["numpy", "emulated-gpu"])
def test_the_plans_leave_the_padding_out(emulator, path):
    """With mask_zero=True the padding's embedding (row 0) takes no gradient on the plan, so Adam leaves it
    as it was; without the mask it is averaged in and trained like any other row."""
    B.set_floatx("float64")
    x, y = tokens()
    ops = backend(path, emulator)
    for mask_zero in (True, False):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(3)
            model = Sequential([Embedding(VOCAB, 8, mask_zero=mask_zero, input_length=STEPS),
                                GlobalAveragePooling1D(), Dense(1, activation="sigmoid")])
            model.compile(optimizer="adam", loss="binary_crossentropy")
            padding = model.get_weights()[0][0].copy()
            model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        gpu = "GpuGraphPlan" if mask_zero else "GpuPlan"  # (without a mask: the chain's step)
        assert type(model._plan).__name__ == ("GraphPlan" if path == "numpy" else gpu)
        assert numpy.array_equal(model.get_weights()[0][0], padding) == mask_zero


@pytest.mark.parametrize("path", ["numpy", "emulated-gpu"])
def test_a_mask_the_plans_cannot_follow_keeps_the_layer_path(emulator, path):
    """A mask into a merge (tf.keras combines the inputs' masks): the layer path, which trains it; one into a
    BatchNormalization in training (its statistics over the unmasked steps: tests/test_batch_norm_masks.py): the
    layer path too."""
    B.set_floatx("float64")
    x, y = tokens()
    with B.use_backend(backend(path, emulator)):
        i = Input((STEPS,))
        merged = Add()([Embedding(VOCAB, 4, mask_zero=True)(i), Embedding(VOCAB, 4)(i)])
        model = gpunet.Model(i, Dense(1, activation="sigmoid")(GlobalAveragePooling1D()(merged)))
        model.compile(optimizer="adam", loss="binary_crossentropy")
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0).history
        assert model._plan is False and numpy.isfinite(history["loss"]).all()
        normed = Sequential([Embedding(VOCAB, 4, mask_zero=True, input_length=STEPS), BatchNormalization(),
                             GlobalAveragePooling1D(), Dense(1, activation="sigmoid")])
        normed.compile(optimizer="adam", loss="binary_crossentropy")
        history = normed.fit(x, y, batch_size=16, epochs=2, verbose=0).history
        assert normed._plan is False and numpy.isfinite(history["loss"]).all()
