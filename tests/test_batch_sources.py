"""fit, evaluate and predict on batches from a generator, a gpunet.utils.Sequence, or arrays with
steps_per_epoch (models/batch_sources.py), and Keras 2's fit_generator family."""
import numpy
import pytest

import gpunet
from gpunet import backend as B
from gpunet.layers import Dense
from gpunet.models import Sequential

RNG = numpy.random.default_rng(0)
X = RNG.standard_normal((47, 5))
Y = (X[:, :1] + 0.3 * RNG.standard_normal((47, 1)) > 0).astype("float64")


@pytest.fixture(autouse=True)
def f64():
    B.set_floatx("float64")  # (conftest sets float32 back after each test)


class Batches(gpunet.utils.Sequence):
    def __init__(self, x, y, batch_size, sw=None):
        self.x, self.y, self.sw, self.batch_size, self.ends = x, y, sw, batch_size, 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return (self.x[s], self.y[s]) if self.sw is None else (self.x[s], self.y[s], self.sw[s])

    def on_epoch_end(self):
        self.ends += 1


def generator(x, y, batch_size):
    while True:
        for lo in range(0, len(x), batch_size):
            yield x[lo:lo + batch_size], y[lo:lo + batch_size]


def model(seed=3):
    gpunet.utils.set_random_seed(seed)
    m = Sequential([Dense(6, input_dim=5, activation="tanh"), Dense(1, activation="sigmoid")])
    m.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    return m


def assert_same(a, b):
    for key in b:
        numpy.testing.assert_allclose(a[key], b[key], rtol=1e-12, err_msg=key)


@pytest.mark.parametrize("source", ["sequence", "generator", "fit_generator"])
def test_batches_train_as_the_same_arrays_do(source):
    """A Sequence (its batches in order with shuffle=False), or a generator with steps_per_epoch,
    trains, validates, evaluates and predicts as fit on the arrays with the same batches."""
    ref = model()
    expected = ref.fit(X, Y, batch_size=10, epochs=3, shuffle=False, verbose=0, validation_data=(X[:20], Y[:20]))
    got = model()
    seq = Batches(X, Y, 10)
    if source == "sequence":
        history = got.fit(seq, epochs=3, shuffle=False, verbose=0, validation_data=Batches(X[:20], Y[:20], 32))
        assert seq.ends == 3, "on_epoch_end after each epoch"
    elif source == "generator":
        history = got.fit(generator(X, Y, 10), steps_per_epoch=5, epochs=3, verbose=0,
                          validation_data=(X[:20], Y[:20]))
    else:
        history = got.fit_generator(generator(X, Y, 10), steps_per_epoch=5, epochs=3, verbose=0,
                                    validation_data=generator(X[:20], Y[:20], 32), validation_steps=1,
                                    workers=4, use_multiprocessing=True, max_queue_size=3)
    assert_same(history.history, expected.history)
    for g, r in zip(got.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=1e-12)
    numpy.testing.assert_allclose(got.evaluate(seq, verbose=0), ref.evaluate(X, Y, batch_size=10, verbose=0),
                                  rtol=1e-12)
    numpy.testing.assert_allclose(got.evaluate_generator(generator(X, Y, 10), steps=5),
                                  ref.evaluate(X, Y, batch_size=10, verbose=0), rtol=1e-12)
    numpy.testing.assert_allclose(got.predict(seq), ref.predict(X), rtol=1e-12)
    numpy.testing.assert_allclose(got.predict_generator(generator(X, Y, 10), steps=2), ref.predict(X[:20]),
                                  rtol=1e-12)


def test_sample_weights_in_batches_and_a_shuffled_sequence():
    sw = RNG.uniform(0.5, 2.0, 47)
    ref = model()
    expected = ref.fit(X, Y, sample_weight=sw, batch_size=16, epochs=2, shuffle=False, verbose=0)
    got = model()
    assert_same(got.fit(Batches(X, Y, 16, sw), epochs=2, shuffle=False, verbose=0).history, expected.history)
    shuffled = model()
    shuffled.fit(Batches(X, Y, 16, sw), epochs=2, verbose=0)  # the batch order shuffled: other weights
    assert not numpy.allclose(shuffled.get_weights()[0], got.get_weights()[0])


def test_a_generator_without_steps_runs_until_it_ends_and_a_short_one_stops_with_a_warning():
    m = model()
    history = m.fit((b for b in Batches(X, Y, 10)), epochs=1, verbose=0)  # 5 batches, then StopIteration
    assert len(history.history["loss"]) == 1 and m.optimizer.iterations == 5
    with pytest.warns(RuntimeWarning, match="ran out of data"):
        history = model().fit((b for b in Batches(X, Y, 10)), steps_per_epoch=3, epochs=4, verbose=0)
    assert len(history.history["loss"]) == 2  # 3 batches, then the last 2, then nothing


def test_steps_per_epoch_with_arrays_takes_that_many_batches_from_one_stream():
    """As tf.keras: each epoch takes steps_per_epoch batches, continuing through the data (here
    unshuffled: epoch 2 starts at the 4th batch), as many passes as epochs."""
    ref = model()
    for lo, hi in [(0, 10), (10, 20), (20, 30), (30, 40), (40, 47), (0, 10)]:  # pass 1's 5 batches, pass 2's first
        ref.train_on_batch(X[lo:hi], Y[lo:hi])
    got = model()
    history = got.fit(X, Y, batch_size=10, steps_per_epoch=3, epochs=2, shuffle=False, verbose=0)
    assert got.optimizer.iterations == 6 and len(history.history["loss"]) == 2
    for g, r in zip(got.get_weights(), ref.get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=1e-12)
    assert got.fit(X, Y, steps_per_epoch=2, epochs=1, verbose=0, validation_split=0.25).history["val_loss"]


def test_objects_that_are_not_data_are_refused_clearly():
    m = model()
    with pytest.raises(TypeError, match="y must be an array .* received a set"):
        m.fit(X, {1, 2}, verbose=0)
    with pytest.raises(ValueError, match="each batch must be \\(x, y\\) or \\(x, y, sample_weight\\)"):
        m.fit(iter([X[:4]]), steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match="y and sample_weight come in its batches"):
        m.fit(Batches(X, Y, 10), Y, verbose=0)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        m.fit(Batches(X, Y, 10), validation_split=0.2, verbose=0)


def test_keras_utils_extras_and_model_losses(capsys):
    from gpunet.utils.np_utils import normalize, to_categorical
    numpy.testing.assert_allclose(normalize([[3.0, 4.0], [0.0, 0.0]]), [[0.6, 0.8], [0.0, 0.0]])
    assert to_categorical([0, 2]).tolist() == [[1, 0, 0], [0, 0, 1]]
    custom = gpunet.utils.get_custom_objects()
    custom["my_thing"] = normalize
    assert gpunet.utils.get_custom_objects()["my_thing"] is normalize
    del custom["my_thing"]
    assert gpunet.utils.plot_model(model()) is None and "pydot" in capsys.readouterr().out
    m = Sequential([Dense(3, input_dim=2, kernel_regularizer=gpunet.regularizers.l2(0.1)),
                    Dense(1, bias_regularizer="l1")])
    w = m.layers[0].kernel.numpy()
    assert len(m.losses) == 2 and float(m.losses[0]) == pytest.approx(0.1 * (w ** 2).sum())
