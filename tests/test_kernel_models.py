"""Whole models trained through CupyBackend's code with the kernels emulated on
the CPU, against the NumPy backend: the dispatch, the buffers (flat parameter and
gradient views, relu masks, batch splits) and every fused optimizer together."""
import numpy
import pytest

from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from kernel_cases import MODELS, OPTIMIZERS, assert_same_training, train


@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: o["class_name"])
@pytest.mark.parametrize("activations", MODELS, ids="-".join)
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
