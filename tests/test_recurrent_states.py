"""``return_state=True`` on SimpleRNN, LSTM and GRU: the layer's several outputs in functional models (its
output, then its final states), states handed to another layer's ``initial_state`` as a list: Keras's seq2seq
example (training model, then the encoder and decoder inference models sharing its layers) against tf.keras
2.21 (values, training side by side), files both ways with tf.keras (.h5) and Keras 3 (.keras)."""
import numpy as np
import pytest

import gpunet
from gpunet import layers

from graph_gradients import assert_trains_alike
from keras_support import assert_files_travel

R = np.random.default_rng(101)
ENC = R.random((24, 7, 5)).astype("float32")
DEC = R.random((24, 4, 6)).astype("float32")
TARGET = np.eye(6, dtype="float32")[R.integers(0, 6, (24, 4))]


def _seq2seq(lib, cell="LSTM", steps=(7, 4)):
    """Keras's lstm_seq2seq training model (``steps`` None: any lengths, as the example's), and its layers."""
    L = lib.layers
    enc_in, dec_in = lib.Input((steps[0], 5)), lib.Input((steps[1], 6))
    encoder = getattr(L, cell)(8, return_state=True)
    _, *states = encoder(enc_in)
    decoder = getattr(L, cell)(8, return_sequences=True, return_state=True)
    dec_out, *_ = decoder(dec_in, initial_state=states)
    dense = L.Dense(6, activation="softmax")
    model = lib.Model([enc_in, dec_in], dense(dec_out))
    return model, (enc_in, states, dec_in, decoder, dense)


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "SimpleRNN"])
def test_seq2seq_trains_as_in_tf_keras(tfk, cell):
    (model, _), (ref, _) = _seq2seq(gpunet, cell), _seq2seq(tfk, cell)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.RMSprop(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    assert_trains_alike(model, ref, [ENC, DEC], TARGET, epochs=2)


def _inference_models(lib, parts, units=8):
    """The example's encoder and decoder models: the decoder's layers called again on state inputs."""
    enc_in, states, dec_in, decoder, dense = parts
    encoder_model = lib.Model(enc_in, states)
    state_inputs = [lib.Input((units,)) for _ in states]
    out, *new_states = decoder(dec_in, initial_state=state_inputs)
    return encoder_model, lib.Model([dec_in] + state_inputs, [dense(out)] + new_states)


def test_the_inference_models_reuse_the_trained_layers_as_tf_keras(tfk):
    (model, parts), (ref, ref_parts) = _seq2seq(gpunet), _seq2seq(tfk)
    model.set_weights(ref.get_weights())
    encoder, decoder = _inference_models(gpunet, parts)
    ref_encoder, ref_decoder = _inference_models(tfk, ref_parts)
    states, ref_states = encoder.predict(ENC, verbose=0), ref_encoder.predict(ENC, verbose=0)
    assert len(states) == 2
    for a, b in zip(states, ref_states):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    got, want = decoder.predict([DEC] + states, verbose=0), ref_decoder.predict([DEC] + ref_states, verbose=0)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[0], model.predict([ENC, DEC], verbose=0), rtol=1e-5, atol=1e-6)


def test_inputs_of_any_length_as_the_example_gives_them(tfk, tmp_path):
    """Keras's example takes Input(shape=(None, tokens)) twice: the layout of the two inputs is settled by each
    call's arrays; its decoder inference model (several outputs of unknown lengths) predicts step by step."""
    (model, parts), (ref, ref_parts) = _seq2seq(gpunet, steps=(None, None)), _seq2seq(tfk, steps=(None, None))
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.RMSprop(0.01), loss="categorical_crossentropy")
    assert_trains_alike(model, ref, [ENC, DEC], TARGET, epochs=1)
    np.testing.assert_allclose(model.predict([ENC[:, :3], DEC[:, :2]], verbose=0),
                               ref.predict([ENC[:, :3], DEC[:, :2]], verbose=0), rtol=1e-5, atol=1e-6)
    encoder, decoder = _inference_models(gpunet, parts)
    ref_encoder, ref_decoder = _inference_models(tfk, ref_parts)
    states, ref_states = encoder.predict(ENC, verbose=0), ref_encoder.predict(ENC, verbose=0)
    for step in range(3):  # (the example's decoding loop: one step at a time, the states fed back)
        got, want = decoder.predict([DEC[:, step:step + 1]] + states, verbose=0), ref_decoder.predict(
            [DEC[:, step:step + 1]] + ref_states, verbose=0)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        states, ref_states = got[1:], want[1:]
    with pytest.raises(NotImplementedError, match="several outputs of unknown lengths"):
        decoder.compile("adam", "mse")
    assert_files_travel(model, [ENC, DEC], tmp_path, tfk)


def test_files_both_ways_with_tf_keras_and_keras_3(tfk, tmp_path):
    model, _ = _seq2seq(gpunet)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    model.fit([ENC, DEC], TARGET, epochs=1, verbose=0)
    assert_files_travel(model, [ENC, DEC], tmp_path, tfk)
    again = gpunet.models.model_from_json(model.to_json())
    np.testing.assert_array_equal(again.layers[2].return_state, True)


def test_a_direct_call_returns_the_output_and_the_states(tfk):
    layer, ref = layers.GRU(3, return_state=True), tfk.layers.GRU(3, return_state=True)
    layer.build((None, 7, 5))
    ref.build((None, 7, 5))
    layer.set_weights(ref.get_weights())
    got, want = layer(ENC), ref(ENC)
    assert len(got) == 2
    for a, b in zip(got, want):
        np.testing.assert_allclose(gpunet.backend.get_backend().to_host(a), b.numpy(), rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, 7, 5)) == [(None, 3), (None, 3)]


def test_a_masked_decoder_started_from_the_encoder_s_states_as_tf_keras(tfk):
    """The translation tutorials' seq2seq: one Embedding(mask_zero=True) shared by both sides (sequences of two
    lengths), the decoder called with initial_state: its sequence's mask still reaches it."""
    enc, dec = R.integers(1, 12, (8, 7)), R.integers(1, 12, (8, 5))
    enc[::2, 5:] = 0
    dec[1::2, 3:] = 0

    def make(lib):
        L = lib.layers
        enc_in, dec_in = lib.Input((7,)), lib.Input((5,))
        emb = L.Embedding(12, 4, mask_zero=True)
        _, h, c = L.LSTM(3, return_state=True)(emb(enc_in))
        out = L.LSTM(3, return_sequences=True)(emb(dec_in), initial_state=[h, c])
        model = lib.Model([enc_in, dec_in], L.Dense(2)(L.GlobalAveragePooling1D()(out)))  # (the mask used up)
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        return model
    model, ref = make(gpunet), make(tfk)
    model.set_weights(ref.get_weights())
    np.testing.assert_allclose(model.predict([enc, dec], verbose=0), ref.predict([enc, dec], verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert_trains_alike(model, ref, [enc, dec], R.random((8, 2)).astype("float32"), epochs=2)


def test_a_shared_layer_takes_other_lengths_not_other_widths():
    dense, gru = gpunet.layers.Dense(2), gpunet.layers.GRU(2)
    a, b = gpunet.Input((5, 3)), gpunet.Input((7, 3))
    model = gpunet.Model([a, b], gpunet.layers.Concatenate()([gru(dense(a)), gru(dense(b))]))
    x = [R.random((2, 5, 3)).astype("float32"), R.random((2, 7, 3)).astype("float32")]
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got[:, :2], gpunet.Model(a, gru(dense(a))).predict(x[0], verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match=r"Layer 'dense.*' was built for input shape \(None, 5, 3\), received a tensor "
                                         r"of shape \(None, 5, 4\)"):
        dense(gpunet.Input((5, 4)))
