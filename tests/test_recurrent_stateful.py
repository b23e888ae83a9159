"""``stateful=True`` on the recurrent layers (Keras's cross-batch statefulness) against tf.keras 2.21: the time
series tutorial's loop (fit one epoch, ``model.reset_states()``, again), the states after each batch, predict,
direct calls that carry their states, ``reset_states(states)``, ``layer.states``, the refusals Keras makes
(unknown or changed batch sizes), configs and files (which do not hold the states)."""
import numpy as np
import pytest

import gpunet
from gpunet import layers

R = np.random.default_rng(31)
X = R.random((12, 3, 1)).astype("float32")
Y = R.random((12, 1)).astype("float32")


def host(a):
    return gpunet.backend.get_backend().to_host(getattr(a, "data", a)) if not hasattr(a, "numpy") else a.numpy()


def _tutorial(lib, cell="LSTM", batch=2):
    """The stateful LSTM of the time series tutorials: ``batch_input_shape`` on the first layer, stacked."""
    L = lib.layers
    model = lib.Sequential([getattr(L, cell)(4, batch_input_shape=(batch, 3, 1), stateful=True,
                                             return_sequences=True),
                            getattr(L, cell)(3, stateful=True), L.Dense(1)])
    model.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
    return model


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
def test_the_tutorial_loop_trains_as_tf_keras(tfk, cell):
    model, ref = _tutorial(gpunet, cell), _tutorial(tfk, cell)
    model.set_weights(ref.get_weights())
    for _ in range(3):
        h = model.fit(X, Y, epochs=1, batch_size=2, shuffle=False, verbose=0)
        r = ref.fit(X, Y, epochs=1, batch_size=2, shuffle=False, verbose=0)
        np.testing.assert_allclose(h.history["loss"], r.history["loss"], rtol=1e-4)
        for mine, theirs in zip(model.layers[:2], ref.layers[:2]):  # (the states the last batch left)
            for a, b in zip(mine.states, theirs.states):
                np.testing.assert_allclose(host(a), b.numpy(), rtol=1e-4, atol=2e-5)
        model.reset_states()
        ref.reset_states()
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # predict carries the states from batch to batch and from call to call, as tf.keras's
    first, again = model.predict(X, batch_size=2, verbose=0), model.predict(X, batch_size=2, verbose=0)
    np.testing.assert_allclose(first, ref.predict(X, batch_size=2, verbose=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(again, ref.predict(X, batch_size=2, verbose=0), rtol=1e-4, atol=1e-6)
    assert not np.allclose(first, again)
    model.reset_states()
    np.testing.assert_array_equal(model.predict(X, batch_size=2, verbose=0), first)
    assert model.stateful and not gpunet.Sequential([layers.Dense(1, input_shape=(2,))]).stateful


def test_direct_calls_carry_the_states_as_tf_keras(tfk):
    """The Keras RNN guide's cross-batch statefulness: paragraphs fed one after another, then reset."""
    layer, ref = layers.GRU(5, stateful=True), tfk.layers.GRU(5, stateful=True)
    assert layer.states == [None]
    parts = [R.random((4, 6, 3)).astype("float32") for _ in range(3)]
    ref(parts[0])
    layer(parts[0])
    layer.set_weights(ref.get_weights())
    layer.reset_states()
    ref.reset_states()
    for p in parts:
        np.testing.assert_allclose(host(layer(p)), ref(p).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host(layer.states[0]), ref.states[0].numpy(), rtol=1e-5, atol=1e-6)
    start = R.random((4, 5)).astype("float32")
    layer.reset_states(states=[start])
    ref.reset_states(states=[start])
    np.testing.assert_allclose(host(layer(parts[0])), ref(parts[0]).numpy(), rtol=1e-5, atol=1e-6)
    # the guide hands the states to another layer's initial_state
    fresh, ref_fresh = layers.GRU(5), tfk.layers.GRU(5)
    fresh(parts[1], initial_state=layer.states)
    ref_fresh(parts[1], initial_state=ref.states)
    fresh.set_weights(ref_fresh.get_weights())
    np.testing.assert_allclose(host(fresh(parts[1], initial_state=layer.states)),
                               ref_fresh(parts[1], initial_state=ref.states).numpy(), rtol=1e-5, atol=1e-6)
    layer.reset_state()  # (Keras 3's name)
    np.testing.assert_array_equal(host(layer.states[0]), np.zeros((4, 5), "float32"))


def test_a_functional_model_with_batch_shape_and_an_rnn_over_a_cell():
    inp = gpunet.Input(batch_shape=(3, 4, 2))
    out = layers.RNN(layers.LSTMCell(2), stateful=True)(inp)
    model = gpunet.Model(inp, out)
    x = R.random((3, 4, 2)).astype("float32")
    first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
    rnn = model.layers[1]
    h, c = (host(s) for s in rnn.states)
    np.testing.assert_array_equal(h, second)
    model.reset_states()
    np.testing.assert_array_equal(model.predict(x, verbose=0), first)
    assert c.shape == (3, 2)


def test_configs_and_files_keep_stateful_not_the_states(tfk, tmp_path):
    model = _tutorial(gpunet)
    model.fit(X, Y, epochs=1, batch_size=2, shuffle=False, verbose=0)
    assert model.layers[0].get_config()["stateful"] is True
    for name in ("m.h5", "m.keras"):
        model.save(tmp_path / name)
        again = gpunet.models.load_model(tmp_path / name)
        assert again.layers[0].stateful and again.layers[0].states == [None, None]
        model.reset_states()
        np.testing.assert_array_equal(again.predict(X, batch_size=2, verbose=0),
                                      model.predict(X, batch_size=2, verbose=0))
    ref = tfk.models.load_model(tmp_path / "m.h5")
    model.reset_states()
    np.testing.assert_allclose(ref.predict(X, batch_size=2, verbose=0), model.predict(X, batch_size=2, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_refusals_name_what_was_expected():
    with pytest.raises(ValueError, match="If a RNN is stateful, it needs to know its batch size"):
        gpunet.Sequential([layers.LSTM(2, input_shape=(3, 1), stateful=True)])
    with pytest.raises(ValueError, match="If a RNN is stateful, it needs to know its batch size"):
        layers.GRU(2, stateful=True)(gpunet.Input((3, 1)))
    model = _tutorial(gpunet)
    with pytest.raises(ValueError, match=r"Expected batch size: 2\n- Received batch size: 12\n.*batch_size=2"):
        model.predict(X, verbose=0)
    with pytest.raises(ValueError, match="Received batch size: 1"):
        model.predict(X[:5], batch_size=2, verbose=0)  # (the last batch: as in Keras)
    layer = layers.SimpleRNN(2, stateful=True)
    layer(X[:4])
    with pytest.raises(ValueError, match=r"State 0 is incompatible with layer .*expected shape=\(4, 2\)"):
        layer.reset_states(states=[np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"expects 1 state\(s\), but it received 2"):
        layer.reset_states(states=[np.zeros((4, 2))] * 2)
    with pytest.raises(AttributeError, match="Layer must be stateful"):
        layers.LSTM(2).reset_states()
