"""fit, evaluate, predict and ``adapt`` on a TensorFlow ``tf.data.Dataset`` (a tf.keras program's input pipeline,
kept when ``keras`` becomes ``gpunet``) and a PyTorch ``DataLoader`` (as Keras 3 takes it): against tf.keras 2.21
on the same pipeline, and against gpunet on the same batches as arrays."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B

RNG = np.random.default_rng(23)
X = RNG.normal(size=(64, 5)).astype("float32")
Y = (X[:, :2].sum(axis=1, keepdims=True) > 0).astype("float32")
W = RNG.uniform(0.5, 2.0, size=64).astype("float32")


@pytest.fixture
def tf(tfk):
    import tensorflow
    return tensorflow


def _model(lib):
    model = lib.Sequential([lib.layers.Dense(6, activation="tanh", input_shape=(5,)),
                            lib.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=lib.optimizers.SGD(0.1, momentum=0.9), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def _pair(tfk):
    model, ref = _model(gpunet), _model(tfk)
    model.set_weights(ref.get_weights())
    return model, ref


def _close(got, want):
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_shuffled_tf_data_pipeline_trains_as_tf_keras_on_it(tf, tfk):
    """Each epoch a new pass in the order tf.data gives (its seeded reshuffle), validation on another dataset:
    History and weights as tf.keras 2.21's on an equal pipeline."""
    def pipeline():
        return tf.data.Dataset.from_tensor_slices((X, Y)).shuffle(64, seed=5).batch(16)
    val = lambda: tf.data.Dataset.from_tensor_slices((X[:24], Y[:24])).batch(10)  # noqa: E731
    model, ref = _pair(tfk)
    h = model.fit(pipeline(), epochs=3, validation_data=val(), verbose=0)
    r = ref.fit(pipeline(), epochs=3, validation_data=val(), verbose=0)
    assert sorted(h.history) == sorted(r.history)
    for key in r.history:
        np.testing.assert_allclose(h.history[key], r.history[key], rtol=1e-4, atol=1e-5, err_msg=key)
    _close(model.get_weights(), ref.get_weights())
    np.testing.assert_allclose(model.evaluate(val(), verbose=0), ref.evaluate(val(), verbose=0), rtol=1e-5)
    x_only = tf.data.Dataset.from_tensor_slices(X).batch(7)
    np.testing.assert_allclose(model.predict(x_only, verbose=0), ref.predict(x_only, verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_tf_data_batches_with_sample_weights_equal_the_same_arrays(tf, tfk):
    ds = tf.data.Dataset.from_tensor_slices((X, Y, W)).batch(16)
    model, twin = _pair(tfk)[0], _model(gpunet)
    twin.set_weights(model.get_weights())
    h = model.fit(ds, epochs=2, verbose=0)
    t = twin.fit(X, Y, sample_weight=W, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for key in t.history:
        np.testing.assert_allclose(h.history[key], t.history[key], rtol=1e-6, err_msg=key)
    _close(model.get_weights(), twin.get_weights())
    np.testing.assert_allclose(model.evaluate(ds, verbose=0), twin.evaluate(X, Y, sample_weight=W, verbose=0),
                               rtol=1e-6)
    # (predict reads the x of an (x, y, w) batch)
    np.testing.assert_allclose(model.predict(ds, verbose=0), twin.predict(X, verbose=0), rtol=1e-6)


def test_a_repeating_tf_dataset_needs_steps_and_then_runs_on_across_epochs(tf, tfk):
    ds = tf.data.Dataset.from_tensor_slices((X, Y)).batch(16).repeat()
    model = _model(gpunet)
    with pytest.raises(ValueError, match="infinitely repeating dataset, please specify a `steps_per_epoch`"):
        model.fit(ds, epochs=1, verbose=0)
    seen = []
    cb = gpunet.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    model.fit(ds, epochs=2, steps_per_epoch=3, callbacks=[cb], verbose=0)
    assert seen == [0, 1, 2, 0, 1, 2]
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        model.fit(tf.data.Dataset.from_tensor_slices((X, Y)).batch(8), validation_split=0.2, verbose=0)


def _tf_data_of_named_inputs(tf):
    return tf.data.Dataset.from_tensor_slices(({"a": X[:, :3], "b": X[:, 3:]}, Y)).batch(16)


def _gpunet_dataset_of_named_inputs(tf):
    from gpunet.utils.dataset import from_elements  # (gpunet's own, as image_dataset_from_directory gives)
    return from_elements(lambda i: ({"a": X[i, :3], "b": X[i, 3:]}, Y[i]), range(64)).batch(16)


@pytest.mark.parametrize("make", [_tf_data_of_named_inputs, _gpunet_dataset_of_named_inputs], ids=["tf.data", "gpunet"])
def test_a_dataset_of_named_inputs_in_a_dict_trains_as_the_arrays(make, request):
    """(A model of several inputs read gpunet's own datasets by index, and failed, before datasets were packed a
    batch at a time.)"""
    tf = request.getfixturevalue("tf") if make is _tf_data_of_named_inputs else None

    def build():
        a, b = gpunet.Input((3,), name="a"), gpunet.Input((2,), name="b")
        h = gpunet.layers.Concatenate()([gpunet.layers.Dense(4, activation="relu")(a), b])
        model = gpunet.Model([a, b], gpunet.layers.Dense(1)(h))
        model.compile("adam", "mse")
        return model
    model, twin = build(), build()
    twin.set_weights(model.get_weights())
    h = model.fit(make(tf), epochs=2, verbose=0)
    t = twin.fit({"a": X[:, :3], "b": X[:, 3:]}, Y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], t.history["loss"], rtol=1e-6)
    _close(model.get_weights(), twin.get_weights())


def test_a_torch_dataloader_trains_evaluates_and_predicts_as_its_arrays():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset
    loader = DataLoader(TensorDataset(torch.tensor(X), torch.tensor(Y)), batch_size=16)  # (batches as [x, y] lists)
    model, twin = _model(gpunet), _model(gpunet)
    twin.set_weights(model.get_weights())
    h = model.fit(loader, epochs=2, validation_data=loader, verbose=0)
    t = twin.fit(X, Y, batch_size=16, epochs=2, shuffle=False, validation_data=(X, Y), verbose=0)
    for key in t.history:
        np.testing.assert_allclose(h.history[key], t.history[key], rtol=1e-6, err_msg=key)
    _close(model.get_weights(), twin.get_weights())
    np.testing.assert_allclose(model.evaluate(loader, verbose=0), twin.evaluate(X, Y, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(model.predict(loader, verbose=0), twin.predict(X, verbose=0), rtol=1e-6)
    assert model.predict(loader, verbose=0).shape == (64, 1)


def test_normalization_adapts_on_a_tf_dataset_as_on_its_array(tf):
    layer, twin = gpunet.layers.Normalization(), gpunet.layers.Normalization()
    layer.adapt(tf.data.Dataset.from_tensor_slices(X).batch(10))
    twin.adapt(X)
    host = B.get_backend().to_host
    np.testing.assert_allclose(host(layer.mean), host(twin.mean), rtol=1e-6)
    np.testing.assert_allclose(host(layer.variance), host(twin.variance), rtol=1e-6)


def test_text_vectorization_adapts_on_a_tf_dataset_of_strings_as_tf_keras(tf, tfk):
    texts = ["the cat sat", "the dog", "a cat and a dog", "the end", "a dog sat"]
    vocabularies = []
    for lib in (gpunet, tfk):
        layer = lib.layers.TextVectorization(max_tokens=8)
        layer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(2))
        vocabularies.append([str(token) for token in layer.get_vocabulary()])
    assert vocabularies[0] == vocabularies[1]
    assert vocabularies[0] == ["", "[UNK]", "the", "dog", "a", "sat", "cat", "end"]  # (ties: high to low)
