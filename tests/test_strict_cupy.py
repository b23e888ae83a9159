"""The strict emulation of ``pytest --gpu-dryrun-strict`` (strict_cupy.py): its device arrays refuse
what CuPy refuses (implicit conversion to NumPy, NumPy operands), accept what CuPy accepts, and a
model trained on it equals NumPy."""
import numpy as np
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.layers import Dense
from gpunet.models import Sequential
from strict_cupy import FAKE, StrictCupyBackend


def test_device_arrays_refuse_what_cupy_refuses():
    d, h = FAKE.asarray(np.arange(6.0).reshape(2, 3)), np.ones((2, 3))
    assert not isinstance(d, np.ndarray)
    for refused in (lambda: np.asarray(d), lambda: np.testing.assert_allclose(d, h), lambda: d + h,
                    lambda: FAKE.maximum(d, h), lambda: np.concatenate([d, h])):
        with pytest.raises(TypeError, match=r"\[strict-cupy\].*real CuPy refuses this"):
            refused()


def test_device_arrays_accept_what_cupy_accepts():
    d = FAKE.zeros((2, 3))
    d[0] = np.array([1.0, 2.0, 3.0])  # host values assigned in
    d += 1.0
    taken = FAKE.take(d, np.array([1, 0]), axis=0)  # host indices
    assert FAKE.asnumpy(taken).tolist() == [[1.0, 1.0, 1.0], [2.0, 3.0, 4.0]]
    assert float(d.sum()) == 12.0 and (d * np.float32(2)).shape == (2, 3)
    assert FAKE.asarray(d) is d and isinstance(FAKE.asarray(np.ones(2)), type(d))


def test_a_model_trains_on_the_strict_backend_as_on_numpy(emulator):  # noqa: F811
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    results = []
    for ops in (B.resolve("numpy"), StrictCupyBackend(emulator)):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(3)
            model = Sequential([Dense(6, activation="relu", input_dim=4), Dense(1, activation="sigmoid")])
            model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
            history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
            results.append((history, model.predict(x, verbose=0), model.get_weights()))
    (h0, p0, w0), (h1, p1, w1) = results
    np.testing.assert_allclose(h1["loss"], h0["loss"], rtol=1e-5)
    np.testing.assert_allclose(p1, p0, rtol=1e-5, atol=1e-6)
    assert isinstance(p1, np.ndarray) and all(isinstance(w, np.ndarray) for w in w1)


def test_a_numpy_model_used_under_the_gpu_backend_regularizes_and_constrains_on_numpy(emulator):  # noqa: F811
    """Built under NumPy, trained and evaluated while the current backend is a (strict) GPU one: the
    regularizers and constraints compute on the weights' own backend (they took the current one)."""
    x = np.random.default_rng(1).normal(size=(20, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    with B.use_backend("numpy"):
        gpunet.utils.set_random_seed(4)
        model = Sequential([Dense(5, input_dim=4, kernel_regularizer="l2", kernel_constraint="max_norm",
                                  activity_regularizer="l1"), Dense(1, activation="sigmoid")])
        model.compile(optimizer="adam", loss="binary_crossentropy")
        want = model.evaluate(x, y, verbose=0)
    with B.use_backend(StrictCupyBackend(emulator)):
        assert model.evaluate(x, y, verbose=0) == want
        model.fit(x, y, epochs=1, verbose=0)
    assert all(isinstance(w, np.ndarray) for w in model.get_weights())
