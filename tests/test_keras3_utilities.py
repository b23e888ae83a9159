"""Keras 3's utilities a program imports: ``timeseries_dataset_from_array`` (the windows and batches Keras's
tf.data pipeline gives, then trained on), ``keras.random.gamma/beta/binomial``, the dtype helpers
(``standardize_dtype``, ``result_type``, ...), and the names ``keras.utils`` / ``keras.initializers`` add."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as K
from gpunet import random as R
from gpunet.utils import timeseries_dataset_from_array

from keras_support import keras_on_torch

DATA = np.arange(100 * 2, dtype="float32").reshape(100, 2)
TARGETS = np.arange(100) * 10

WINDOW_CASES = [dict(sequence_length=5), dict(sequence_length=4, sequence_stride=3, sampling_rate=2, batch_size=7),
                dict(sequence_length=3, start_index=10, end_index=60, batch_size=16),
                dict(sequence_length=6, batch_size=None)]


def _batches(dataset, with_targets):
    return [tuple(b) if with_targets else (b,) for b in dataset]


@pytest.mark.parametrize("kwargs", WINDOW_CASES, ids=[str(i) for i in range(len(WINDOW_CASES))])
@pytest.mark.parametrize("targets", [TARGETS, None], ids=["targets", "windows-only"])
def test_windows_and_batches_are_keras_3s(kwargs, targets):
    keras = keras_on_torch()
    pytest.importorskip("tensorflow", reason="Keras 3 builds these datasets with tf.data")
    theirs = _batches(keras.utils.timeseries_dataset_from_array(DATA, targets, **kwargs).as_numpy_iterator(),
                      targets is not None)
    dataset = timeseries_dataset_from_array(DATA, targets, **kwargs)
    mine = _batches(dataset, targets is not None)
    assert len(mine) == len(theirs) == len(dataset)
    for got, want in zip(mine, theirs):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_shuffled_windows_are_the_same_windows_in_a_seeded_order():
    plain = np.concatenate([w for w, _ in timeseries_dataset_from_array(DATA, TARGETS, 5, batch_size=8)])
    runs = [timeseries_dataset_from_array(DATA, TARGETS, 5, batch_size=8, shuffle=True, seed=3) for _ in range(2)]
    first, second = (np.concatenate([w for w, _ in run]) for run in runs)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, plain)
    assert sorted(map(tuple, first.reshape(len(first), -1))) == sorted(map(tuple, plain.reshape(len(plain), -1)))
    for windows, targets in runs[0]:  # each window keeps its target: the value at its first step, times 10
        np.testing.assert_array_equal(targets, windows[:, 0, 0] / 2 * 10)


def test_fit_evaluate_and_predict_take_it():
    series = np.sin(np.arange(300) / 10).astype("float32")[:, None]
    train = timeseries_dataset_from_array(series[:-8], series[8:], sequence_length=8, batch_size=32)
    model = gpunet.Sequential([gpunet.layers.Flatten(input_shape=(8, 1)), gpunet.layers.Dense(1)])
    model.compile(gpunet.optimizers.Adam(0.01), "mse")
    history = model.fit(train, epochs=5, verbose=0).history
    assert len(history["loss"]) == 5 and history["loss"][-1] < history["loss"][0]
    assert model.evaluate(train, verbose=0) == pytest.approx(history["loss"][-1], rel=0.5)
    windows = timeseries_dataset_from_array(series, None, sequence_length=8, batch_size=64)
    assert model.predict(windows, verbose=0).shape == (293, 1)
    first = train.take(2)
    assert len(first) == 2 and first[0][0].shape == (32, 8, 1) and len(train.take(-1)) == len(train)


@pytest.mark.parametrize("kwargs, message", [
    (dict(start_index=-1), "`start_index` must be 0 or greater"),
    (dict(start_index=100), "`start_index` must be lower than the length of the data"),
    (dict(start_index=50, end_index=40), "`end_index` must be higher than `start_index`"),
    (dict(sampling_rate=0), "`sampling_rate` must be higher than 0"),
    (dict(sequence_stride=100), "`sequence_stride` must be lower than the length of the data"),
    (dict(batch_size=0), "`batch_size` must be a positive int or None"),
])
def test_bad_arguments_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        timeseries_dataset_from_array(DATA, TARGETS, 5, **kwargs)


@pytest.mark.parametrize("name, args", [("gamma", {"alpha": 2.0}), ("beta", {"alpha": 2.0, "beta": 5.0}),
                                        ("binomial", {"counts": 10, "probabilities": 0.3})])
def test_random_draws_follow_keras_3s_distributions_and_seeds(name, args):
    keras = keras_on_torch()
    mine = getattr(R, name)((40000,), seed=1, **args).numpy()
    theirs = getattr(keras.random, name)((40000,), seed=1, **args).numpy()
    assert mine.dtype == theirs.dtype == np.float32
    assert mine.mean() == pytest.approx(theirs.mean(), rel=0.03)
    assert mine.std() == pytest.approx(theirs.std(), rel=0.03)
    np.testing.assert_array_equal(getattr(R, name)((5,), seed=4, **args).numpy(),
                                  getattr(R, name)((5,), seed=4, **args).numpy())
    seeds = R.SeedGenerator(7)
    assert not np.array_equal(getattr(R, name)((5,), seed=seeds, **args).numpy(),
                              getattr(R, name)((5,), seed=seeds, **args).numpy())


def test_dtype_helpers_agree_with_keras_3():
    keras = keras_on_torch()
    for dtypes in [("int32", "float32"), ("bfloat16", "float16"), ("int8", "int32"), ("bool", "int16"),
                   ("uint8", "float16")]:
        assert K.result_type(*dtypes) == keras.backend.result_type(*dtypes), dtypes
    assert K.result_type("float16", "float64") == "float64"  # (Keras 3 says float32: JAX's rule without x64)
    for dtype in (None, float, "float64", np.int32, np.dtype("uint8"), "bool", "bfloat16"):
        assert K.standardize_dtype(dtype) == keras.backend.standardize_dtype(dtype)
        assert K.is_float_dtype(dtype) == keras.backend.is_float_dtype(dtype)
        assert K.is_int_dtype(dtype) == keras.backend.is_int_dtype(dtype)
    assert K.standardize_dtype(int) == "int64"  # (TensorFlow's Keras 3 choice; on torch it is int32)
    with pytest.raises(ValueError, match="Invalid dtype: 'floaty'"):
        K.standardize_dtype("floaty")


def test_keras_3_names_are_there():
    assert gpunet.utils.is_keras_tensor(gpunet.Input((3,))) and not gpunet.utils.is_keras_tensor(np.zeros(3))
    assert gpunet.utils.standardize_dtype("float32") == "float32"
    assert gpunet.utils.clear_session is K.clear_session
    assert gpunet.initializers.OrthogonalInitializer is gpunet.initializers.Orthogonal
    assert gpunet.initializers.IdentityInitializer is gpunet.initializers.Identity
    assert gpunet.preprocessing.timeseries_dataset_from_array is timeseries_dataset_from_array
