import os
import subprocess
import sys

import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet.backend import NumpyBackend, cupy_unavailable_reason


def test_numpy_backend_is_reference_and_default_here():
    with B.use_backend("numpy") as ops:
        assert isinstance(ops, NumpyBackend)
        assert ops.name == "numpy" and ops.device == "cpu"


def test_auto_picks_cupy_only_with_cuda():
    expected = "numpy" if cupy_unavailable_reason() is not None else "cupy"
    assert B.resolve("auto").name == expected


def test_unknown_backend_name_is_rejected():
    with pytest.raises(ValueError, match="Unknown backend 'tpu'.*'auto', 'numpy', 'cupy'"):
        B.set_backend("tpu")


@pytest.mark.skipif(cupy_unavailable_reason() is None, reason="CUDA is available here")
def test_asking_for_cupy_without_cuda_says_why_and_how_to_install():
    with pytest.raises(RuntimeError) as info:
        B.set_backend("cupy")
    msg = str(info.value)
    assert "cannot run here" in msg
    assert ("pip install" in msg) or ("is_available() is False" in msg)


def test_use_backend_restores_previous():
    before = B.get_backend()
    with B.use_backend("numpy"):
        pass
    assert B.get_backend() is before


def test_env_var_selects_backend_in_fresh_process():
    env = dict(os.environ, GPUNET_BACKEND="numpy")
    out = subprocess.run([sys.executable, "-c", "import gpunet; print(gpunet.backend.get_backend().name)"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "numpy"
    env["GPUNET_BACKEND"] = "bogus"
    bad = subprocess.run([sys.executable, "-c", "import gpunet; gpunet.backend.get_backend()"],
                         env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "Unknown backend 'bogus'" in bad.stderr


def test_floatx_default_and_settable():
    assert B.floatx() == "float32"
    B.set_floatx("float64")
    from gpunet.layers import Dense
    layer = Dense(3)
    layer.build((None, 2))
    assert layer.kernel.value.dtype == np.float64
    with pytest.raises(ValueError, match="Unknown floatx 'int8'"):
        B.set_floatx("int8")


def test_matmul_transposes_and_out(ops):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 5))
    A, Bm = ops.asarray(a), ops.asarray(b)
    out = ops.empty((3, 5), A.dtype)
    res = ops.matmul(A, Bm, trans_a=True, out=out)
    np.testing.assert_allclose(ops.to_host(res), a.T @ b)
    np.testing.assert_allclose(ops.to_host(ops.matmul(Bm, A, trans_a=True)), b.T @ a)
    np.testing.assert_allclose(ops.to_host(ops.matmul(A, A, trans_b=True)), a @ a.T)


def test_dropout_mask_rate_and_scale(ops):
    gpunet.utils.set_random_seed(3)
    mask = ops.to_host(ops.dropout_mask((200, 50), 0.25, "float32"))
    assert set(np.unique(mask)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((mask == 0).mean() - 0.25) < 0.02


def test_set_random_seed_repeats_draws(ops):
    gpunet.utils.set_random_seed(11)
    a = ops.to_host(ops.draw_normal((5,), 0.0, 1.0, "float64"))
    gpunet.utils.set_random_seed(11)
    b = ops.to_host(ops.draw_normal((5,), 0.0, 1.0, "float64"))
    assert np.array_equal(a, b)


def test_random_state_round_trips():
    from gpunet.backend import random
    state = random.get_state()
    a = random.generator().random(3)
    random.set_state(state)
    assert np.array_equal(a, random.generator().random(3))


def test_set_value_and_get_value():
    class Var:
        def __init__(self):
            self.v = 1.0

        def assign(self, v):
            self.v = v

        def numpy(self):
            return self.v
    v = Var()
    B.set_value(v, 0.5)
    assert B.get_value(v) == 0.5
    with pytest.raises(TypeError, match="expects a gpunet variable"):
        B.set_value(3.0, 1.0)


def test_bias_add_broadcasts_over_rows_and_writes_out(ops):
    x = ops.asarray(np.arange(6, dtype="float32").reshape(2, 3))
    b = ops.asarray(np.array([10, 20, 30], dtype="float32"))
    out = ops.empty((2, 3), "float32")
    res = ops.bias_add(x, b, out=out)
    assert ops.to_host(res).tolist() == [[10, 21, 32], [13, 24, 35]]
    assert ops.to_host(out).tolist() == [[10, 21, 32], [13, 24, 35]]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scatter_add_rows_adds_repeated_rows_as_add_at_does(ops, dtype):
    """An Embedding's gradient: every id's rows summed, in the ids' order (the same bits as NumPy's add.at
    over rows, on NumPy), into a contiguous buffer and into a strided view alike, rows of several axes too."""
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 7, (5, 40))
    values = rng.standard_normal((5, 40, 3, 2)).astype(dtype)
    want = np.zeros((7, 3, 2), dtype)
    np.add.at(want, ids.reshape(-1), values.reshape(-1, 3, 2))
    out = ops.zeros((7, 3, 2), dtype)
    ops.scatter_add_rows(out, ops.asarray(ids), ops.asarray(values))
    strided = ops.zeros((7, 3, 4), dtype)[:, :, ::2]  # (not contiguous: the rows' own add.at)
    ops.scatter_add_rows(strided, ops.asarray(ids), ops.asarray(values))
    for got in (out, strided):
        if ops.xp is np:
            np.testing.assert_array_equal(ops.to_host(got), want)
        else:  # (atomics: another order of additions)
            np.testing.assert_allclose(ops.to_host(got), want, rtol=1e-5, atol=1e-5)
    assert np.count_nonzero(want) == want.size  # (every id drawn: each row a sum of several)
