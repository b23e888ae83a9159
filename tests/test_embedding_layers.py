"""Embedding, GlobalAveragePooling1D and GlobalMaxPooling1D (gpunet/layers/embedding.py, pooling.py)
and Embedding(mask_zero=True)'s masks (layers/masking.py): values and gradients by finite
differences (float64), outputs and SGD / RMSprop training trajectories against real Keras 3 (torch) and
tf.keras 2.21 from the same weights, tf.keras 2.21's mask rules layer by layer, saving and loading
both ways with both Kerases, index and argument errors, the fused plans declining, and the
IMDB-style models end to end."""
import json
import warnings

import numpy as np
import pytest

import gpunet
import cuda_emulator
from gpunet import backend as B
from gpunet.layers import BatchNormalization, Dense, Embedding, Flatten, GlobalAveragePooling1D, GlobalMaxPooling1D
from gpunet.models import Sequential, load_model, model_from_json, model_from_yaml
from gpunet.saving.errors import InvalidConfigError
from gpunet.testing import check_gradient, numeric_gradient

VOCAB, LEN, N = 40, 12, 64
_RNG = np.random.default_rng(7)
X = _RNG.integers(1, VOCAB, (N, LEN))
for _row, _n in enumerate(_RNG.integers(2, LEN, N)):
    X[_row, :LEN - _n] = 0  # pad_sequences' default: zeros in front
X[0] = 0  # (kept out of the masked-average cases: an all-padding row is 0 / 0)
Y = (X.sum(1) > np.median(X.sum(1))).astype("float64")[:, None]
MASKED_ROWS = slice(1, None)
emulator = cuda_emulator.emulator  # the fixture: gpunet's kernels compiled for the host
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:tf_keras.*")  # "HDF5 ... is considered legacy"


@pytest.fixture(scope="module")
def k3():
    from keras_support import keras_on_torch
    return keras_on_torch()


@pytest.fixture
def both64(tfk, k3, f64):
    """float64 in both Kerases and gpunet, restored after (Keras 3 keeps its first model's policy)."""
    old = k3.backend.floatx(), tfk.backend.floatx()
    k3.utils.clear_session()
    k3.backend.set_floatx("float64")
    tfk.backend.set_floatx("float64")
    yield
    k3.backend.set_floatx(old[0])
    tfk.backend.set_floatx(old[1])
    k3.utils.clear_session()


# ---- values and gradients ------------------------------------------------------------------------
def test_embedding_gathers_rows_and_accumulates_repeated_indices(ops, f64):
    table = np.random.default_rng(1).standard_normal((6, 3))
    layer = Embedding(6, 3, weights=[table])
    ids = np.array([[1, 2, 1, 0], [5, 1, 1, 2]])
    for given in (ids, ids.astype("float64"), ids.astype("int32")):  # fit hands inputs over as floats
        np.testing.assert_array_equal(ops.to_host(layer(ops.asarray(given))), table[ids])
    layer.embeddings.grad = ops.zeros((6, 3), "float64")
    dy = np.random.default_rng(2).standard_normal((2, 4, 3))
    layer.forward(ops.asarray(ids))
    assert layer.backward(ops.asarray(dy), need_dx=False) is None
    got = ops.to_host(layer.embeddings.grad).copy()
    probe = table.copy()

    def loss():
        layer.embeddings.assign(probe)
        return float(np.sum(ops.to_host(layer.forward(ops.asarray(ids))) * dy))

    want = numeric_gradient(loss, probe)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got[1], dy[0, 0] + dy[0, 2] + dy[1, 1] + dy[1, 2], rtol=1e-12)  # 4 uses of row 1
    assert not got[3].any() and not got[4].any()
    dx = ops.to_host(layer.backward(ops.asarray(dy), need_dx=True))  # indices have no gradient
    assert dx.shape == (2, 4) and not dx.any()


POOLS = {
    "average": lambda: GlobalAveragePooling1D(),
    "average_keepdims": lambda: GlobalAveragePooling1D(keepdims=True),
    "average_first": lambda: GlobalAveragePooling1D(data_format="channels_first"),
    "average_first_keepdims": lambda: GlobalAveragePooling1D(data_format="channels_first", keepdims=True),
    "max": lambda: GlobalMaxPooling1D(),
    "max_keepdims": lambda: GlobalMaxPooling1D(keepdims=True),
    "max_first": lambda: GlobalMaxPooling1D(data_format="channels_first"),
}
X3 = np.random.default_rng(3).standard_normal((3, 5, 4))
MASK = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1], [0, 0, 0, 0, 1]], bool)


def _pooled(case, x, mask=None):
    axis = 2 if "first" in case else 1
    if mask is not None:
        w = np.expand_dims(mask.astype(x.dtype), 1 if axis == 2 else 2)
        y = (x * w).sum(axis, keepdims=True) / w.sum(axis, keepdims=True)
    else:
        y = (x.mean if case.startswith("average") else x.max)(axis, keepdims=True)
    return y if "keepdims" in case else y.squeeze(axis)


POOL_RUNS = [(case, False) for case in sorted(POOLS)] + [(case, True) for case in sorted(POOLS) if "average" in case]


@pytest.mark.parametrize("case, masked", POOL_RUNS, ids=[c + ("-masked" if m else "") for c, m in POOL_RUNS])
def test_pooling_values_and_gradients(ops, f64, case, masked):
    layer = POOLS[case]()
    x = X3 if "first" not in case else X3.transpose(0, 2, 1)
    mask = MASK if masked else None
    layer.build((None,) + x.shape[1:])

    def forward(v):
        return ops.to_host(layer.forward(ops.asarray(v), mask=None if mask is None else ops.asarray(mask))
                           if masked else layer.forward(ops.asarray(v)))

    np.testing.assert_allclose(forward(x), _pooled(case, x, mask), rtol=1e-13)
    assert forward(x).shape == layer.compute_output_shape((3,) + x.shape[1:])
    dx, _ = check_gradient(forward, lambda dy: ops.to_host(layer.backward(ops.asarray(dy))), x.copy(), rtol=1e-6)
    if masked:  # no gradient through the padded steps
        steps = np.expand_dims(~mask, 1 if "first" in case else 2) & np.ones(x.shape, bool)
        assert not dx[steps].any() and dx[~steps].all()


def test_max_pooling_shares_the_gradient_among_ties_as_tensorflow(ops):
    """tf.keras 2.21 (TensorFlow's reduce_max gradient) and Keras 3 on torch (amax) both give, for
    x = [[1, 2], [1, 0], [1, 2]] (one sample) and an upstream gradient [1, 10]:
    [[1/3, 5], [1/3, 0], [1/3, 5]]."""
    layer = GlobalMaxPooling1D()
    x = np.array([[[1.0, 2.0], [1.0, 0.0], [1.0, 2.0]]], "float32")
    np.testing.assert_array_equal(ops.to_host(layer(ops.asarray(x))), [[1.0, 2.0]])
    dx = ops.to_host(layer.backward(ops.asarray(np.array([[1.0, 10.0]], "float32"))))
    np.testing.assert_allclose(dx, [[[1 / 3, 5.0], [1 / 3, 0.0], [1 / 3, 5.0]]], rtol=1e-7)


# ---- against real Keras: outputs, masks and training ------------------------------------------------
CASES = {  # name -> the layers, from a layers module L and the Embedding's extra arguments n
    "flatten": lambda L, n: [L.Embedding(VOCAB, 4, **n), L.Flatten(), L.Dense(1, activation="sigmoid")],
    "average": lambda L, n: [L.Embedding(VOCAB, 6, mask_zero=True, **n), L.Dense(5, activation="tanh"),
                             L.GlobalAveragePooling1D(), L.Dense(1, activation="sigmoid")],
    "max": lambda L, n: [L.Embedding(VOCAB, 6, mask_zero=True, **n), L.GlobalMaxPooling1D(),
                         L.Dense(1, activation="sigmoid")],
    "first": lambda L, n: [L.Embedding(VOCAB, 5, **n), L.GlobalAveragePooling1D("channels_first", keepdims=True),
                           L.Flatten(), L.Dense(1, activation="sigmoid")],
}


def _model(lib, case):
    """The same layers in gpunet, Keras 3 or tf.keras, started from the same weights."""
    if lib is gpunet:
        model = Sequential(CASES[case](gpunet.layers, {"input_length": LEN}))
    elif lib.__name__ == "keras":  # Keras 3 has no input_length
        model = lib.Sequential([lib.Input((LEN,))] + CASES[case](lib.layers, {}))
    else:
        model = lib.Sequential(CASES[case](lib.layers, {"input_length": LEN}))
    rng = np.random.default_rng(11)
    model.set_weights([rng.uniform(-0.5, 0.5, np.shape(w)) for w in model.get_weights()])
    return model


def _rows(case):
    """The rows of X a case runs on: a masked average of an all-padding row is 0 / 0."""
    return MASKED_ROWS if case == "average" else slice(None)


# float64 everywhere. tf.keras 2.21 agrees to rounding (1e-10 asked, ~1e-15 seen). Keras 3.15 on torch
# computes Dense's matmul in float32 even in a float64 model (its dtypes.result_type("float64",
# "float64") is "float32"), so against it float32's precision is all there is to compare.
TOLERANCES = {"tf_keras": dict(rtol=1e-10, atol=1e-12), "keras": dict(rtol=2e-6, atol=1e-7)}


RUNS = [(case, "SGD", dict(learning_rate=0.5)) for case in sorted(CASES)] + [
    ("flatten", "RMSprop", dict(learning_rate=0.0625)),  # Deep Learning with Python's optimizer
    ("average", "SGD", dict(learning_rate=0.25, momentum=0.5))]


@pytest.mark.parametrize("case, optimizer, settings", RUNS, ids=[f"{c}-{o}-{len(s)}" for c, o, s in RUNS])
def test_outputs_and_training_match_keras3_and_tf_keras(both64, tfk, k3, case, optimizer, settings):
    rows = _rows(case)
    x, y = X[rows], Y[rows]
    got = _model(gpunet, case)
    refs = {lib.__name__: (lib, _model(lib, case)) for lib in (tfk, k3)}
    want = got.predict(x, verbose=0)
    for name, (_, ref) in refs.items():
        np.testing.assert_allclose(np.asarray(ref.predict(x, verbose=0)), want, **TOLERANCES[name], err_msg=name)
    runs = {}
    for name, (lib, model) in [("gpunet", (gpunet, got))] + list(refs.items()):
        model.compile(optimizer=getattr(lib.optimizers, optimizer)(**settings), loss="binary_crossentropy")
        history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history
        runs[name] = (history["loss"], [np.asarray(w) for w in model.get_weights()])
    losses, weights = runs.pop("gpunet")
    # trained by NumPy's graph step, or the GPU's chain step (no mask) or graph step (a mask), each running the
    # Embedding by its own code
    assert losses[-1] < losses[0] and type(got._plan).__name__ in ("GraphPlan", "GpuPlan", "GpuGraphPlan")
    for name, (ref_losses, ref_weights) in runs.items():
        np.testing.assert_allclose(ref_losses, losses, **TOLERANCES[name], err_msg=name)
        for i, (r, g) in enumerate(zip(ref_weights, weights)):
            np.testing.assert_allclose(r, g, **TOLERANCES[name], err_msg=f"{name} weight {i}")


def _double(t):
    return t * 2.0


# A masked Embedding, then one layer, then GlobalAveragePooling1D: the mask passes (Dense, BatchNormalization,
# Dropout, Activation, GaussianNoise, SpatialDropout1D), or is dropped (Lambda, Permute, GlobalMaxPooling1D, Flatten).
MIDDLE = {
    "dense": lambda L: [L.Dense(3, activation="relu"), L.GlobalAveragePooling1D()],
    "batch_norm": lambda L: [L.BatchNormalization(), L.GlobalAveragePooling1D()],  # inference: moving statistics
    "dropout": lambda L: [L.Dropout(0.5), L.GlobalAveragePooling1D()],
    "activation": lambda L: [L.Activation("relu"), L.GlobalAveragePooling1D()],
    "noise": lambda L: [L.GaussianNoise(0.3), L.GlobalAveragePooling1D()],
    "spatial_dropout": lambda L: [L.SpatialDropout1D(0.3), L.GlobalAveragePooling1D()],
    "lambda": lambda L: [L.Lambda(_double), L.GlobalAveragePooling1D()],
    "permute": lambda L: [L.Permute((1, 2)), L.GlobalAveragePooling1D()],
    "max": lambda L: [L.GlobalMaxPooling1D()],
    "flatten": lambda L: [L.Flatten(), L.Dense(2)],
}


@pytest.mark.parametrize("case", sorted(MIDDLE))
def test_masks_pass_or_stop_at_each_layer_as_in_tf_keras(tfk, case):
    table = np.random.default_rng(4).standard_normal((VOCAB, 3)).astype("float32")
    table[0] = 50.0  # padding rows that count show
    models = []
    for lib in (gpunet, tfk):
        model = lib.models.Sequential([lib.layers.Embedding(VOCAB, 3, mask_zero=True, input_length=LEN)]
                                      + MIDDLE[case](lib.layers))
        rng = np.random.default_rng(5)
        model.set_weights([table] + [rng.uniform(0.5, 1.5, w.shape) for w in model.get_weights()[1:]])
        models.append(model)
    got, want = (np.asarray(m.predict(X[MASKED_ROWS], verbose=0)) for m in models)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert (np.abs(got).max() > 10) == (case in ("lambda", "permute", "max", "flatten"))  # padding counted


def test_an_all_padding_row_averages_to_nan_as_in_keras(tfk):
    models = [lib.models.Sequential([lib.layers.Embedding(5, 2, mask_zero=True), lib.layers.GlobalAveragePooling1D()])
              for lib in (gpunet, tfk)]
    models[0].set_weights(models[1].get_weights())
    x = np.array([[0, 0, 0], [0, 3, 4]])
    with np.errstate(invalid="ignore"):
        got = models[0].predict(x, verbose=0)
    want = models[1].predict(x, verbose=0)
    assert np.isnan(got[0]).all() and np.isnan(want[0]).all()
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_what_gpunet_does_not_implement_is_refused():
    x, y = X[MASKED_ROWS], Y[MASKED_ROWS]
    sequence_out = Sequential([Embedding(VOCAB, 3, mask_zero=True, input_length=LEN), Dense(1)])
    sequence_out.compile(optimizer="sgd", loss="mse")
    out = sequence_out.predict(x, verbose=0)
    assert out.shape == (N - 1, LEN, 1)
    # (a mask reaching the output weighs the loss, as tf.keras 2's: tests/test_masked_outputs.py)
    mask = x != 0
    first = sequence_out.fit(x, np.zeros((N - 1, LEN, 1)), batch_size=N, verbose=0).history["loss"][0]
    np.testing.assert_allclose(first, (out[..., 0] ** 2 * mask).sum() / mask.sum(), rtol=1e-5)
    normed = Sequential([Embedding(VOCAB, 3, mask_zero=True), BatchNormalization(), GlobalAveragePooling1D(),
                         Dense(1)])
    normed.compile(optimizer="sgd", loss="mse")
    before = normed.predict(x, verbose=0)  # inference uses the moving statistics: no mask involved
    normed.fit(x, y, verbose=0)  # (training's statistics: the unmasked steps', tests/test_batch_norm_masks.py)
    assert not np.allclose(normed.predict(x, verbose=0), before)
    # a nested model's mask crosses into the model around it (tests/test_masks_nested_models.py)
    embed = Embedding(VOCAB, 3, mask_zero=True)
    nested = Sequential([Sequential([embed]), GlobalAveragePooling1D()])
    flat = Sequential([Embedding(VOCAB, 3, mask_zero=True), GlobalAveragePooling1D()])
    nested.build((None, x.shape[1]))
    flat.build((None, x.shape[1]))
    flat.set_weights(nested.get_weights())
    np.testing.assert_array_equal(nested.predict(x, verbose=0), flat.predict(x, verbose=0))

    model = Sequential([Embedding(VOCAB, 3, mask_zero=True), gpunet.layers.Softmax(), GlobalAveragePooling1D()])
    with pytest.raises(NotImplementedError, match="large negative number"):
        model.predict(x, verbose=0)  # (a layer of your own whose call takes the mask gets it: test_masks_own_layers)


# ---- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("ids, message", [
    ([[1, 5]], r"Embedding layer 'embedding' expects indices in \[0, 5\) \(input_dim=5\), received 5 at input "
               r"position \(0, 1\)"),
    ([[-1, 2]], r"received -1 at input position \(0, 0\)"),
    ([[1.0, 1.5]], r"expects integer indices, received 1.5 at input position \(0, 1\) \(tf.keras would truncate"),
    ([[np.nan, 1.0]], r"received nan"),
    ([[np.inf, 1.0]], r"received inf"),
])
def test_bad_indices_are_refused(ops, ids, message):
    layer = Embedding(5, 2)
    with pytest.raises(ValueError, match=message):
        layer(ops.asarray(np.array(ids)))


def test_bad_indices_through_predict_and_fit_name_the_value():
    model = Sequential([Embedding(5, 2, input_length=2), Flatten(), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"indices in \[0, 5\).*received 7"):
        model.predict(np.array([[1, 2], [3, 7]]), verbose=0)
    with pytest.raises(ValueError, match=r"integer indices, received 2.5"):
        model.fit(np.array([[1, 2.5]]), np.zeros((1, 1)), verbose=0)


@pytest.mark.parametrize("args, message", [
    ((0, 2), r"`input_dim` must be a positive integer. Received: input_dim=0 \(of type int\)"),
    ((-3, 2), r"Received: input_dim=-3"),
    ((2.5, 2), r"Received: input_dim=2.5 \(of type float\)"),
    ((5, 0), r"`output_dim` must be a positive integer. Received: output_dim=0"),
    ((5, None), r"Received: output_dim=None"),
])
def test_embedding_arguments_are_checked_as_keras3_checks_them(args, message):
    with pytest.raises(ValueError, match=message):
        Embedding(*args)


def test_other_arguments_and_shapes_are_checked():
    assert Embedding(np.int64(7), 2).input_dim == 7  # np.max(x) + 1
    with pytest.raises(ValueError, match="data_format"):
        GlobalAveragePooling1D(data_format="nwc")
    for layer in (GlobalAveragePooling1D(), GlobalMaxPooling1D()):
        with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
            layer.build((None, 4))
    with pytest.raises(ValueError, match='"input_length" is 4, but received input has shape'):
        Sequential([Flatten(input_shape=(3,)), Embedding(5, 2, input_length=4)])
    with pytest.raises(ValueError, match="cannot receive indices up to 4999.*dtype='float64'"):
        Embedding(5000, 2, dtype="float16")  # float16 holds integers exactly up to 2048 only
    with pytest.raises(ValueError, match="needs a known last input dimension"):  # Flatten needs input_length
        Sequential([Embedding(5, 2), Flatten(), Dense(1)])
    with pytest.raises(ValueError, match="received a mask of shape"):
        GlobalAveragePooling1D().forward(B.get_backend().asarray(X3), mask=B.get_backend().asarray(MASK[:, :4]))


def test_configs_from_files_are_checked():
    entry = {"class_name": "Embedding", "config": {"name": "e", "input_dim": 0, "output_dim": 4}}
    bad = {"class_name": "Sequential", "config": {"name": "s", "layers": [entry]}}
    with pytest.raises(InvalidConfigError, match="argument input_dim must be a positive integer"):
        model_from_json(json.dumps(bad))
    entry["config"].update(input_dim=1 << 20, output_dim=1 << 20)  # 2**40 values: refused before allocating
    with pytest.raises(InvalidConfigError, match="the embeddings"):
        model_from_json(json.dumps(bad))


# ---- configs, saving and loading ---------------------------------------------------------------------
def test_configs_are_tf_keras_2_21s(tfk):
    def plain(config):  # tf.keras adds module / registered_name to nested objects, tuples for shapes
        out = {}
        for k, v in config.items():
            if isinstance(v, dict):
                v = {kk: vv for kk, vv in v.items() if kk not in ("module", "registered_name")}
            out[k] = list(v) if isinstance(v, tuple) else v
        return out

    for make in (lambda L: L.Embedding(100, 8, input_length=20, name="e"),
                 lambda L: L.Embedding(100, 8, mask_zero=True, embeddings_constraint="non_neg", name="e"),
                 lambda L: L.GlobalAveragePooling1D(name="p"),
                 lambda L: L.GlobalMaxPooling1D(data_format="channels_first", keepdims=True, name="p")):
        ours, theirs = make(gpunet.layers).get_config(), make(tfk.layers).get_config()
        assert ours == plain(theirs)
        assert type(make(gpunet.layers)).from_config(ours).get_config() == ours


def test_keras3_configs_load(k3):
    from gpunet.saving.registry import layer_from_config
    made = [k3.layers.Embedding(100, 8, mask_zero=True, embeddings_initializer="normal", name="e"),
            k3.layers.GlobalAveragePooling1D(keepdims=True, name="a"), k3.layers.GlobalMaxPooling1D(name="m")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every key is known (quantization_config: inert)
        loaded = [layer_from_config({"class_name": type(l).__name__, "config": l.get_config()}) for l in made]
    e, a, m = loaded
    assert (e.input_dim, e.output_dim, e.mask_zero, e.input_length, e.batch_input_shape) == (100, 8, True, None,
                                                                                             (None, None))
    assert e.get_config()["embeddings_initializer"]["class_name"] == "RandomNormal"
    assert (a.keepdims, a.data_format, m.keepdims, m.name) == (True, "channels_last", False, "m")


def _trained(case="average"):
    model = Sequential(CASES[case](gpunet.layers, {"input_length": LEN}))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(X[MASKED_ROWS], Y[MASKED_ROWS], epochs=2, batch_size=16, verbose=0)
    return model


@pytest.mark.parametrize("case", ["average", "flatten", "max"])
def test_gpunet_files_and_texts_round_trip_exactly(tmp_path, case):
    model = _trained(case)
    x, want = X[MASKED_ROWS], model.predict(X[MASKED_ROWS], verbose=0)
    for ext in (".h5", ".keras"):
        model.save(tmp_path / ("m" + ext))
        again = load_model(tmp_path / ("m" + ext))
        assert again.get_config() == model.get_config()
        for a, b in zip(again.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(again.predict(x, verbose=0), want)
        again.fit(x, Y[MASKED_ROWS], epochs=1, verbose=0)  # and it trains on
    for text, read in ((model.to_json(), model_from_json), (model.to_yaml(), model_from_yaml)):
        again = read(text)
        assert again.get_config() == model.get_config()
        again.set_weights(model.get_weights())
        np.testing.assert_array_equal(again.predict(x, verbose=0), want)


@pytest.mark.parametrize("case", ["average", "flatten", "max"])
def test_keras3_and_tf_keras_load_gpunets_files(tmp_path, k3, tfk, case):
    model = _trained(case)
    x, want = X[MASKED_ROWS], model.predict(X[MASKED_ROWS], verbose=0)
    loaders = [(k3, ".keras"), (k3, ".h5"), (tfk, ".h5")]
    for lib, ext in loaders:
        path = tmp_path / (lib.__name__ + ext)
        model.save(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras 3: "Argument `input_length` is deprecated"
            theirs = lib.models.load_model(str(path))
        assert [type(l).__name__ for l in theirs.layers] == [type(l).__name__ for l in model.layers]
        assert theirs.layers[0].mask_zero == model.layers[0].mask_zero
        np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), want, rtol=1e-6, atol=1e-7,
                                   err_msg=f"{lib.__name__} {ext}")


@pytest.mark.parametrize("case", ["average", "flatten", "max", "first"])
def test_gpunet_loads_keras3_and_tf_keras_files(tmp_path, k3, tfk, case):
    x = X[_rows(case)]
    for lib, exts in ((k3, (".keras", ".h5")), (tfk, (".h5", ".keras"))):
        theirs = _model(lib, case)
        theirs.compile(optimizer="adam", loss="binary_crossentropy")
        theirs.fit(x, Y[_rows(case)], epochs=1, batch_size=16, verbose=0)
        want = np.asarray(theirs.predict(x, verbose=0))
        for ext in exts:
            path = str(tmp_path / (lib.__name__ + ext))
            theirs.save(path)
            ours = load_model(path)
            assert [type(l).__name__ for l in ours.layers] == [type(l).__name__ for l in theirs.layers]
            np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-6, atol=1e-7,
                                       err_msg=f"{lib.__name__} {ext}")
            ours.fit(x, Y[_rows(case)], epochs=1, batch_size=16, verbose=0)  # and it trains on


# ---- plans, end to end, summary ------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "gpu"])
def test_the_fused_plans_take_text_models(emulator, backend):
    ops = B.resolve("numpy") if backend == "numpy" else cuda_emulator.EmulatedCupyBackend(emulator)
    with B.use_backend(ops):
        dense = Sequential([Flatten(input_shape=(LEN,)), Dense(1, activation="sigmoid")])
        dense.compile(optimizer="sgd", loss="binary_crossentropy")
        assert dense._train_plan(), "a Dense stack takes the fused plan"
        for case in ("flatten", "average", "max", "first"):
            model = Sequential(CASES[case](gpunet.layers, {"input_length": LEN}))
            model.compile(optimizer="sgd", loss="binary_crossentropy")
            # an Embedding without a mask, its Dense layers over rows: NumPy's graph step, the GPU's chain
            # step (both run the layer by its own code); with a mask, the GPU's graph step, which hands it on
            masked = any(getattr(layer, "mask_zero", False) for layer in model.layers)
            plan = "GraphPlan" if backend == "numpy" else "GpuGraphPlan" if masked else "GpuPlan"
            assert type(model._train_plan()).__name__ == plan
            history = model.fit(X[_rows(case)], Y[_rows(case)], epochs=3, batch_size=16, verbose=0).history
            assert type(model._plan).__name__ == plan and history["loss"][-1] < history["loss"][0]


def _imdb_like(n, seed):
    """Integer sequences, zero-padded in front; the label is whether "positive" words (ids 2-9)
    outnumber "negative" ones (ids 10-17) among filler words."""
    rng = np.random.default_rng(seed)
    x = rng.integers(18, 200, (n, 30))
    for row in range(n):
        x[row, rng.choice(np.arange(4, 30), 5, replace=False)] = rng.integers(2, 18, 5)
        x[row, :rng.integers(0, 5)] = 0  # padding in front
    y = (((x >= 2) & (x < 10)).sum(1) > ((x >= 10) & (x < 18)).sum(1)).astype("float32")
    return x, y


def test_imdb_style_models_learn_and_summaries_are_tf_keras(tfk):
    x, y = _imdb_like(2000, 0)
    xt, yt = _imdb_like(200, 1)
    stacks = {
        "flatten": lambda L: [L.Embedding(200, 8, input_length=30), L.Flatten(), L.Dense(1, activation="sigmoid")],
        "average": lambda L: [L.Embedding(200, 16, mask_zero=True), L.GlobalAveragePooling1D(),
                              L.Dense(16, activation="relu"), L.Dense(1, activation="sigmoid")],
    }
    for name, stack in stacks.items():
        model = Sequential()
        for layer in stack(gpunet.layers):
            model.add(layer)
        model.compile(optimizer="rmsprop" if name == "flatten" else "adam", loss="binary_crossentropy",
                      metrics=["acc"])
        history = model.fit(x, y, epochs=15, batch_size=32, validation_split=0.2, verbose=0).history
        assert history["loss"][-1] < 0.5 * history["loss"][0], name
        assert all(b < a for a, b in zip(history["loss"], history["loss"][1:])), name
        loss, acc = model.evaluate(xt, yt, verbose=0)
        assert acc > 0.85 and loss < 0.5 * history["loss"][0], (name, acc)  # chance: 0.5
        assert ((model.predict(xt, verbose=0)[:, 0] > 0.5) == yt).mean() == pytest.approx(acc)
        theirs = tfk.models.Sequential(stack(tfk.layers))
        want = [(tuple(l.output_shape), l.count_params()) for l in theirs.layers]
        assert [(l.output_shape, l.count_params()) for l in model.layers] == want
        lines = []
        model.summary(print_fn=lines.append)
        for layer, (shape, params) in zip(model.layers, want):
            row = next(line for line in lines if line.startswith(layer.name))
            assert "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")" in row
            assert row.split()[-1] == str(params)
        assert f"Total params: {theirs.count_params():,}" in lines
