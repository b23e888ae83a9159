"""Masks across nested models, against tf.keras 2.21: a nested model (Sequential or functional) takes its input's
mask on through its layers and hands its output's out (an encoder sub-model over padded token ids, the masked
embedding as a model of its own). Predictions, training (History and weights) and evaluate equal tf.keras's from
the same weights; the files travel both ways."""
import numpy as np
import pytest

import gpunet

from graph_gradients import assert_trains_alike
from keras_support import assert_files_travel

R = np.random.default_rng(7)
TOKENS = R.integers(1, 12, (32, 6))
TOKENS[::3, 4:] = 0
TOKENS[5, 1:] = 0
Y = R.random((32, 1)).astype("float32")
Y_STEPS = R.random((32, 6, 1)).astype("float32")


def _embedding_model(lib):
    """The masked embedding as a Sequential of its own: its output carries the mask out."""
    return lib.Sequential([lib.Input((6,)), lib.layers.Embedding(12, 4, mask_zero=True)], name="embed")


def mask_out_of_a_nested_sequential(lib):
    return lib.Sequential([lib.Input((6,)), _embedding_model(lib), lib.layers.LSTM(3), lib.layers.Dense(1)])


def mask_into_a_nested_sequential(lib):
    L = lib.layers
    encoder = lib.Sequential([lib.Input((6, 4)), L.Dense(5, activation="tanh"), L.GRU(3)], name="encoder")
    inp = lib.Input((6,))
    return lib.Model(inp, L.Dense(1)(encoder(L.Embedding(12, 4, mask_zero=True)(inp))))


def mask_through_a_nested_functional(lib):
    """A functional encoder holding the Embedding, its sequence output (masked) averaged outside it."""
    L = lib.layers
    tokens = lib.Input((6,))
    steps = L.LSTM(3, return_sequences=True)(L.Embedding(12, 4, mask_zero=True)(tokens))
    encoder = lib.Model(tokens, steps, name="encoder")
    inp = lib.Input((6,))
    return lib.Model(inp, L.Dense(1)(L.GlobalAveragePooling1D()(encoder(inp))))


def mask_to_the_output(lib):
    """The nested model's masked sequence reaches the output: the loss weighs the steps by the mask."""
    inner = lib.Sequential([lib.Input((6,)), lib.layers.Embedding(12, 4, mask_zero=True),
                            lib.layers.GRU(3, return_sequences=True)], name="tagger")
    return lib.Sequential([lib.Input((6,)), inner, lib.layers.Dense(1)])


CASES = [mask_out_of_a_nested_sequential, mask_into_a_nested_sequential, mask_through_a_nested_functional,
         mask_to_the_output]


def _pair(tfk, make):
    ref, model = make(tfk), make(gpunet)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model, ref


@pytest.mark.parametrize("make", CASES, ids=[c.__name__ for c in CASES])
def test_predicts_trains_and_evaluates_as_tf_keras(tfk, make):
    model, ref = _pair(tfk, make)
    y = Y_STEPS if make is mask_to_the_output else Y
    np.testing.assert_allclose(model.predict(TOKENS, verbose=0), ref.predict(TOKENS, verbose=0), rtol=1e-5,
                               atol=1e-6)
    assert_trains_alike(model, ref, TOKENS, y, epochs=2)
    np.testing.assert_allclose(model.evaluate(TOKENS, y, verbose=0), ref.evaluate(TOKENS, y, verbose=0), rtol=1e-5)


def test_the_mask_changes_what_the_nested_model_computes():
    """Without the mask (the padding read as token 0) the same weights give other values: the mask did cross."""
    masked = mask_out_of_a_nested_sequential(gpunet)
    plain = gpunet.Sequential([gpunet.Input((6,)), gpunet.layers.Embedding(12, 4), gpunet.layers.LSTM(3),
                               gpunet.layers.Dense(1)])
    plain.set_weights(masked.get_weights())
    got, unmasked = masked.predict(TOKENS, verbose=0), plain.predict(TOKENS, verbose=0)
    full = (TOKENS != 0).all(1)
    np.testing.assert_allclose(got[full], unmasked[full], rtol=1e-6)
    assert not np.allclose(got[~full], unmasked[~full], atol=1e-4)
    # a padded row equals its unpadded prefix: the LSTM stopped at the mask
    np.testing.assert_allclose(got[5], masked.predict(TOKENS[5:6, :1].repeat(6, 1) * [[1, 0, 0, 0, 0, 0]],
                                                      verbose=0)[0], rtol=1e-6)


@pytest.mark.parametrize("make", [mask_out_of_a_nested_sequential, mask_through_a_nested_functional],
                         ids=["sequential", "functional"])
def test_files_travel_with_tf_keras_and_keras_3(tfk, tmp_path, make):
    model, _ = _pair(tfk, make)
    model.fit(TOKENS, Y, epochs=1, verbose=0)
    assert_files_travel(model, TOKENS, tmp_path, tfk)
