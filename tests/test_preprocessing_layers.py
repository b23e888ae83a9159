"""Discretization and CategoryEncoding (gpunet/layers/discretization.py, category_encoding.py) against
live tf_keras 2: outputs for every mode on awkward inputs, adapt's boundaries, configs, and the
errors for bad arguments and inputs. IntegerLookup: test_preprocessing_layers_lookup.py; models,
training and files: test_preprocessing_layers_models.py."""
import numpy as np
import pytest

from gpunet import backend as B
from gpunet import layers
from gpunet.utils import Sequence
from keras_support import tf_keras_or_skip

tfk = tf_keras_or_skip()

NAN, INF = float("nan"), float("inf")
# on the boundaries, between them, below and above all, signed zero, NaN and infinities
AWKWARD = np.array([[-1.5, 0.0, -0.0, 1.0, 2.0, 1.9999999, 2.0000001, 3.4],
                    [NAN, INF, -INF, 0.5, 1e30, -1e30, 0.1, 0.9999999]])


def plain(value):
    """A config with tf's ListWrappers, tuples and NumPy scalars as JSON would hold it."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListWrapper":
        return [plain(v) for v in value]
    return value.item() if hasattr(value, "item") else value


def host(array):
    """A layer's output (of either backend; gpunet's and tf's have ``.numpy()``) as a NumPy array."""
    if hasattr(array, "numpy"):
        return np.asarray(array.numpy())
    return np.asarray(B.backend_for(array).to_host(array)) if hasattr(array, "dtype") else np.asarray(array)


def same(got, want):
    """Equal values, dtype and shape (NaN equal to NaN)."""
    got, want = host(got), host(want)
    assert (got.dtype, got.shape) == (want.dtype, want.shape), f"{got.dtype}{got.shape} != {want.dtype}{want.shape}"
    np.testing.assert_array_equal(got, want)


def run(ops, layer, x, **kwargs):
    return ops.to_host(layer(x, **kwargs))


# ---- Discretization ---------------------------------------------------------------------------------
DISCRETIZE = [
    ({"bin_boundaries": [0.0, 1.0, 2.0]}, AWKWARD),
    ({"bin_boundaries": [0.0, 1.0, 2.0]}, AWKWARD.astype("float32")),
    ({"bin_boundaries": [0.1, 1.0, 2.0]}, np.array([[0.1, 0.1000001, 0.0999999]])),  # float32 boundaries
    ({"bin_boundaries": [0.1, 1.0, 2.0]}, np.array([[0.1, 0.1000001, 0.0999999]], "float32")),
    ({"bin_boundaries": [-1.0, 0.0, 1.0]}, np.array([[-3, -1, 0, 1, 2, 7]])),  # integer inputs
    ({"bin_boundaries": [0.0, 1.0, 2.0]}, np.array([0.5, -2.0, 2.0])),  # 1-D
    ({"bin_boundaries": [0.0, 1.0, 2.0]}, AWKWARD.reshape(2, 2, 4)),  # 3-D
    ({"bin_boundaries": [0.0, 1.0, 2.0]}, np.array([[1.0]])),  # a batch of 1
    ({"bin_boundaries": np.array([0.0, 1.0, 1.0, 2.0])}, AWKWARD),  # an array; a repeated boundary
    ({"bin_boundaries": []}, AWKWARD),
    ({"num_bins": 4}, AWKWARD),  # not adapted: no boundaries yet, every value in bin 0
    ({"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "one_hot"}, np.array([0.5, 1.5, -1.0, NAN])),
    ({"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "one_hot"}, np.array([[0.5], [2.0]])),
    ({"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "one_hot"}, np.array(1.5)),
    ({"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "multi_hot"}, AWKWARD),
    ({"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "multi_hot"}, np.array([0.5, 0.7, 3.0])),
    ({"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "count"}, AWKWARD),
    ({"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "count"}, np.array(-4.0)),
    ({"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "count", "dtype": "float64"}, AWKWARD),
    ({"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "count", "dtype": "int64"}, AWKWARD),
    ({"bin_boundaries": [0.0, 1.0, 2.0], "dtype": "int32"}, AWKWARD),
]


@pytest.mark.parametrize("kwargs, x", DISCRETIZE)
def test_discretization_outputs_are_tf_keras(ops, kwargs, x):
    same(run(ops, layers.Discretization(**kwargs), x), tfk.layers.Discretization(**kwargs)(x))


def test_python_floats_are_float32_as_in_tf_keras(ops):
    """``layer([0.1])``: tf.keras makes Python floats float32, which equal the float32 boundary 0.1."""
    rows = [[0.1, 0.2], [1.0, 0.3]]
    got = run(ops, layers.Discretization(bin_boundaries=[0.1, 0.2, 0.3]), rows)
    same(got, tfk.layers.Discretization(bin_boundaries=[0.1, 0.2, 0.3])(rows))
    same(got, [[1, 2], [3, 3]])


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
def test_vector_modes_refuse_outputs_above_rank_two_as_tf_keras(mode):
    x = np.zeros((2, 3, 2))
    with pytest.raises(ValueError, match="maximum supported output rank is 2") as ours:
        layers.Discretization(bin_boundaries=[1.0], output_mode=mode)(x)
    with pytest.raises(ValueError, match="maximum supported output rank is 2"):
        tfk.layers.Discretization(bin_boundaries=[1.0], output_mode=mode)(x)
    assert "(2, 3, 2)" in str(ours.value)


RNG = np.random.default_rng(7)
ADAPT = [  # (data, kwargs, batch_size)
    (np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]]), {"num_bins": 4}, None),  # tf.keras's docstring
    (RNG.normal(size=(1000, 3)) * 10, {"num_bins": 5}, None),
    (RNG.normal(size=(5000, 2)), {"num_bins": 10, "epsilon": 0.001}, 64),
    (RNG.exponential(size=(300, 1)), {"num_bins": 3, "epsilon": 0.1}, 7),
    (RNG.integers(0, 3, size=(500, 2)).astype("float64"), {"num_bins": 3}, None),  # heavy ties
    (RNG.uniform(-5, 5, size=777), {"num_bins": 6, "epsilon": 0.05}, 100),  # 1-D
    (np.array([[1.0, INF, 3.0, -INF, 5.0, 6.0]]).T, {"num_bins": 3}, None),  # infinities
    (np.arange(10.0).reshape(5, 2), {"num_bins": 20}, None),  # more bins than values
    (RNG.integers(-50, 50, size=(64, 4)), {"num_bins": 4}, 16),  # integer data
]


@pytest.mark.parametrize("data, kwargs, batch_size", ADAPT)
def test_adapt_finds_tf_keras_boundaries(ops, data, kwargs, batch_size):
    """The same quantile summary, batch by batch, as tf.keras: the same float32 boundaries, bit for bit."""
    ours, ref = layers.Discretization(**kwargs), tfk.layers.Discretization(**kwargs)
    ours.adapt(data, batch_size=batch_size)
    ref.adapt(data, batch_size=batch_size)
    assert ours.bin_boundaries == [float(b) for b in ref.bin_boundaries]
    assert len(ours.bin_boundaries) == min(kwargs["num_bins"] - 1, len(ours.bin_boundaries))
    same(run(ops, ours, data), ref(data))
    assert plain(ours.get_config()) == plain(ref.get_config()) | {"name": ours.name}


def test_adapt_is_approximate_as_tf_keras_and_tightens_with_epsilon():
    """How close the boundaries are to exact quantiles: tf.keras's summary keeps about 1/epsilon points
    per batch, so with batches much larger than 1/epsilon a boundary's rank is within a few epsilon of
    its target; with small batches (the default 32 against epsilon=0.01) it can be far off. gpunet
    computes what tf.keras computes, so it is off exactly as much."""
    data = np.random.default_rng(3).normal(size=20000).astype("float32")
    target = np.arange(1, 10) / 10

    def rank_error(epsilon, batch_size):
        layer = layers.Discretization(num_bins=10, epsilon=epsilon)
        layer.adapt(data, batch_size=batch_size)
        return np.abs(np.array([(data < b).mean() for b in layer.bin_boundaries]) - target).max()
    assert rank_error(0.01, 20000) < 0.01
    assert rank_error(0.001, 5000) < 0.005
    assert rank_error(0.1, 32) > 0.05  # tf.keras's own result on this data, too


class Batches(Sequence):
    def __init__(self, data, size):
        self.data, self.size = data, size

    def __len__(self):
        return -(-len(self.data) // self.size)

    def __getitem__(self, i):
        return self.data[i * self.size:(i + 1) * self.size], None


def test_adapt_on_generators_and_sequences_equals_adapt_on_the_array_in_those_batches():
    data = np.random.default_rng(5).normal(size=(250, 2))
    whole = layers.Discretization(num_bins=5)
    whole.adapt(data, batch_size=50)
    from_generator, from_sequence = layers.Discretization(num_bins=5), layers.Discretization(num_bins=5)
    from_generator.adapt(data[i:i + 50] for i in range(0, 250, 50))
    from_sequence.adapt(Batches(data, 50))
    ref = tfk.layers.Discretization(num_bins=5)
    ref.adapt(data, batch_size=50)
    assert whole.bin_boundaries == from_generator.bin_boundaries == from_sequence.bin_boundaries == \
        [float(b) for b in ref.bin_boundaries]
    partial = layers.Discretization(num_bins=5)
    partial.adapt(data, batch_size=50, steps=2)  # the first two batches only
    first = layers.Discretization(num_bins=5)
    first.adapt(data[:100], batch_size=50)
    assert partial.bin_boundaries == first.bin_boundaries != whole.bin_boundaries


def test_adapt_replaces_the_earlier_summary_and_reset_state_forgets_it():
    layer = layers.Discretization(num_bins=3)
    layer.adapt(np.arange(100.0))
    layer.adapt(np.arange(100.0) + 1000)
    assert all(b > 1000 for b in layer.bin_boundaries)
    layer.reset_state()
    assert layer.bin_boundaries == []
    same(layer(np.array([[5.0, 2000.0]])), np.array([[0, 0]]))


# ---- CategoryEncoding ---------------------------------------------------------------------------------
ENCODE = [
    ({"num_tokens": 4, "output_mode": "one_hot"}, np.array([3, 2, 0, 1])),
    ({"num_tokens": 4, "output_mode": "one_hot"}, np.array([[3], [0]])),
    ({"num_tokens": 4, "output_mode": "one_hot"}, np.array(2)),
    ({"num_tokens": 4, "output_mode": "one_hot"}, np.array([[1]])),  # a batch of 1
    ({"num_tokens": 4}, np.array([[0, 1], [0, 0], [1, 2], [3, 1]])),  # multi_hot, the default
    ({"num_tokens": 4}, np.array([3, 2, 2])),  # 1-D: one sample
    ({"num_tokens": 4, "output_mode": "multi_hot"}, np.array(3)),
    ({"num_tokens": 4, "output_mode": "binary"}, np.array([[0, 3, 3]])),  # tf.keras's old name
    ({"num_tokens": 5, "output_mode": "count"}, np.array([[0, 1, 1, 4, 4, 4], [2, 2, 2, 2, 2, 2]])),
    ({"num_tokens": 5, "output_mode": "count"}, np.array([[0, 1, 1, 4]], "float32")),  # whole-number floats
    ({"num_tokens": 3, "output_mode": "count", "dtype": "int64"}, np.array([[0, 1, 1]])),
    ({"num_tokens": 3, "output_mode": "count", "dtype": "float64"}, np.array([[0, 1, 1]])),
    ({"num_tokens": 1, "output_mode": "count"}, np.zeros((3, 2), "int32")),
]


@pytest.mark.parametrize("kwargs, x", ENCODE)
def test_category_encoding_outputs_are_tf_keras(ops, kwargs, x):
    same(run(ops, layers.CategoryEncoding(**kwargs), x), tfk.layers.CategoryEncoding(**kwargs)(x))


def test_count_weights_are_summed_as_in_tf_keras(ops):
    x = np.array([[0, 1], [0, 0], [1, 2], [3, 1]])
    weights = np.array([[0.1, 0.2], [0.1, 0.1], [0.2, 0.3], [0.4, 0.2]])
    got = run(ops, layers.CategoryEncoding(num_tokens=4, output_mode="count"), x, count_weights=weights)
    want = tfk.layers.CategoryEncoding(num_tokens=4, output_mode="count")(x, count_weights=weights).numpy()
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError, match="`count_weights` is not used when `output_mode` is not `'count'`"):
        layers.CategoryEncoding(num_tokens=4)(x, count_weights=weights)
    with pytest.raises(ValueError, match=r"must have the shape of the inputs \(4, 2\), received \(4,\)"):
        layers.CategoryEncoding(num_tokens=4, output_mode="count")(x, count_weights=weights[:, 0])


@pytest.mark.parametrize("x, value", [(np.array([[4, 1]]), "4"), (np.array([[1, -1]]), "-1"),
                                      (np.array([[1.5, 1.0]]), "1.5"), (np.array([[1.0, NAN]]), "nan")])
def test_tokens_outside_the_range_are_value_errors_naming_them(x, value):
    """tf.keras fails too (an InvalidArgumentError), but truncates 1.5 to 1: gpunet refuses it."""
    with pytest.raises(ValueError, match=rf"0 <= values < num_tokens with num_tokens=4; received {value}"):
        layers.CategoryEncoding(num_tokens=4, output_mode="count")(x)


@pytest.mark.parametrize("cls, kwargs, message", [
    ("CategoryEncoding", {}, "num_tokens must be set to use this layer"),
    ("CategoryEncoding", {"num_tokens": 0}, r"`num_tokens` must be >= 1. Received: num_tokens=0"),
    ("CategoryEncoding", {"num_tokens": 3, "output_mode": "tf_idf"},
     r"Unkown value for `output_mode` argument of layer CategoryEncoding.*Received: tf_idf"),
    ("CategoryEncoding", {"num_tokens": 3, "output_mode": "int"}, "Received: int"),
    ("Discretization", {"output_mode": "sum"},
     r"Unkown value for `output_mode` argument of layer Discretization.*Received: sum"),
    ("Discretization", {"num_bins": -1}, r"`num_bins` must be greater than or equal to 0. You passed `num_bins=-1`"),
    ("Discretization", {"num_bins": 3, "bin_boundaries": [1.0]}, "Both `num_bins` and `bin_boundaries` should not be"),
    ("Discretization", {"bin_boundaries": [1.0], "sparse": True},
     "`sparse` may only be true if `output_mode` is `'one_hot'`, `'multi_hot'`, or `'count'`"),
])
def test_bad_arguments_are_refused_as_tf_keras_refuses_them(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(layers, cls)(**kwargs)
    with pytest.raises(ValueError, match=message):
        getattr(tfk.layers, cls)(**kwargs)


@pytest.mark.parametrize("make", [lambda: layers.CategoryEncoding(num_tokens=3, sparse=True),
                                  lambda: layers.Discretization(bin_boundaries=[1.0], output_mode="count", sparse=True)])
def test_sparse_outputs_are_refused_naming_why(make):
    with pytest.raises(ValueError, match="gpunet has no sparse tensors.*Received: sparse=True"):
        make()


def test_discretization_refusals_beyond_tf_keras():
    with pytest.raises(ValueError, match=r"sorted in increasing order.*\[2.0, 1.0\]"):
        layers.Discretization(bin_boundaries=[2.0, 1.0])
    with pytest.raises(ValueError, match="Cannot adapt a Discretization layer that has been initialized with "
                                         r"`bin_boundaries`.*\[1.0\]"):
        layers.Discretization(bin_boundaries=[1.0]).adapt(np.arange(4.0))
    with pytest.raises(ValueError, match=r"needs `num_bins` >= 1 to adapt.*num_bins=None"):
        layers.Discretization().adapt(np.arange(4.0))
    with pytest.raises(ValueError, match=r"adapt received NaN \(at position \(1, 0\).*tf.keras would make NaN a bin"):
        layers.Discretization(num_bins=2).adapt(np.array([[1.0], [NAN]]))
    with pytest.raises(ValueError, match="adapt received no data from generator"):
        layers.Discretization(num_bins=2).adapt(x for x in [])


@pytest.mark.parametrize("cls, kwargs", [
    ("Discretization", {"bin_boundaries": [0.0, 1.5]}),
    ("Discretization", {"num_bins": 5, "epsilon": 0.001, "output_mode": "one_hot"}),
    ("Discretization", {"bin_boundaries": [0.5], "output_mode": "count", "dtype": "float64"}),
    ("Discretization", {"bin_boundaries": [0.5], "dtype": "int32"}),
    ("CategoryEncoding", {"num_tokens": 7}),
    ("CategoryEncoding", {"num_tokens": 7, "output_mode": "count", "dtype": "int64"}),
])
def test_configs_are_tf_keras_and_round_trip(cls, kwargs):
    ours, ref = getattr(layers, cls)(name="p", **kwargs), getattr(tfk.layers, cls)(name="p", **kwargs)
    config = ours.get_config()
    assert plain(config) == plain(ref.get_config())
    again = getattr(layers, cls).from_config(config)
    assert again.get_config() == config
    from_tf = getattr(layers, cls).from_config(plain(ref.get_config()))
    assert from_tf.get_config() == config
    x = np.array([0.0, 1.0, 2.0])
    same(again(x), ours(x))


@pytest.mark.parametrize("make, x", [
    (lambda: layers.Discretization(bin_boundaries=[0.5], output_mode="one_hot"), np.array([0.2, 0.7], "float32")),
    (lambda: layers.CategoryEncoding(num_tokens=3), np.array([[0, 2]], "float32")),
    (lambda: layers.IntegerLookup(vocabulary=[4, 5], output_mode="count"), np.array([[4.0, 9.0, 5.0]], "float32")),
])
def test_no_gradient_reaches_the_indices(ops, make, x):
    """As Embedding's indices: zeros of the input's shape, so that a layer before can run its backward."""
    layer = make()
    x = ops.asarray(x)
    layer.build((None,) + tuple(x.shape[1:]))
    y = layer.forward(x)
    dx = ops.to_host(layer.backward(ops.ones(y.shape, "float32")))
    assert dx.shape == tuple(x.shape) and dx.dtype == np.float32 and not dx.any()
    assert layer.backward(ops.ones(y.shape, "float32"), need_dx=False) is None
    assert layer.trainable_weights == []
