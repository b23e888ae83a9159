"""Keras 3's ``keras.utils.PyDataset`` (as its guide writes a data loader) and the batch helpers
``unpack_x_y_sample_weight`` / ``pack_x_y_sample_weight``: fit on a PyDataset trains as on the same batches in a
`Sequence`; ``num_batches`` stands for ``__len__``; a loader without either, or endless, is refused by name."""
import math

import numpy as np
import pytest

import gpunet
from gpunet.layers import Dense
from gpunet.models import Sequential
from gpunet.utils import PyDataset, Sequence, pack_x_y_sample_weight, unpack_x_y_sample_weight

RNG = np.random.default_rng(6)
X, Y = RNG.standard_normal((50, 4)), RNG.standard_normal((50, 1))


class Batches(PyDataset):
    """The Keras 3 guide's CIFAR10PyDataset, on arrays."""

    def __init__(self, x_set, y_set, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = x_set, y_set
        self.batch_size = batch_size

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, idx):
        low = idx * self.batch_size
        high = min(low + self.batch_size, len(self.x))
        return self.x[low:high], self.y[low:high]


class Counted(Batches):
    """The same, its length as ``num_batches`` only."""

    __len__ = PyDataset.__len__

    @property
    def num_batches(self):
        return math.ceil(len(self.x) / self.batch_size)


class OldStyle(Sequence):
    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, idx):
        return self.batches[idx]


def train(data):
    gpunet.utils.set_random_seed(2)
    model = Sequential([Dense(5, input_dim=4, activation="tanh"), Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    history = model.fit(data, epochs=3, verbose=0).history
    return history, model.get_weights(), model.evaluate(data, verbose=0), model.predict(data, verbose=0)


@pytest.mark.parametrize("loader", [Batches, Counted])
def test_fit_on_a_pydataset_trains_as_on_a_sequence(loader):
    data = loader(X, Y, 16, workers=4, use_multiprocessing=True, max_queue_size=20)
    assert (data.workers, data.use_multiprocessing, data.max_queue_size) == (4, True, 20)
    assert len(data) == data.num_batches == 4
    got, want = train(data), train(OldStyle(Batches(X, Y, 16)))
    assert got[0] == want[0] and got[2] == want[2]
    for a, b in zip(got[1], want[1]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(got[3], want[3])
    assert got[3].shape == (50, 1)


def test_a_loader_without_a_length_or_endless_is_refused_by_name():
    class Nothing(PyDataset):
        def __getitem__(self, idx):
            return X, Y

    class Endless(Nothing):
        num_batches = None
    with pytest.raises(NotImplementedError, match="Nothing must define __len__\\(\\) or the num_batches property"):
        len(Nothing())
    with pytest.raises(ValueError, match="Endless.num_batches is None \\(an endless dataset\\)"):
        len(Endless())


def test_batch_helpers_round_trip():
    x, y, w = np.ones((2, 3)), np.zeros((2, 1)), np.ones(2)
    assert unpack_x_y_sample_weight(x)[0] is x and unpack_x_y_sample_weight(x)[1:] == (None, None)
    assert unpack_x_y_sample_weight([x, y])[:2] == (x, y)
    assert unpack_x_y_sample_weight((x, y, w)) == (x, y, w)
    assert unpack_x_y_sample_weight(pack_x_y_sample_weight(x, y, w)) == (x, y, w)
    assert pack_x_y_sample_weight(x) is x and pack_x_y_sample_weight([x, x]) == ([x, x],)
    assert pack_x_y_sample_weight(x, y) == (x, y)
    with pytest.raises(ValueError, match="found: \\(1, 2, 3, 4\\)"):
        unpack_x_y_sample_weight((1, 2, 3, 4))
