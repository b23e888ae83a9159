"""Suite 5, ``model.save`` + ``gpunet.models.load_model`` of a ~50M-parameter model
(3 x Dense(4096) on 4096 inputs, uncompiled: weights only) against raw h5py writing
and reading the same arrays to and from one file: ms per save + load."""
import os

import numpy
import pytest

from . import peers
from .workloads import initial_weights, save_mlp


def _gpunet_save_load():
    """(save, load) of gpunet, or a skip while its saving code is not there or not working."""
    try:
        from gpunet.models import load_model
        from gpunet.saving import model_io  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"gpunet.models.load_model is not available yet: {exc}")
    return load_model


def _case(spec):
    n = spec.n_params
    return f"{n / 1e6:.1f}M params" if n >= 1e6 else f"{n:,} params"


@pytest.fixture(scope="module")
def arrays(sizes):
    spec = save_mlp(sizes.save_width)
    return spec, initial_weights(spec, seed=3)


def test_save_load_gpunet(benchmark, arrays, sizes, run_bench, tmp_path):
    spec, weights = arrays
    load_model = _gpunet_save_load()
    model = peers.GpunetPeer().mlp(spec, weights, compile=False)
    path = str(tmp_path / "model.h5")
    try:  # probe once: a saving module that is still being written is skipped, not timed
        model.save(path)
        back = load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 (the saving issue's own tests say what is wrong)
        pytest.skip(f"gpunet save/load_model does not work yet: {type(exc).__name__}: {exc}")
    for a, b in zip(weights, back.get_weights()):
        numpy.testing.assert_array_equal(a, b)

    def save_load():
        os.remove(path)
        model.save(path)
        return load_model(path, compile=False)

    run_bench(benchmark, save_load, suite="save_load", case=_case(spec),
              framework="gpunet", unit="ms", rounds=sizes.save_rounds)


@pytest.mark.framework("h5py")
def test_save_load_h5py(benchmark, arrays, sizes, run_bench, tmp_path):
    import h5py
    spec, weights = arrays
    path = str(tmp_path / "raw.h5")

    def save_load():
        with h5py.File(path, "w") as f:
            for i, a in enumerate(weights):
                f.create_dataset(f"w{i}", data=a)
        with h5py.File(path, "r") as f:
            return [f[f"w{i}"][()] for i in range(len(weights))]

    back = save_load()
    for a, b in zip(weights, back):
        numpy.testing.assert_array_equal(a, b)
    run_bench(benchmark, save_load, suite="save_load", case=_case(spec),
              framework="h5py", unit="ms", rounds=sizes.save_rounds)
