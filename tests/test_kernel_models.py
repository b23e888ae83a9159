"""Whole models trained through CupyBackend's code with the kernels emulated on
the CPU, against the NumPy backend: the dispatch, the buffers (flat parameter and
gradient views, relu masks, batch splits) and every fused optimizer together."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from kernel_cases import MODELS, OPTIMIZERS, assert_same_training, train


# Every pair of a model (its activations) and an optimizer, once: the activation kernels and the optimizer's are
# apart, and each model and each optimizer runs in both float types (half the full cross product's time).
PAIRS = [pytest.param(acts, opt, floatx, id=f"{'-'.join(acts)}-{opt['class_name']}-{floatx}")
         for i, acts in enumerate(MODELS) for j, opt in enumerate(OPTIMIZERS)
         for floatx in [("float64", "float32")[(i + j) % 2]]]


def test_every_model_and_optimizer_runs_in_both_float_types():
    for column in (0, 1):
        seen = {(str(p.values[column]), p.values[2]) for p in PAIRS}
        assert len(seen) == 2 * len((MODELS, OPTIMIZERS)[column])


@pytest.mark.parametrize("activations, optimizer, floatx", PAIRS)
def test_kernel_model_trains_like_numpy(emulator, activations, optimizer, floatx):
    B.set_floatx(floatx)
    emulator.launches.clear()
    got = train(EmulatedCupyBackend(emulator), activations, optimizer)
    ref = train(B.resolve("numpy"), activations, optimizer)
    assert_same_training(got, ref, floatx)
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    assert {"dense_forward", "dense_backward", optimizer["class_name"].lower() + "_update"} <= kernels


@pytest.mark.parametrize("fused_step, kernel", [("0", "dense_forward<float>"), ("1", "mlp_step<float>")])
def test_kernel_model_terminate_on_nan_stops_at_the_bad_batch(emulator, capsys, monkeypatch, fused_step, kernel):
    """A NaN input row reaches the loss through the kernels as it does on NumPy (relu
    once turned it into 0 on the GPU, and TerminateOnNaN never fired there): through the
    multi-launch step and through the one-launch step of small models."""
    monkeypatch.setenv("GPUNET_FUSED_STEP", fused_step)
    from gpunet.callbacks import LambdaCallback, TerminateOnNaN
    from gpunet.layers import Dense
    from gpunet.models import Sequential

    monkeypatch.setenv("GPUNET_CHECK_FINITE", "0")  # fit refuses NaN data unless told
    rng = numpy.random.RandomState(0)
    x = rng.rand(40, 3).astype("float32")
    y = (x.sum(axis=1) > 1.5).astype("float32")
    x[9] = numpy.nan  # in batch 2 with batch_size=4 and no shuffling
    batches = []
    emulator.launches.clear()
    with B.use_backend(EmulatedCupyBackend(emulator)):
        model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1, activation="sigmoid")])
        model.compile(loss="binary_crossentropy", optimizer="adam")
        history = model.fit(x, y, epochs=5, batch_size=4, shuffle=False, verbose=0,
                            callbacks=[TerminateOnNaN(), LambdaCallback(on_batch_end=lambda b, logs: batches.append(b))])
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"
    assert batches == [0, 1, 2] and numpy.isnan(history.history["loss"][0])
    assert kernel in {k for k, _, _ in emulator.launches}


def test_layer_path_reads_the_loss_once_an_epoch_on_a_gpu(emulator):
    """A model the step plan does not take (a frozen BatchNormalization layer in it) trains layer by layer.
    On a GPU its epoch's loss stays on the device until the epoch ends, so the host never
    waits for a batch, unless a callback wants batch logs; the losses are the same bit for
    bit either way, and NumPy's (float64)."""
    from gpunet.callbacks import LambdaCallback
    from gpunet.layers import BatchNormalization, Dense
    from gpunet.models import Sequential

    B.set_floatx("float64")
    rng = numpy.random.RandomState(3)
    x = rng.rand(40, 4)
    y = (x.sum(axis=1) > 2.0).astype("float64")
    start, evaluate_reads = None, {}

    def run(ops, batch_size, callbacks=()):
        nonlocal start
        with B.use_backend(ops):
            model = Sequential([Dense(6, input_dim=4, activation="relu"), BatchNormalization(trainable=False),
                                Dense(1, activation="sigmoid")])
            model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
            model._build_plan = lambda: None  # (NumPy's graph step would take it: the layer path on every backend)
            start = start or model.get_weights()
            model.set_weights(start)
            before = getattr(ops, "host_reads", 0)
            history = model.fit(x, y, epochs=3, batch_size=batch_size, shuffle=False, verbose=0,
                                callbacks=list(callbacks))
            reads = getattr(ops, "host_reads", 0) - before
            history.history["evaluate"] = model.evaluate(x, y, batch_size=batch_size, verbose=0)
            evaluate_reads[batch_size, bool(callbacks)] = getattr(ops, "host_reads", 0) - before - reads
        assert not getattr(model, "_plan", None), "the layer path trained it"
        return history.history, reads

    gpu = EmulatedCupyBackend(emulator)
    reference, _ = run(B.resolve("numpy"), 4)
    per_epoch, reads_4 = run(gpu, 4)
    _, reads_8 = run(gpu, 8)
    per_batch, reads_logged = run(gpu, 4, [LambdaCallback(on_batch_end=lambda b, logs: None)])
    assert per_epoch == per_batch  # the sum kept on the device is the sum read batch by batch
    for key, values in reference.items():  # (the kernels' GEMMs sum in another order than NumPy's BLAS)
        numpy.testing.assert_allclose(per_epoch[key], values, rtol=1e-12)
    assert reads_4 == reads_8 == 3, (reads_4, reads_8)  # 10 or 5 batches an epoch: one read each epoch
    assert reads_logged == 3 * 10  # each batch's running loss, for its logs
    assert evaluate_reads[4, False] == evaluate_reads[8, False]  # evaluate too reads once, not per batch



@pytest.mark.gpu
def test_layer_path_on_a_real_gpu_equals_numpy():
    """A frozen BatchNormalization model (the layer path) on CuPy: the loss kept on the device gives
    NumPy's history and evaluation, with and without batch logs."""
    from gpunet.callbacks import LambdaCallback
    from gpunet.layers import BatchNormalization, Dense
    from gpunet.models import Sequential

    B.set_floatx("float64")
    rng = numpy.random.RandomState(3)
    x = rng.rand(60, 4)
    y = (x.sum(axis=1) > 2.0).astype("float64")
    runs = []
    for backend, callbacks in (("numpy", []), ("cupy", []), ("cupy", [LambdaCallback(on_batch_end=lambda b, l: None)])):
        with B.use_backend(backend):
            gpunet.utils.set_random_seed(1)
            model = Sequential([Dense(6, input_dim=4, activation="relu"), BatchNormalization(trainable=False),
                                Dense(1, activation="sigmoid")])
            model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
            history = model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=callbacks)
            runs.append((history.history, model.evaluate(x, y, batch_size=8, verbose=0)))
    for got in runs[1:]:
        for key, values in runs[0][0].items():
            numpy.testing.assert_allclose(got[0][key], values, rtol=1e-10, err_msg=key)
        numpy.testing.assert_allclose(got[1], runs[0][1], rtol=1e-10)
