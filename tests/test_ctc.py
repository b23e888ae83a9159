"""CTC (gpunet/autodiff/keras3_ctc_ops.py, gpunet/backend/keras_ctc_functions.py): Keras 3's ``ops.ctc_loss`` and
``ops.ctc_decode`` against Keras 3 on torch (values, gradients with a random upstream gradient, decoded paths), the
forward-backward pass in float64 against torch's own CTC, tf.keras 2's ``K.ctc_batch_cost``/``K.ctc_decode``
against tf.keras 2 (float64 and float32), models trained side by side with tf.keras on a CTC loss (compiled, and
added by a layer as the OCR example does), bad arguments; and the same on the active backend (`ops`)."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as K
from gpunet import ops as G
from gpunet.autodiff import Tensor, gradients
from gpunet.autodiff.keras3_ctc_ops import check_ctc_inputs, ctc_loss_tensor
from keras_support import keras_on_torch

keras = keras_on_torch()
torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)
BATCH, TIME, CLASSES, LABELS = 5, 12, 6, 4
LOGITS = RNG.standard_normal((BATCH, TIME, CLASSES)) * 2.0
# repeats (need a blank between), an empty target, padding past each length that must be ignored, a sample whose
# output is shorter than the batch's
TARGET = np.array([[1, 1, 2, 2], [3, 4, 5, 9], [2, 2, 2, 0], [5, 1, 3, 2], [7, 7, 7, 7]])
TARGET_LENGTH = np.array([4, 2, 3, 4, 0])
OUTPUT_LENGTH = np.array([12, 7, 9, 5, 3])
SAFE_TARGET = np.where(np.arange(LABELS) < TARGET_LENGTH[:, None], TARGET, 1)  # (torch reads padding too)
UPSTREAM = RNG.standard_normal(BATCH)


def _torch_loss(logits, target, blank):
    """Keras 3's formula (log_softmax, then torch's CTC, per sample) in the logits' dtype."""
    lp = torch.nn.functional.log_softmax(logits.transpose(0, 1), dim=-1)
    return torch.nn.functional.ctc_loss(lp, torch.tensor(target), torch.tensor(OUTPUT_LENGTH),
                                        torch.tensor(TARGET_LENGTH), blank=blank, reduction="none")


def _target_for(mask_index):
    """TARGET's labels moved off ``mask_index`` (a label may not be the blank)."""
    return np.where(SAFE_TARGET == mask_index, (mask_index + 1) % CLASSES, SAFE_TARGET)


def _host(a):
    return K.get_backend().to_host(a)


@pytest.mark.parametrize("mask_index", [0, 2, CLASSES - 1])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ctc_loss_matches_keras3_on_torch(ops, mask_index, dtype):
    target = _target_for(mask_index)
    x = Tensor(ops.asarray(LOGITS.astype(dtype)), requires_grad=True)
    got = G.ctc_loss(ops.asarray(target), x, ops.asarray(TARGET_LENGTH), ops.asarray(OUTPUT_LENGTH),
                     mask_index=mask_index)
    xt = torch.tensor(LOGITS.astype(dtype), requires_grad=True)
    want = keras.ops.ctc_loss(torch.tensor(target), xt, torch.tensor(TARGET_LENGTH), torch.tensor(OUTPUT_LENGTH),
                              mask_index=mask_index)
    assert got.dtype == "float32" and want.dtype == torch.float32 and got.shape == (BATCH,)
    np.testing.assert_allclose(_host(got.data), want.detach().numpy(), rtol=2e-6, atol=1e-5)
    (g,) = gradients(got, [x], ops.asarray(UPSTREAM.astype("float32")))
    (w,) = torch.autograd.grad(want, xt, torch.tensor(UPSTREAM, dtype=torch.float32))
    assert g.dtype == dtype
    np.testing.assert_allclose(_host(g), w.numpy(), rtol=1e-5, atol=1e-6)
    assert not _host(g)[3, 5:].any() and not _host(g)[4, 3:].any()  # nothing past each output's length


@pytest.mark.parametrize("mask_index", [0, 3, CLASSES - 1])
def test_forward_backward_float64_matches_torch(mask_index):
    """The same algorithm in float64 (K.ctc_batch_cost's path for float64 y_pred) against torch's CTC in float64."""
    target = _target_for(mask_index)
    x = Tensor(LOGITS, requires_grad=True)
    with K.use_backend("numpy"):  # (host arrays, compared at float64's precision)
        got = ctc_loss_tensor(*check_ctc_inputs(target, x, TARGET_LENGTH, OUTPUT_LENGTH, mask_index), mask_index,
                              "float64")
        (g,) = gradients(got, [x], UPSTREAM)
    xt = torch.tensor(LOGITS, requires_grad=True)
    want = _torch_loss(xt, target, mask_index)
    np.testing.assert_allclose(got.data, want.detach().numpy(), rtol=1e-12)
    (w,) = torch.autograd.grad(want, xt, torch.tensor(UPSTREAM))
    np.testing.assert_allclose(g, w.numpy(), rtol=1e-10, atol=1e-12)


def test_impossible_alignment_gives_inf_as_torch():
    got = G.ctc_loss(np.array([[1, 1, 1]]), LOGITS[:1, :4], np.array([3]), np.array([4]))
    want = keras.ops.ctc_loss(torch.tensor([[1, 1, 1]]), torch.tensor(LOGITS[:1, :4]), torch.tensor([3]),
                              torch.tensor([4]))
    assert np.isinf(got.data).all() and np.isinf(want.numpy()).all()


def _keras_decode(strategy, **kwargs):
    return keras.ops.ctc_decode(torch.tensor(LOGITS), torch.tensor(OUTPUT_LENGTH), strategy=strategy, **kwargs)


DECODES = [("greedy", {}), ("greedy", {"merge_repeated": False}), ("greedy", {"mask_index": CLASSES - 1}),
           ("greedy", {"mask_index": 2, "merge_repeated": False}), ("beam_search", {}),
           ("beam_search", {"beam_width": 3, "top_paths": 2}), ("beam_search", {"beam_width": 2, "top_paths": 3}),
           ("beam_search", {"beam_width": 5, "top_paths": 4, "mask_index": CLASSES - 1}),
           ("beam_search", {"beam_width": 1, "mask_index": 3})]


@pytest.mark.parametrize("strategy,kwargs", DECODES, ids=[f"{s}-{k}" for s, k in DECODES])
def test_ctc_decode_matches_keras3_on_torch(ops, strategy, kwargs):
    decoded, scores = G.ctc_decode(ops.asarray(LOGITS), ops.asarray(OUTPUT_LENGTH), strategy=strategy, **kwargs)
    want_decoded, want_scores = _keras_decode(strategy, **kwargs)
    assert decoded.dtype == "int32" and scores.dtype == "float32"
    np.testing.assert_array_equal(_host(decoded.data), want_decoded.numpy())
    np.testing.assert_allclose(_host(scores.data), want_scores.numpy(), rtol=1e-5, atol=1e-5)


def test_keras3_names():
    assert G.nn.ctc_loss is G.ctc_loss and G.nn.ctc_decode is G.ctc_decode
    assert "ctc_loss" not in G.numpy.__all__ and {"ctc_loss", "ctc_decode"} <= set(G.__all__)


def _tf():
    return pytest.importorskip("tensorflow")


PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
K2_TARGET = np.where(SAFE_TARGET == CLASSES - 1, 0, SAFE_TARGET)  # (tf.keras 2: the last category is the blank)
K2_LENGTH = np.maximum(TARGET_LENGTH, 1)  # (TensorFlow refuses an empty label; gpunet gives -log p(all blanks))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ctc_batch_cost_matches_tf_keras(ops, tfk, dtype):
    tf = _tf()
    up = UPSTREAM[:, None]
    p = Tensor(ops.asarray(PROBS.astype(dtype)), requires_grad=True)
    got = K.ctc_batch_cost(ops.asarray(K2_TARGET.astype("float32")), p, ops.asarray(OUTPUT_LENGTH[:, None]),
                           ops.asarray(K2_LENGTH[:, None]))
    pt = tf.Variable(PROBS.astype(dtype))
    with tf.GradientTape() as tape:
        want = tfk.backend.ctc_batch_cost(tf.constant(K2_TARGET.astype("float32")), pt,
                                          tf.constant(OUTPUT_LENGTH[:, None]), tf.constant(K2_LENGTH[:, None]))
    (w,) = tape.gradient(want, [pt], output_gradients=tf.constant(up.astype(dtype)))
    # (TensorFlow's float64 CTC is 1e-9 off torch's, relatively, which gpunet's matches to 1e-12: see above)
    tol = 1e-7 if dtype == "float64" else 2e-5
    assert got.shape == (BATCH, 1) and got.dtype == dtype
    np.testing.assert_allclose(_host(got.data), want.numpy(), rtol=tol, atol=tol)
    (g,) = gradients(got, [p], ops.asarray(up.astype(dtype)))
    np.testing.assert_allclose(_host(g), w.numpy(), rtol=tol * 10, atol=tol * 10)


def test_ctc_decode_matches_tf_keras(ops, tfk):
    (decoded,), log_prob = K.ctc_decode(ops.asarray(PROBS.astype("float32")), ops.asarray(OUTPUT_LENGTH))
    (want,), want_log_prob = tfk.backend.ctc_decode(PROBS.astype("float32"), OUTPUT_LENGTH)
    assert decoded.dtype == "int64" and decoded.shape == (BATCH, TIME)
    np.testing.assert_array_equal(_host(decoded.data), want.numpy())
    np.testing.assert_allclose(_host(log_prob.data), want_log_prob.numpy(), rtol=1e-5)
    with pytest.raises(NotImplementedError, match="greedy=False"):
        K.ctc_decode(PROBS, OUTPUT_LENGTH, greedy=False)


SAMPLES, FEATURES = 32, 3


def _data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((SAMPLES, TIME, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES - 1, (SAMPLES, LABELS)).astype("float32")
    return x, y


def _ctc(lib):
    def ctc(y_true, y_pred):
        ones = lib.backend.ones_like(y_true[:, :1])
        return lib.backend.ctc_batch_cost(y_true, y_pred, ones * TIME, ones * LABELS)
    return ctc


def test_model_trains_on_compiled_ctc_loss_as_tf_keras(ops, tfk):
    x, y = _data()

    def make(lib):
        inputs = lib.Input((TIME, FEATURES))
        h = lib.layers.LSTM(8, return_sequences=True)(inputs)
        return lib.Model(inputs, lib.layers.Dense(CLASSES, activation="softmax")(h))
    model, ref = make(gpunet), make(tfk)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.SGD(0.05), loss=_ctc(lib))
    h = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    r = ref.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], r.history["loss"], rtol=1e-5)
    assert h.history["loss"][-1] < h.history["loss"][0]
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_model_trains_on_added_ctc_loss_as_the_ocr_example(ops, tfk):
    """The OCR captcha example's CTCLayer: the loss added in call(), the model fit without targets."""
    x, y = _data()

    def make(lib):
        # the example's call(), in tf.keras 2 (tf.*) and in Keras 3 (keras.ops.*, here gpunet.ops)
        tf = _tf() if lib is tfk else None
        # (gpunet's ops.ones takes the 0-d tensor counting the samples as a size, as Keras 3's)
        cast, shape, ones = (tf.cast, tf.shape, tf.ones) if tf else (G.cast, G.shape, G.ones)

        class CTCLayer(lib.layers.Layer):
            def call(self, y_true, y_pred):
                batch_len = cast(shape(y_true)[0], dtype="int64")
                input_length = cast(shape(y_pred)[1], dtype="int64")
                label_length = cast(shape(y_true)[1], dtype="int64")
                input_length = input_length * ones(shape=(batch_len, 1), dtype="int64")
                label_length = label_length * ones(shape=(batch_len, 1), dtype="int64")
                self.add_loss(lib.backend.ctc_batch_cost(y_true, y_pred, input_length, label_length))
                return y_pred
        images = lib.Input((TIME, FEATURES), name="image")
        labels = lib.Input((LABELS,), name="label", dtype="float32")
        h = lib.layers.Dense(16, activation="relu")(images)
        h = lib.layers.Bidirectional(lib.layers.LSTM(8, return_sequences=True))(h)
        out = CTCLayer(name="ctc_loss")(labels, lib.layers.Dense(CLASSES, activation="softmax")(h))
        return lib.Model([images, labels], out)
    model, ref = make(gpunet), make(tfk)
    model.set_weights(ref.get_weights())
    for m, lib in ((model, gpunet), (ref, tfk)):
        m.compile(optimizer=lib.optimizers.Adam(0.01))
    data = {"image": x, "label": y}
    h = model.fit(data, epochs=3, batch_size=16, shuffle=False, verbose=0)
    r = ref.fit(data, epochs=3, batch_size=16, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # Both train on the sum of the (batch, 1) added losses; tf.keras 2 logs their mean, gpunet (as Keras 3) the
    # sum (gpunet/layers/added_losses.py): batches of 16 here
    np.testing.assert_allclose(h.history["loss"], np.array(r.history["loss"]) * 16, rtol=1e-5)
    pred = model.predict(data, verbose=0)
    (decoded,), _ = K.ctc_decode(pred, np.full(SAMPLES, TIME))
    (want,), _ = tfk.backend.ctc_decode(ref.predict(data, verbose=0), np.full(SAMPLES, TIME))
    np.testing.assert_array_equal(_host(decoded.data), want.numpy())


BAD = [
    (lambda: G.ctc_loss(TARGET, LOGITS[0], TARGET_LENGTH, OUTPUT_LENGTH), ValueError, "expected `output` of shape"),
    (lambda: G.ctc_loss(TARGET[0], LOGITS, TARGET_LENGTH, OUTPUT_LENGTH), ValueError, "`target` of rank 2"),
    (lambda: G.ctc_loss(TARGET[:3], LOGITS, TARGET_LENGTH, OUTPUT_LENGTH), ValueError, "same first dimension"),
    (lambda: G.ctc_loss(TARGET, LOGITS, TARGET_LENGTH[:, None], OUTPUT_LENGTH), ValueError, "`target_length` of rank"),
    (lambda: G.ctc_loss(TARGET, LOGITS, TARGET_LENGTH + 1, OUTPUT_LENGTH), ValueError, r"target_length in \[0, 4\]"),
    (lambda: G.ctc_loss(TARGET, LOGITS, TARGET_LENGTH, OUTPUT_LENGTH + 1), ValueError, r"output_length in \[1, 12\]"),
    (lambda: G.ctc_loss(TARGET * 2, LOGITS, TARGET_LENGTH, OUTPUT_LENGTH), ValueError, r"labels .* in \[0, 6\)"),
    (lambda: G.ctc_loss(TARGET, LOGITS, TARGET_LENGTH, OUTPUT_LENGTH, mask_index=6), ValueError, "mask_index an int"),
    (lambda: G.ctc_decode(LOGITS, OUTPUT_LENGTH, strategy="best"), ValueError, "'greedy' or 'beam_search'"),
    (lambda: G.ctc_decode(LOGITS, OUTPUT_LENGTH, strategy="beam_search", beam_width=0), ValueError, "beam_width"),
    (lambda: G.ctc_decode(LOGITS, OUTPUT_LENGTH[:2]), ValueError, "same first dimension"),
    (lambda: G.ctc_decode(LOGITS[0], OUTPUT_LENGTH), ValueError, "expected `inputs` of shape"),
    (lambda: K.ctc_batch_cost(K2_TARGET + 1, PROBS, OUTPUT_LENGTH[:, None], TARGET_LENGTH[:, None]), ValueError,
     r"in \[0, 5\)"),
    (lambda: K.ctc_batch_cost(K2_TARGET, PROBS, OUTPUT_LENGTH[:, None, None], TARGET_LENGTH[:, None]), ValueError,
     r"`input_length` of shape \(samples, 1\)"),
]


@pytest.mark.parametrize("call,error,message", BAD, ids=range(len(BAD)))
def test_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()
