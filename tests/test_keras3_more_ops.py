"""More of Keras 3's ``keras.ops`` (gpunet/autodiff/more_ops.py) against Keras 3 on torch: values and gradients
(torch autograd, random upstream gradient, float64), constants and their dtypes; and Keras 3's top-level names
(``keras.Layer``, ``keras.Loss``, ... ``keras.version()``) in a program written with them."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import ops
from keras_support import assert_constants_match, keras_float64_on_numpy, keras_on_torch, matches_torch

keras = keras_on_torch()
kops = keras.ops
torch = pytest.importorskip("torch")

RNG = np.random.default_rng(11)
X = RNG.uniform(-2.0, 2.0, (2, 3, 4))
UNIT = RNG.uniform(-0.9, 0.9, (2, 3, 4))
POS = RNG.uniform(0.5, 2.0, (2, 3, 4))
M = RNG.uniform(-2.0, 2.0, (3, 4))
ZEROS_IN = np.where(RNG.random((3, 4)) < 0.3, 0.0, M)


@pytest.fixture(autouse=True)
def _float64_on_numpy():
    with keras_float64_on_numpy(keras):
        yield


def _same(name):
    return getattr(ops, name), getattr(kops, name)


CASES = {name: (*_same(name), arrays) for name, arrays in {
    "tan": [UNIT], "sinh": [X], "cosh": [X], "arcsin": [UNIT], "arccos": [UNIT], "arctan": [X], "arcsinh": [X],
    "arccosh": [POS + 0.6], "arctanh": [UNIT], "log2": [POS], "log10": [POS], "exp2": [X], "cbrt": [POS],
    "hypot": [X, POS[0]], "arctan2": [X, M], "logaddexp": [X * 10, POS], "copy": [X], "ravel": [X],
}.items()}
CASES.update({
    "divide_no_nan": (ops.divide_no_nan, kops.divide_no_nan, [M, ZEROS_IN]),
    "roll": (lambda x: ops.roll(x, 2, axis=1), lambda x: kops.roll(x, 2, axis=1), [X]),
    "roll flat": (lambda x: ops.roll(x, -5), lambda x: kops.roll(x, -5), [X]),
    # (Keras 3 on torch takes tensordot in float32: torch's own is the reference)
    "tensordot 1": (lambda a, b: ops.tensordot(a, b, axes=1), lambda a, b: torch.tensordot(a, b, dims=1), [X, M.T]),
    "tensordot pairs": (lambda a, b: ops.tensordot(a, b, axes=([1, 0], [0, 2])),
                        lambda a, b: torch.tensordot(a, b, dims=([1, 0], [0, 2])), [X, RNG.normal(size=(3, 5, 2))]),
    "unstack": (lambda x: ops.unstack(x, axis=1)[2], lambda x: kops.unstack(x, axis=1)[2], [X]),
    "hstack": (lambda a, b: ops.hstack([a, b]), lambda a, b: kops.hstack([a, b]), [M, M * 2]),
    "vstack": (lambda a, b: ops.vstack([a, b]), lambda a, b: kops.vstack([a, b]), [M[0], M[1]]),
    "trace": (ops.trace, kops.trace, [M]),
    "trace offset axes": (lambda x: ops.trace(x, offset=1, axis1=1, axis2=2),
                          lambda x: kops.trace(x, offset=1, axis1=1, axis2=2), [X]),
    "select": (lambda a, b: ops.select([a > 0.5, b < 0], [a, b * 2], default=0.25),
               lambda a, b: kops.select([a > 0.5, b < 0], [a, b * 2], default=0.25), [M, M[::-1] * 1.0]),
})


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_match_keras3(name):
    mine, theirs, arrays = CASES[name]
    matches_torch(mine, theirs, arrays)


def test_constants_and_host_values_are_keras3s():
    keras.config.set_floatx("float32")
    B.set_floatx("float32")
    pairs = [(ops.trunc(X), kops.trunc(torch.tensor(X))),
             (ops.linspace(0, 1, 5), kops.linspace(0, 1, 5)),
             (ops.linspace(2.0, 3.0, 4, endpoint=False), kops.linspace(2.0, 3.0, 4, endpoint=False)),
             (ops.isclose(M, M + 1e-9), kops.isclose(torch.tensor(M), torch.tensor(M + 1e-9)))]
    pairs += list(zip(ops.meshgrid(np.arange(3.0), np.arange(2.0)), kops.meshgrid(np.arange(3.0), np.arange(2.0))))
    pairs += list(zip(ops.meshgrid(np.arange(3.0), np.arange(2.0), indexing="ij"),
                      kops.meshgrid(np.arange(3.0), np.arange(2.0), indexing="ij")))
    assert_constants_match(pairs)
    assert ops.allclose(M, M + 1e-9) is True and ops.allclose(M, M + 1.0) is False
    host = ops.convert_to_numpy(ops.ones((2, 2)) * 3)
    assert isinstance(host, np.ndarray) and host.tolist() == [[3.0, 3.0], [3.0, 3.0]]
    with pytest.raises(ValueError, match="unstack: num=2 differs from the size 3 of axis 0"):
        ops.unstack(M, num=2)


def test_a_keras3_program_with_top_level_names_runs():
    """``keras.Layer``, ``keras.Loss``, ``keras.Metric``, ``keras.ops``, ``keras.name_scope``, ``keras.version()``:
    Keras 3's top-level names, as its guides write them."""
    keras_like = gpunet

    class Angle(keras_like.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2), initializer="random_normal")

        def call(self, x):
            y = keras_like.ops.matmul(x, self.w)
            return keras_like.ops.expand_dims(keras_like.ops.arctan2(y[:, 0], y[:, 1]), -1)

    class LogCosh(keras_like.Loss):
        def call(self, y_true, y_pred):
            return keras_like.ops.mean(keras_like.ops.log(keras_like.ops.cosh(y_pred - y_true)), axis=-1)

    class Seen(keras_like.Metric):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.n = self.add_variable(shape=(), initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.n.assign_add(keras_like.ops.cast(keras_like.ops.shape(y_true)[0], "float32"))

        def result(self):
            return self.n

    assert isinstance(keras_like.version(), str)
    with keras_like.name_scope("block", caller=None):
        model = keras_like.Sequential([keras_like.Input((3,)), Angle()])
    model.compile(optimizer=keras_like.optimizers.Adam(0.05), loss=LogCosh(), metrics=[Seen()])
    x = RNG.normal(size=(32, 3)).astype("float32")
    history = model.fit(x, np.arctan2(x[:, :1], 1.0), epochs=5, batch_size=8, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] and history["seen"] == [32.0] * 5
    assert all(issubclass(c, base) for c, base in ((Angle, gpunet.layers.Layer), (LogCosh, gpunet.losses.Loss),
                                                   (Seen, gpunet.metrics.Metric)))
    assert gpunet.Optimizer is gpunet.optimizers.Optimizer and gpunet.InputSpec is gpunet.layers.InputSpec


def test_the_keras3_ops_namespaces_hold_what_keras3_files_under_them():
    from gpunet.ops import linalg, nn, numpy as knp
    import gpunet.ops.nn as imported
    assert imported is nn and ops.nn.sigmoid is ops.sigmoid and knp.tensordot is ops.tensordot
    for mine, theirs in ((nn, kops.nn), (knp, kops.numpy), (linalg, kops.linalg)):
        assert mine.__all__ and set(mine.__all__) <= set(dir(theirs)), set(mine.__all__) - set(dir(theirs))
    assert len(knp.__all__) > 100 and {"relu", "softmax", "one_hot", "moments"} <= set(nn.__all__)
