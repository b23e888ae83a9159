"""Keras 2's merge layers (gpunet/layers/merge.py, merge_dot.py): Add, Subtract, Multiply, Average,
Maximum, Minimum, Concatenate, Dot and their functional forms. Values against tf.keras 2.21's layers,
gradients by finite differences (float64, random upstream gradient) and against tf.GradientTape on
tf.keras's layer (ties of Maximum/Minimum and Dot's eps branch included), output shapes, masks,
configs (tf.keras's own, loaded through the layer registry) and every error message."""
import json
import warnings

import numpy as np
import pytest

from gpunet import layers as L
from gpunet.autodiff.tensor import lift
from gpunet.layers.base import Layer
from gpunet.saving.config import layer_from_entry
from gpunet.testing import check_gradient

# name -> (class, kwargs, input shapes, "normal" values or "ties": small integers, many equal)
CASES = {
    "add": ("Add", {}, [(4, 3), (4, 3), (4, 3)], "normal"),
    "add_broadcast": ("Add", {}, [(4, 3), (4, 1)], "normal"),
    "add_lower_rank": ("Add", {}, [(4, 2, 3), (4, 3)], "normal"),
    "subtract": ("Subtract", {}, [(4, 3), (4, 3)], "normal"),
    "subtract_broadcast": ("Subtract", {}, [(4, 1, 3), (4, 2, 1)], "normal"),
    "multiply": ("Multiply", {}, [(4, 3), (4, 3), (4, 3)], "normal"),
    "multiply_broadcast": ("Multiply", {}, [(4, 3), (4, 1), (4, 2, 3)], "normal"),
    "average": ("Average", {}, [(4, 3), (4, 3), (4, 3)], "normal"),
    "average_broadcast": ("Average", {}, [(4, 2, 3), (4, 1)], "normal"),
    "maximum": ("Maximum", {}, [(4, 3), (4, 3), (4, 3)], "normal"),
    "maximum_broadcast": ("Maximum", {}, [(4, 2, 3), (4, 3)], "normal"),
    "maximum_ties": ("Maximum", {}, [(5, 4), (5, 4), (5, 4)], "ties"),
    "maximum_ties_broadcast": ("Maximum", {}, [(5, 4), (5, 1)], "ties"),
    "minimum": ("Minimum", {}, [(4, 3), (4, 3)], "normal"),
    "minimum_ties": ("Minimum", {}, [(5, 4), (5, 4), (5, 4)], "ties"),
    "concatenate": ("Concatenate", {}, [(4, 2), (4, 3), (4, 1)], "normal"),
    "concatenate_axis1": ("Concatenate", {"axis": 1}, [(3, 2, 4), (3, 1, 4)], "normal"),
    "concatenate_axis0": ("Concatenate", {"axis": 0}, [(2, 3), (3, 3)], "normal"),
    "dot": ("Dot", {"axes": 1}, [(4, 3), (4, 3)], "normal"),
    "dot_pair": ("Dot", {"axes": (1, 2)}, [(3, 5, 2), (3, 2, 5)], "normal"),
    "dot_negative": ("Dot", {"axes": -1}, [(3, 2, 4), (3, 5, 4)], "normal"),
    "dot_rank4": ("Dot", {"axes": [2, 1]}, [(2, 3, 4, 2), (2, 4, 5)], "normal"),
    "dot_normalize": ("Dot", {"axes": 1, "normalize": True}, [(4, 3), (4, 3)], "normal"),
    "dot_normalize_3d": ("Dot", {"axes": (1, 1), "normalize": True}, [(3, 4, 2), (3, 4)], "normal"),
    "dot_normalize_zero": ("Dot", {"axes": 1, "normalize": True}, [(3, 4), (3, 4)], "zero_row"),
}
# finite differences need every element away from a tie (max/min) and from the eps branch
SMOOTH = sorted(k for k, v in CASES.items() if v[3] == "normal")


def _inputs(case, dtype):
    _, _, shapes, kind = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case))
    if kind == "ties":
        return [rng.integers(0, 3, s).astype(dtype) for s in shapes]
    xs = [rng.standard_normal(s).astype(dtype) for s in shapes]
    if kind == "zero_row":
        xs[0][1] = 0.0
    return xs


def _ours(case):
    cls, kwargs, _, _ = CASES[case]
    return getattr(L, cls)(**kwargs)


def _theirs(tfk, case, dtype):
    cls, kwargs, _, _ = CASES[case]
    return getattr(tfk.layers, cls)(**kwargs, dtype=dtype)


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_values_and_shapes_equal_tf_keras(ops, tfk, case):
    xs = _inputs(case, "float32")
    layer = _ours(case)
    y = ops.to_host(layer([ops.asarray(x) for x in xs]))
    want = _theirs(tfk, case, "float32")(xs).numpy()
    assert y.dtype == np.float32 and y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=2e-6, atol=1e-6)
    assert layer.built and layer.input_shape == [(None,) + x.shape[1:] for x in xs]
    batch = None if CASES[case][1].get("axis") == 0 else 4
    shapes = [(batch,) + x.shape[1:] for x in xs]
    tf_shape = _theirs(tfk, case, "float32").compute_output_shape(shapes)
    assert layer.compute_output_shape(shapes) == tuple(tf_shape.as_list())
    assert layer.output_shape == layer.compute_output_shape(layer.input_shape)


@pytest.mark.parametrize("case", SMOOTH)
def test_gradients_by_finite_differences(ops, f64, case):
    xs = _inputs(case, "float64")
    layer = _ours(case)
    layer([ops.asarray(x) for x in xs])
    for i in range(len(xs)):
        def forward(v, i=i):
            return ops.to_host(layer.forward([ops.asarray(v if j == i else x) for j, x in enumerate(xs)]))

        def backward(dy, i=i):
            grads = layer.backward(ops.asarray(dy))
            assert [tuple(g.shape) for g in grads] == [x.shape for x in xs]
            return ops.to_host(grads[i])
        check_gradient(forward, backward, xs[i].copy(), seed=i, rtol=1e-6)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_equal_tf_gradient_tape(ops, f64, tfk, case):
    import tensorflow as tf
    xs = _inputs(case, "float64")
    layer = _ours(case)
    y = layer([ops.asarray(x) for x in xs])
    dy = np.random.default_rng(7).standard_normal(tuple(y.shape))
    grads = [ops.to_host(g) for g in layer.backward(ops.asarray(dy))]
    tf_xs = [tf.constant(x) for x in xs]
    with tf.GradientTape() as tape:
        tape.watch(tf_xs)
        loss = tf.reduce_sum(_theirs(tfk, case, "float64")(tf_xs) * dy)
    for ours, theirs, x in zip(grads, tape.gradient(loss, tf_xs), xs):
        assert ours.dtype == np.float64 and ours.shape == x.shape
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-12)


def test_maximum_and_minimum_send_tied_gradients_to_the_first_input(ops):
    a, b, c = (np.array([[1.0, 2.0, 3.0]], "float32"), np.array([[1.0, 5.0, 3.0]], "float32"),
               np.array([[0.0, 5.0, 3.0]], "float32"))
    for cls, want in ((L.Maximum, [[1, 0, 1], [0, 1, 0], [0, 0, 0]]), (L.Minimum, [[0, 1, 1], [0, 0, 0], [1, 0, 0]])):
        layer = cls()
        layer([a, b, c])
        grads = [ops.to_host(g) for g in layer.backward(ops.asarray(np.ones((1, 3), "float32")))]
        assert [g[0].tolist() for g in grads] == want


# ---- the multi-input interface ---------------------------------------------------------------------
def test_gradients_are_fresh_arrays_and_need_dx_false_gives_nones(ops):
    x = ops.asarray(np.ones((2, 3), "float32"))
    for layer in (L.Add(), L.Subtract(), L.Average(), L.Add(), L.Concatenate(axis=0)):
        layer([x, x] if not isinstance(layer, L.Average) else [x, x, x])
        dy = ops.asarray(np.full(tuple(layer.forward([x] * len(layer.input_shape)).shape), 2.0, "float32"))
        grads = layer.backward(dy)
        grads[0][...] = 99.0  # a caller accumulating in place touches nothing else
        assert float(ops.to_host(dy).max()) == 2.0
        assert all(float(ops.to_host(g).max()) < 99.0 for g in grads[1:])
        assert layer.backward(dy, need_dx=False) == [None] * len(grads)
    single = L.Add()
    y = single([x])  # tf.keras 2.21 takes one input: an identity, on a copy
    y[...] = 5.0
    assert float(ops.to_host(x).max()) == 1.0


def test_build_records_the_list_of_shapes(ops):
    layer = L.Concatenate()
    layer.build([[None, 2], (None, 3)])
    assert layer.input_shape == [(None, 2), (None, 3)] and layer.output_shape == (None, 5) and layer.built
    assert L.Add()._multi_input is True and issubclass(L.Dot, Layer)
    assert L.Concatenate().compute_output_shape([(None, 2), (None, None)]) == (None, None)
    assert L.Add().compute_output_shape([(8, 3), (None, 1)]) == (8, 3)
    assert L.Dot(axes=1).compute_output_shape([(None, 3), (None, 3)]) == (None, 1)


def test_symbolic_inputs_go_to_layer_call(monkeypatch):
    seen = []
    monkeypatch.setattr(Layer, "__call__", lambda self, x, training=False: seen.append((self, x, training)) or "node")

    class Symbolic:
        _keras_history = ("input_1", 0, 0)
    inputs = [np.ones((2, 3)), Symbolic()]
    layer = L.Add()
    assert layer(inputs, training=True) == "node" and seen == [(layer, inputs, True)] and not layer.built


def test_functional_forms_are_the_layers(ops):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 4)).astype("float32"), rng.standard_normal((2, 4)).astype("float32")
    pairs = [(L.add, L.Add, {}), (L.subtract, L.Subtract, {}), (L.multiply, L.Multiply, {}),
             (L.average, L.Average, {}), (L.maximum, L.Maximum, {}), (L.minimum, L.Minimum, {}),
             (L.concatenate, L.Concatenate, {"axis": 1}), (L.dot, L.Dot, {"axes": 1, "normalize": True})]
    for fn, cls, kwargs in pairs:
        np.testing.assert_array_equal(ops.to_host(fn([a, b], **kwargs)), ops.to_host(cls(**kwargs)([a, b])))
    from gpunet.layers.merge import Concatenate, Dot, concatenate, dot
    assert (Concatenate, concatenate, Dot, dot) == (L.Concatenate, L.concatenate, L.Dot, L.dot)
    assert ops.to_host(L.add([a, b], name="my_add")).shape == (2, 4)


def test_mixed_dtypes_keep_each_gradient_in_its_input_dtype(ops):
    a, b = np.ones((2, 3), "float32"), np.ones((2, 3), "float64")
    for layer in (L.Multiply(), L.Concatenate(), L.Dot(axes=1)):
        y = layer([a, b])
        grads = layer.backward(ops.asarray(np.ones(tuple(y.shape))))
        assert [g.dtype for g in grads] == [np.float32, np.float64]


def test_masks_follow_tf_keras(ops):
    x = ops.asarray(np.ones((2, 3, 4), "float32"))
    m1, m2 = (ops.asarray(np.array(v)) for v in ([[1, 1, 0], [1, 0, 0]], [[1, 0, 1], [1, 1, 0]]))
    m1, m2 = m1.astype(bool), m2.astype(bool)
    assert ops.to_host(L.Add().compute_mask([x, x], [m1, m2])).tolist() == [[True, False, False], [True, False, False]]
    assert ops.to_host(L.Add().compute_mask([x, x], [m1, None])).tolist() == ops.to_host(m1).tolist()
    assert L.Add().compute_mask([x, x], None) is None and L.Add().compute_mask([x, x], [None, None]) is None
    assert ops.to_host(L.Concatenate().compute_mask([x, x], [m1, None])).tolist() == ops.to_host(m1).tolist()
    assert ops.to_host(L.Concatenate(axis=1).compute_mask([x[:, :, :1], x[:, :, :1]], [m1, m2])).shape == (2, 6)
    assert L.Dot(axes=2).compute_mask([x, x], [m1, m2]) is None
    with pytest.raises(ValueError, match="as lists of the same length"):
        L.Add().compute_mask([x, x], [m1])


def test_backend_ops_added_for_merging(ops):
    x = np.arange(24.0).reshape(2, 3, 4)
    for shape in ((2, 3, 4), (2, 1, 4), (4,), (1, 1), (3, 1), ()):
        got = ops.to_host(ops.sum_to_shape(ops.asarray(x), shape))
        want = x
        while want.ndim > len(shape):
            want = want.sum(axis=0)
        want = want.sum(axis=tuple(i for i, d in enumerate(shape) if d == 1), keepdims=True)
        assert got.shape == shape and np.array_equal(got, want)
    parts = ops.split(ops.asarray(x), [1, 3], axis=-1)
    assert [ops.to_host(p).tolist() for p in parts] == [x[..., :1].tolist(), x[..., 1:].tolist()]
    assert all(p.flags.c_contiguous for p in parts)
    a, b = np.random.default_rng(0).standard_normal((2, 3, 4, 5)), np.random.default_rng(1).standard_normal((3, 5, 6))
    np.testing.assert_allclose(ops.to_host(ops.batch_matmul(ops.asarray(a), ops.asarray(b))), a @ b, rtol=1e-12)
    np.testing.assert_allclose(ops.to_host(ops.batch_matmul(ops.asarray(a), ops.asarray(b.swapaxes(1, 2)),
                                                            trans_b=True)), a @ b, rtol=1e-12)
    np.testing.assert_allclose(ops.to_host(ops.batch_matmul(ops.asarray(a.swapaxes(-1, -2)), ops.asarray(b),
                                                            trans_a=True)), a @ b, rtol=1e-12)
    assert ops.to_host(ops.maximum(ops.asarray([1.0, 5.0]), ops.asarray([[3.0], [0.0]]))).tolist() == [[3, 5], [1, 5]]
    assert ops.to_host(ops.minimum(ops.asarray([1.0, 5.0]), ops.asarray(2.0))).tolist() == [1, 2]


# ---- configs ---------------------------------------------------------------------------------------
CONFIG_CASES = [("Add", {}), ("Subtract", {}), ("Multiply", {}), ("Average", {}), ("Maximum", {}), ("Minimum", {}),
                ("Concatenate", {}), ("Concatenate", {"axis": 1}), ("Dot", {"axes": 1}),
                ("Dot", {"axes": (1, 2), "normalize": True}), ("Dot", {"axes": [2, 1], "name": "cos"}),
                ("Add", {"input_shape": (3,)})]


@pytest.mark.parametrize("cls, kwargs", CONFIG_CASES)
def test_configs_equal_tf_keras_and_round_trip(tfk, cls, kwargs):
    tfk.backend.clear_session()  # tf.keras's layer names count from 0 again, as gpunet's do in each test
    ours = getattr(L, cls)(**kwargs)
    theirs = getattr(tfk.layers, cls)(**kwargs)
    config = ours.get_config()
    want = theirs.get_config()
    if "batch_input_shape" in want:
        want["batch_input_shape"] = list(want["batch_input_shape"])
    assert config == want
    again = getattr(L, cls).from_config(json.loads(json.dumps(config)))
    assert json.loads(json.dumps(again.get_config())) == json.loads(json.dumps(config))
    entry = json.loads(json.dumps(tfk.layers.serialize(theirs)))  # tf.keras's saved form, through the registry
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every key tf.keras writes is known
        loaded = layer_from_entry(entry)
    assert type(loaded) is getattr(L, cls)
    assert json.loads(json.dumps(loaded.get_config())) == json.loads(json.dumps(theirs.get_config()))


# ---- errors ----------------------------------------------------------------------------------------
def test_list_and_count_errors(ops):
    a = np.ones((2, 3), "float32")
    with pytest.raises(ValueError, match=r"should be called on a list of inputs\. Received: inputs of type ndarray"):
        L.Add()(a)
    with pytest.raises(ValueError, match=r"not a list of shapes\) in layer 'add_1' \(Add\)"):
        L.Add().build((None, 3))
    with pytest.raises(ValueError, match="list of at least 1 input. Got 0 inputs"):
        L.Add().build([])
    with pytest.raises(ValueError, match="list of at least 1 input. Got 0 inputs"):
        L.Concatenate()([])
    for n in (1, 3):
        with pytest.raises(ValueError, match=rf"`Subtract` layer should be called on exactly 2 inputs\. "
                                             rf"Received: input_shape=\[.*\] \({n} inputs\)"):
            L.Subtract()([a] * n)
    layer = L.Add()
    layer([a, a])
    with pytest.raises(ValueError, match=r"was built for 2 inputs \[\(None, 3\), \(None, 3\)\], received 3"):
        layer([a, a, a])
    with pytest.raises(ValueError, match="needs inputs with a batch axis"):
        L.Add().forward([ops.asarray(np.float32(1.0))] * 2)
    on_tape = L.Add()([lift(a), lift(a)])  # (inside a call(): a tape tensor back, test_merge_on_tape.py)
    np.testing.assert_array_equal(ops.to_host(on_tape.data), 2 * a)


def test_shape_errors(ops):
    a = np.ones((2, 3), "float32")
    with pytest.raises(ValueError, match=r"Inputs have incompatible shapes\. Received shapes \(3,\) and \(4,\) "
                                         r"\(batch axis left out\) in layer 'add' \(Add\)"):
        L.Add()([a, np.ones((2, 4), "float32")])
    with pytest.raises(ValueError, match=r"incompatible shapes\. Received shapes \(2, 3\) and \(2,\)"):
        L.Maximum().build([(None, 2, 3), (None, 2)])  # right-aligned: 3 against 2
    with pytest.raises(ValueError, match=r"Cannot merge tensors with different batch sizes\. Got tensors with "
                                         r"shapes \[\(2, 3\), \(3, 3\)\]"):
        L.Multiply()([a, np.ones((3, 3), "float32")])
    with pytest.raises(ValueError, match="different batch sizes"):
        L.Add().build([(2, 3), (3, 3)])
    with pytest.raises(ValueError, match=r"matching shapes except for the concatenation axis\. Received: "
                                         r"input_shape=\[\(None, 3\), \(None, 3, 1\)\]"):
        L.Concatenate()([a, np.ones((2, 3, 1), "float32")])
    with pytest.raises(ValueError, match=r"except for the concatenation axis.*\(axis=0\)"):
        L.Concatenate(axis=0)([a, np.ones((2, 4), "float32")])
    with pytest.raises(ValueError, match="axis 3 is out of range for inputs of rank 2"):
        L.Concatenate(axis=3)([a, a])
    with pytest.raises(TypeError, match="integer `axis`, received '1'"):
        L.Concatenate(axis="1")


def test_dot_errors(ops):
    a = np.ones((2, 3), "float32")
    with pytest.raises(ValueError, match=r"`Dot` layer should be called on a list of 2 inputs\. Received: "
                                         r"input_shape=\[\(None, 3\), \(None, 3\), \(None, 3\)\]"):
        L.Dot(1)([a, a, a])
    with pytest.raises(ValueError, match=r"Incompatible input shapes: axis values 3 \(at axis 1\) != 4 \(at axis 1\)"):
        L.Dot(1)([a, np.ones((2, 4), "float32")])
    with pytest.raises(ValueError, match="Cannot perform batch_dot over axis 0"):
        L.Dot(0)([a, a])
    with pytest.raises(ValueError, match="Cannot perform batch_dot over axis 0"):
        L.Dot((-2, 1))([a, a])
    with pytest.raises(ValueError, match=r"batch_dot on inputs with rank < 2\. Received inputs with shapes \(None,\)"):
        L.Dot(1).build([(None,), (None, 3)])
    with pytest.raises(ValueError, match="different batch sizes"):
        L.Dot(1).build([(2, 3), (4, 3)])
    with pytest.raises(ValueError, match=r"axes=2 is out of range for input shapes"):
        L.Dot(2)([a, a])
    with pytest.raises(TypeError, match="Invalid type for argument `axes`: it should be a list or an int"):
        L.Dot("a")
    with pytest.raises(ValueError, match="it should contain two elements. Received: axes=\\(1, 1, 1\\)"):
        L.Dot((1, 1, 1))
    with pytest.raises(ValueError, match="list elements should be integers"):
        L.Dot((1.0, 1))
