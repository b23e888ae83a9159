"""``import gpunet.backend as K``: Keras 2's backend functions next to the backend selection API."""
import numpy as np
import pytest

import gpunet.backend as K
from gpunet.autodiff import Tensor, gradients

ISSUE_NAMES = ["mean", "sum", "square", "sqrt", "abs", "exp", "log", "clip", "maximum", "minimum", "pow", "dot",
               "transpose", "reshape", "concatenate", "sigmoid", "tanh", "softmax", "relu", "epsilon", "cast",
               "ones_like", "zeros_like", "sign", "where", "switch", "binary_crossentropy",
               "categorical_crossentropy", "std", "var", "any", "all", "greater", "greater_equal", "less",
               "less_equal", "equal", "not_equal"]


def test_keras2_names_and_the_backend_selection_api_live_together():
    missing = [n for n in ISSUE_NAMES if not callable(getattr(K, n, None))]
    assert not missing
    assert K.epsilon() == 1e-7 and K.floatx() == "float32" and callable(K.set_backend) and callable(K.use_backend)
    assert K.backend() in ("numpy", "cupy")


def test_values_on_plain_arrays_and_mixed_operands(ops):
    x = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]], dtype="float32")
    assert isinstance(K.mean(x), Tensor)
    np.testing.assert_allclose(K.mean(K.square(x), axis=-1).numpy(), [14 / 3, 1.25 / 3], rtol=1e-6)
    assert K.mean(x).dtype == np.float32 and (K.constant(2.0) * x).dtype == np.float32
    np.testing.assert_array_equal(K.switch(x > 0, x, K.zeros_like(x)).numpy(), np.maximum(x, 0))
    np.testing.assert_array_equal(K.any(K.greater(x, 2.5), axis=1).numpy(), [True, False])
    np.testing.assert_array_equal(K.all(K.not_equal(x, 0.0), axis=1).numpy(), [True, False])
    np.testing.assert_allclose((x + K.ones_like(x)).numpy(), x + 1)  # NumPy array on the left
    assert K.int_shape(K.concatenate([x, x])) == (2, 6) and K.ndim(x) == 2
    assert float(K.sum(K.cast(K.equal(x, 0.0), "float32"))) == 1.0


def test_gradients_flow_through_keras_functions(ops):
    x = Tensor(ops.asarray(np.array([[0.2, 0.9], [0.6, 0.3]])), requires_grad=True)
    y = ops.asarray(np.array([[0.0, 1.0], [1.0, 0.0]]))
    loss = K.mean(K.binary_crossentropy(y, K.clip(x, K.epsilon(), 1 - K.epsilon())))
    (g,) = gradients(loss, [x])
    xh, yh = ops.to_host(x.data), ops.to_host(y)
    expected = (-(yh / (xh + 1e-7)) + (1 - yh) / (1 - xh + 1e-7)) / 4
    np.testing.assert_allclose(ops.to_host(g), expected, rtol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="Reduction axis 2 is out of range for a tensor of rank 2"):
        K.sum(np.zeros((2, 2)), axis=2)
    with pytest.raises(ValueError, match=r"K.dot in gpunet multiplies by a 1-D or 2-D tensor"):
        K.dot(np.zeros((2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="upstream gradient has shape"):
        t = Tensor(np.zeros(3), requires_grad=True)
        gradients(t * 2, [t], np.zeros(2))
