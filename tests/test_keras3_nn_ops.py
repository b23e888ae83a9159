"""Keras 3's nn ops in gpunet/autodiff/keras3_nn_ops.py against Keras 3 on torch: values and gradients (torch
autograd, random upstream gradient, float64) of the differentiable ones, values and dtypes of the others, the
re-exported Keras 3 activations, the errors for bad input; and the same values and gradients on the default
backend (the emulated CuPy under --gpu-dryrun-strict) as on NumPy."""
import warnings

import numpy as np
import pytest

from gpunet import backend as B
from gpunet.autodiff import Tensor, gradients
from gpunet import ops as nn  # (the public names: gpunet/autodiff/keras3_nn_ops.py)
from keras_support import assert_constants_match, keras_float64_on_numpy, keras_on_torch, matches_torch

keras = keras_on_torch()
kops = keras.ops
torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)
X = RNG.normal(size=(2, 3, 4))
X2 = X + RNG.normal(scale=0.3, size=X.shape)
V3, V4, V34 = RNG.normal(size=3), RNG.normal(size=4), RNG.normal(size=(3, 4))
POS3 = RNG.uniform(0.5, 2.0, 3)
Q, K, V = RNG.normal(size=(2, 3, 4, 5)), RNG.normal(size=(2, 6, 4, 5)), RNG.normal(size=(2, 6, 4, 7))
K2, V2 = RNG.normal(size=(2, 6, 2, 5)), RNG.normal(size=(2, 6, 2, 7))
K1, V1 = RNG.normal(size=(2, 6, 1, 5)), RNG.normal(size=(2, 6, 1, 7))
BIAS = RNG.normal(size=(2, 4, 3, 6))
MASK = RNG.random((2, 1, 3, 6)) < 0.6
MASK[:, :, :, 0] = True
MASK_EMPTY_ROW = MASK.copy()
MASK_EMPTY_ROW[1, 0, 2] = False  # a query that may see no key: uniform weights in Keras 3 (a finite mask value)
NHWC, NCHW = RNG.normal(size=(2, 2, 3, 8)), RNG.normal(size=(2, 8, 2, 3))
# away from the kinks of the piecewise activations (0, +-0.5, +-1, +-3) by more than the tolerance
A = np.concatenate([np.linspace(-4.05, 4.05, 28), [-1.1, 1.1, 0.45, -0.55, 3.2, -2.9]]).reshape(2, 17)


@pytest.fixture(autouse=True)
def _float64_on_numpy(monkeypatch):
    """Keras 3 in float64 throughout: on torch and JAX its ``result_type`` turns float64 into float32 (JAX's
    default), which ``dot_product_attention`` and the normalizations compute in; on TensorFlow, as here, it
    keeps float64, as gpunet does."""
    from keras.src.backend.common import dtypes
    monkeypatch.setitem(dtypes.BIT64_TO_BIT32_DTYPE, "float64", "float64")
    with keras_float64_on_numpy(keras):
        yield


def _torch_layer_norm(x, g, b, axes, eps=1e-7):
    """Keras 3's generic (non-torch) layer normalization, for the axes torch's F.layer_norm refuses."""
    m = x.mean(dim=axes, keepdim=True)
    out = (x - m) * torch.rsqrt(x.var(dim=axes, keepdim=True, unbiased=False) + eps)
    return out * g.reshape(1, -1, 1) + b.reshape(1, -1, 1)


def _keras_rms_scaling(x, g):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kops.layer_normalization(x, g, rms_scaling=True)


def _both(call, **kw):
    """``call`` (a name) with the same keywords in gpunet and Keras 3."""
    return (lambda *a: getattr(nn, call)(*a, **kw)), (lambda *a: getattr(kops, call)(*a, **kw))


CASES = {
    "glu": (*_both("glu"), [X]),
    "glu axis 0": (*_both("glu", axis=0), [X]),
    "layer_normalization": (*_both("layer_normalization"), [X, V4, V4 + 0.5]),
    "layer_normalization two axes": (*_both("layer_normalization", axis=(1, 2)), [X, V34, V34 * 2]),
    "layer_normalization epsilon": (*_both("layer_normalization", epsilon=0.5), [X]),
    "layer_normalization rms_scaling": (lambda x, g: nn.layer_normalization(x, g, rms_scaling=True),
                                        _keras_rms_scaling, [X, V4]),
    # Keras 3 on torch refuses a leading axis (F.layer_norm); its other backends reshape gamma and beta
    "layer_normalization axis 1": (lambda x, g, b: nn.layer_normalization(x, g, b, axis=1),
                                   lambda x, g, b: _torch_layer_norm(x, g, b, 1), [X, V3, V3 + 1]),
    "rms_normalization": (*_both("rms_normalization"), [X, V4]),
    "rms_normalization two axes": (*_both("rms_normalization", axis=[2, 1], epsilon=1e-3), [X, V34]),
    "rms_normalization no scale": (*_both("rms_normalization"), [X]),
    "batch_normalization": (lambda x, m, v, o, s: nn.batch_normalization(x, m, v, 1, offset=o, scale=s),
                            lambda x, m, v, o, s: kops.batch_normalization(x, m, v, 1, offset=o, scale=s),
                            [X, V3, POS3, V3 - 1, V3 * 3]),
    "batch_normalization plain": (*_both("batch_normalization", axis=-1, epsilon=0.1), [X, V4, POS3[[0, 1, 2, 0]]]),
    "dot_product_attention": (*_both("dot_product_attention"), [Q, K, V]),
    "dot_product_attention bias scale": (lambda q, k, v, b: nn.dot_product_attention(q, k, v, bias=b, scale=0.3),
                                         lambda q, k, v, b: kops.dot_product_attention(q, k, v, bias=b, scale=0.3),
                                         [Q, K, V, BIAS]),
    "dot_product_attention mask": (*_both("dot_product_attention", mask=MASK), [Q, K, V]),
    "dot_product_attention empty mask row": (*_both("dot_product_attention", mask=MASK_EMPTY_ROW), [Q, K, V]),
    "dot_product_attention causal": (*_both("dot_product_attention", is_causal=True), [Q, K, V]),
    "dot_product_attention causal mask": (*_both("dot_product_attention", is_causal=True, mask=MASK), [Q, K, V]),
    "dot_product_attention grouped heads": (*_both("dot_product_attention", is_causal=True), [Q, K2, V2]),
    "dot_product_attention one kv head": (*_both("dot_product_attention"), [Q, K1, V1]),
    "psnr": (*_both("psnr", max_val=2.5), [X, X2]),
    "depth_to_space": (*_both("depth_to_space", block_size=2), [NHWC]),
    "depth_to_space channels_first": (*_both("depth_to_space", block_size=2, data_format="channels_first"), [NCHW]),
    "space_to_depth": (*_both("space_to_depth", block_size=2), [NHWC.reshape(2, 4, 6, 2)]),
    "space_to_depth channels_first": (*_both("space_to_depth", block_size=2, data_format="channels_first"),
                                      [NCHW.reshape(2, 2, 4, 6)]),
}
ACTIVATIONS = {"celu": {"alpha": 0.5}, "hard_shrink": {}, "hard_silu": {}, "hard_swish": {}, "hard_tanh": {},
               "soft_shrink": {"threshold": 1.0}, "sparse_plus": {}, "sparse_sigmoid": {}, "squareplus": {"b": 2},
               "tanh_shrink": {}, "threshold": {"threshold": 0.3, "default_value": -2.0}}
CASES.update({f"activation {name}": (*_both(name, **kw), [A]) for name, kw in ACTIVATIONS.items()})


def _sparsemax_reference(z):
    """The projection onto the simplex (Martins & Astudillo 2016) in torch. Keras 3.15's sparsemax sums the
    wrong cumulative sums wherever two or more entries are positive (tests/test_activations_keras3.py)."""
    s = torch.sort(z, dim=-1, descending=True).values
    r = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    k = (s - (s.cumsum(-1) - 1) / r > 0).sum(-1, keepdim=True)
    tau = (s.cumsum(-1).gather(-1, k - 1) - 1) / k
    return torch.clamp(z - tau, min=0.0)


CASES["activation sparsemax"] = (nn.sparsemax, _sparsemax_reference, [A])


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_match_keras3(name):
    mine, theirs, arrays = CASES[name]
    matches_torch(mine, theirs, arrays)


def test_every_public_name_is_listed_is_keras3s_and_reaches_gpunet_ops():
    from gpunet import keras3_activations
    from gpunet.autodiff import keras3_nn_ops
    names = keras3_nn_ops.__all__
    assert len(names) == len(set(names)) == 24
    assert set(names) <= set(dir(kops))
    for name in names:
        public = getattr(nn, name)  # (gpunet.ops's, which also records itself on symbolic tensors)
        assert getattr(public, "__wrapped__", public) is getattr(keras3_nn_ops, name) and public.__doc__
    assert all(getattr(keras3_nn_ops, name) is getattr(keras3_activations, name) for name in names[12:])


def _constant(x):
    return torch.as_tensor(np.asarray(x))


def test_in_top_k_multi_hot_and_identity_equal_keras3s():
    preds = np.array([[0.1, 0.4, 0.6, 0.9, 0.5], [0.1, 0.7, 0.9, 0.8, 0.3], [0.1, 0.6, 0.9, 0.9, 0.5]])
    targets = np.array([2, 4, 3])
    pairs = [(nn.in_top_k(targets, preds, k), kops.in_top_k(_constant(targets), _constant(preds), k))
             for k in (1, 2, 3, 5)]
    assert nn.in_top_k(targets, preds, 1).data.tolist() == [False, False, True]  # (a tie counts as in)
    labels = [np.array([0, 4, 4]), np.array([[0, 4], [1, -1]]), np.array([[[0, 4], [1, 1]], [[2, 2], [3, 0]]])]
    for x in labels:
        pairs.append((nn.multi_hot(x, 5, dtype="float64"), kops.multi_hot(x, 5)))
        pairs.append((nn.multi_hot(x, num_tokens=6, dtype="int32"), kops.multi_hot(x, num_tokens=6, dtype="int32")))
    pairs.append((nn.multi_hot(labels[1], 5, axis=1, dtype="float64"), kops.multi_hot(labels[1], 5, axis=1)))
    pairs += [(nn.identity(3, dtype="int32"), kops.identity(3, dtype="int32")),
              (nn.identity(4, "float64"), kops.identity(4))]
    assert_constants_match(pairs)
    assert nn.multi_hot([1, 2], 3).data.dtype == B.floatx() == nn.identity(2).data.dtype
    assert nn.multi_hot(np.array([[0, 7]]), 3).data.tolist() == [[1.0, 0.0, 0.0]]  # out of range marks nothing


def test_saturate_cast_saturates_as_keras3():
    floats = np.array([-1.0, 0.4, 254.6, 300.0, np.inf, -np.inf])
    ints = np.array([300, -5, 127, -200], dtype="int32")
    pairs = [(nn.saturate_cast(floats, "uint8"), kops.saturate_cast(_constant(floats), "uint8")),
             (nn.saturate_cast(ints, "int8"), kops.saturate_cast(_constant(ints), "int8")),
             (nn.saturate_cast(ints, "uint8"), kops.saturate_cast(_constant(ints), "uint8")),
             (nn.saturate_cast(floats * 1e300, "float32"), kops.saturate_cast(_constant(floats * 1e300), "float32"))]
    assert_constants_match(pairs)
    # float32(2**31 - 1) rounds up to 2**31: the bound steps back in (Keras 3 under NumPy 2 wraps to -2**31)
    big = nn.saturate_cast(np.array([5e9, -5e9], dtype="float32"), "int32").data
    assert big.tolist() == [2147483520, -2147483648] and big.dtype == np.int32
    assert nn.saturate_cast(np.array([2.5, 0.0]), "bool").data.tolist() == [True, False]
    x = Tensor(np.array([1e39, 2.0, -1e40]), requires_grad=True)
    y = nn.saturate_cast(x, "float32")
    assert y.data.dtype == np.float32
    assert np.asarray(gradients(y, [x], np.ones(3, dtype="float32"))[0]).tolist() == [0.0, 1.0, 0.0]


ERRORS = [
    (lambda: nn.glu(X[..., :3]), ValueError, r"glu: expected an even size along axis -1, received shape \(2, 3, 3\)"),
    (lambda: nn.layer_normalization(X, V4, axis=1), ValueError,
     r"layer_normalization gamma: expected 3 values .* received shape \(4,\)"),
    (lambda: nn.layer_normalization(X, scale=V4), TypeError, r"expected only the keyword rms_scaling, .*'scale'"),
    (lambda: nn.rms_normalization(X, axis=3), ValueError, r"expected axis in \[-3, 3\) .* received axis=3"),
    (lambda: nn.batch_normalization(X, V4, POS3, axis=1), ValueError,
     r"expected mean of shape \(3,\) \(x's axis 1\), received shape \(4,\)"),
    (lambda: nn.dot_product_attention(Q[0], K[0], V[0]), ValueError, r"expected 4D inputs .* query.shape=\(3, 4, 5\)"),
    (lambda: nn.dot_product_attention(Q, K[..., :3], V), ValueError, r"one head dim.* key.shape=\(2, 6, 4, 3\)"),
    (lambda: nn.dot_product_attention(Q, K, V, bias=BIAS, mask=MASK), ValueError, "only one of bias and mask"),
    (lambda: nn.dot_product_attention(Q, K, V, flash_attention=True), ValueError,
     r"flash_attention=True is not available in gpunet \(expected None or False\)"),
    (lambda: nn.dot_product_attention(Q, K, V, attn_logits_soft_cap=5.0), ValueError, "expected None, received 5.0"),
    (lambda: nn.psnr(X, X[0], 1.0), ValueError, r"expected x1 and x2 of one shape, received \(2, 3, 4\) and \(3, 4\)"),
    (lambda: nn.depth_to_space(NHWC[..., :6], 2), ValueError, "expected channels divisible by block_size.2=4, rec"),
    (lambda: nn.space_to_depth(NHWC, 2), ValueError, r"divisible by block_size=2, received 2x3"),
    (lambda: nn.space_to_depth(NHWC, 2, data_format="NHWC"), ValueError, "'channels_last' or .*received 'NHWC'"),
    (lambda: nn.depth_to_space(X, 2), ValueError, r"expected a 4D input, received shape \(2, 3, 4\)"),
    (lambda: nn.in_top_k([0, 1, 2], X[0], 5), ValueError, r"expected an int k in \[1, 4\], received k=5"),
    (lambda: nn.in_top_k([0, 1], X[0], 2), ValueError, r"targets.shape=\(2,\), predictions.shape=\(3, 4\)"),
    (lambda: nn.multi_hot([0, 1]), ValueError, "expected the argument num_classes, received None"),
    (lambda: nn.multi_hot([0, 1], 3, sparse=True), ValueError, "expected sparse=False, received sparse=True"),
    (lambda: nn.identity(-1), ValueError, "expected a non-negative int n, received -1"),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_bad_input_is_refused_naming_what_was_expected(case):
    call, error, match = ERRORS[case]
    with pytest.raises(error, match=match):
        call()


DEVICE_CASES = ["layer_normalization two axes", "rms_normalization", "batch_normalization", "dot_product_attention",
                "dot_product_attention causal mask", "dot_product_attention grouped heads", "glu", "psnr",
                "depth_to_space channels_first", "space_to_depth", "activation sparsemax", "activation celu"]


def _run(mine, arrays):
    """Value and gradients of ``mine`` on the current backend, as host arrays."""
    ops = B.get_backend()
    inputs = [Tensor(ops.asarray(a), requires_grad=True) for a in arrays]
    out = mine(*inputs)
    upstream = ops.asarray(np.random.default_rng(3).standard_normal(tuple(out.shape)))
    return [ops.to_host(out.data)] + [ops.to_host(g) for g in gradients(out, inputs, upstream)]


@pytest.mark.parametrize("name", DEVICE_CASES)
def test_the_default_backend_computes_what_numpy_does(name):
    """Under --gpu-dryrun-strict the default backend is the emulated CuPy, which refuses host arrays in
    device operations and implicit conversions to NumPy."""
    mine, _, arrays = CASES[name]
    want = _run(mine, arrays)
    with B.use_backend("auto"):
        got = _run(mine, arrays)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


@pytest.fixture
def _default_backend():
    with B.use_backend("auto"):
        yield B.get_backend()


def test_the_constants_on_the_default_backend(_default_backend):
    ops = _default_backend
    hot = nn.multi_hot(ops.asarray(np.array([[0, 2], [1, 1]])), 3)
    assert ops.to_host(hot.data).tolist() == [[1, 0, 1], [0, 1, 0]]
    top = nn.in_top_k(ops.asarray(np.array([1, 0])), ops.asarray(np.array([[0.1, 0.9, 0.3], [0.2, 0.5, 0.7]])), 2)
    assert ops.to_host(top.data).tolist() == [True, False]
    cast = nn.saturate_cast(ops.asarray(np.array([-3.0, 7.5, 900.0])), "uint8")
    assert ops.to_host(cast.data).tolist() == [0, 7, 255]
    assert ops.to_host(nn.identity(2).data).tolist() == [[1, 0], [0, 1]]
