"""Whole models trained through CupyBackend's code with the kernels emulated on
the CPU, against the NumPy backend: the dispatch, the buffers (flat parameter and
gradient views, relu masks, batch splits) and every fused optimizer together."""
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
