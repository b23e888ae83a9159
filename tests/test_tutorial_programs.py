"""Whole Keras 2 tutorial programs run with gpunet's imports (gpunet only, no tf.keras): the
outcomes a user of the tutorial would see."""
import numpy as np
import pytest

import gpunet.backend as K
from gpunet.layers import Dense, Dropout, InputLayer, Lambda
from gpunet.models import Sequential, clone_model
from gpunet.utils import set_random_seed


def _pima_like(n=200):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (n, 8)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.1 * rng.standard_normal(n) > 0.8).astype("float32")
    return x, y


def focal(y_true, y_pred):
    y_pred = K.clip(y_pred, K.epsilon(), 1 - K.epsilon())
    pt = K.switch(K.equal(y_true, 1), y_pred, 1 - y_pred)
    return -K.mean(K.pow(1. - pt, 2) * K.log(pt), axis=-1)


def antirectifier(x):
    x -= K.mean(x, axis=1, keepdims=True)
    x = K.l2_normalize(x, axis=1)
    return K.concatenate([K.relu(x), K.relu(-x)], axis=1)


def test_focal_loss_and_antirectifier_lambda_train_downhill():
    # Both use a value along two paths of different lengths; the tape used to drop one path's
    # gradient, and the focal-loss tutorial's loss then rose epoch after epoch.
    set_random_seed(7)
    x, y = _pima_like()
    model = Sequential([Dense(12, input_dim=8, activation="relu"), Lambda(antirectifier),
                        Dense(1, activation="sigmoid")])
    model.compile(loss=focal, optimizer="adam", metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=10, verbose=0)
    losses = history.history["loss"]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert history.history["accuracy"][-1] > 0.7


def test_clone_model_as_keras_2():
    set_random_seed(7)
    x, y = _pima_like(40)
    model = Sequential([InputLayer(input_shape=(8,)), Dense(12, activation="relu"), Dropout(0.2),
                        Dense(1, activation="sigmoid")], name="base")
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    clone = clone_model(model)
    # same architecture and names, new weights, not compiled (Keras's clone_model)
    assert clone.name == "base" and [l.name for l in clone.layers] == ["dense", "dropout", "dense_1"]
    assert clone.input_shape == (None, 8) and clone.optimizer is None
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])
    clone.set_weights(model.get_weights())
    clone.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    assert clone.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    relu6 = clone_model(model, clone_function=lambda layer: layer.__class__.from_config(
        {**layer.get_config(), "activation": "relu6"} if isinstance(layer, Dense) else layer.get_config()))
    assert [l.get_config().get("activation") for l in relu6.layers] == ["relu6", None, "relu6"]
    with pytest.raises(ValueError, match="input_tensors"):
        clone_model(model, input_tensors=[x])


# Keras 2's examples/reuters_mlp.py and the IMDB Embedding example ("Deep Learning with Python",
# 6.1), as published but for fewer epochs; only their import lines are changed (`_gpunet_imports`).
REUTERS_MLP = '''
import numpy as np
import keras
from keras.datasets import reuters
from keras.models import Sequential
from keras.layers import Dense, Dropout, Activation
from keras.preprocessing.text import Tokenizer

max_words = 1000
batch_size = 32
epochs = 3

(x_train, y_train), (x_test, y_test) = reuters.load_data(num_words=max_words, test_split=0.2)
num_classes = np.max(y_train) + 1
tokenizer = Tokenizer(num_words=max_words)
x_train = tokenizer.sequences_to_matrix(x_train, mode='binary')
x_test = tokenizer.sequences_to_matrix(x_test, mode='binary')
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = Sequential()
model.add(Dense(512, input_shape=(max_words,)))
model.add(Activation('relu'))
model.add(Dropout(0.5))
model.add(Dense(num_classes))
model.add(Activation('softmax'))
model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=1, validation_split=0.1)
score = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=1)
print('Test score:', score[0])
print('Test accuracy:', score[1])
'''

IMDB_EMBEDDING = '''
from keras.datasets import imdb
from keras import preprocessing
from keras.models import Sequential
from keras.layers import Flatten, Dense, Embedding

max_features = 10000
maxlen = 20
(x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=max_features)
x_train = preprocessing.sequence.pad_sequences(x_train, maxlen=maxlen)
x_test = preprocessing.sequence.pad_sequences(x_test, maxlen=maxlen)

model = Sequential()
model.add(Embedding(10000, 8, input_length=maxlen))
model.add(Flatten())
model.add(Dense(1, activation='sigmoid'))
model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['acc'])
model.summary()
history = model.fit(x_train, y_train, epochs=4, batch_size=32, validation_split=0.2)
'''


def _gpunet_imports(program):
    return program.replace("import keras\n", "import gpunet as keras\n").replace("from keras", "from gpunet")


def _cached_dataset(module, fname, arrays, tmp_path, monkeypatch):
    """A dataset file in a private Keras cache, the loader told its hash (nothing is downloaded)."""
    from gpunet.utils import data_utils
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    path = tmp_path / "keras_home" / "datasets" / fname
    path.parent.mkdir(parents=True)
    np.savez(path, **arrays)
    monkeypatch.setattr(module, "_FILE_HASH", data_utils._hash_file(path))


def _topic_sequences(rng, n, classes, vocab, words=30):
    """Newswire-like word-index sequences whose label shows in a few label-specific words."""
    labels = rng.integers(0, classes, n)
    seqs = np.empty(n, dtype=object)
    for i, c in enumerate(labels):
        common = rng.integers(1, vocab, rng.integers(words // 2, words)).tolist()
        seqs[i] = common + [int(vocab + c * 3 + k) for k in range(3)] * 2
    return seqs, labels


def test_keras_reuters_mlp_example_runs_with_gpunet_imports(tmp_path, monkeypatch, capsys):
    from gpunet.datasets import reuters
    set_random_seed(1)
    x, y = _topic_sequences(np.random.default_rng(0), 600, 6, 200)
    _cached_dataset(reuters, "reuters.npz", {"x": x, "y": y}, tmp_path, monkeypatch)
    scope = {}
    exec(_gpunet_imports(REUTERS_MLP), scope)
    assert scope["x_train"].shape == (480, 1000) and scope["y_train"].shape == (480, 6)
    losses = scope["history"].history["loss"]
    assert losses[-1] < losses[0] and scope["score"][1] > 0.8, (losses, scope["score"])
    out = capsys.readouterr().out
    assert "Test accuracy:" in out and "val_accuracy" in out


def test_imdb_embedding_example_runs_with_gpunet_imports(tmp_path, monkeypatch, capsys):
    from gpunet.datasets import imdb
    set_random_seed(2)
    rng = np.random.default_rng(1)
    x, y = _topic_sequences(rng, 800, 2, 300, words=12)
    _cached_dataset(imdb, "imdb.npz", {"x_train": x[:400], "y_train": y[:400], "x_test": x[400:],
                                       "y_test": y[400:]}, tmp_path, monkeypatch)
    scope = {}
    exec(_gpunet_imports(IMDB_EMBEDDING), scope)
    assert scope["x_train"].shape == (400, 20)
    history = scope["history"].history
    assert history["loss"][-1] < history["loss"][0] and history["val_acc"][-1] > 0.8, history
    assert "Total params: 80,161" in capsys.readouterr().out  # 10000 x 8 + 160 + 1, as tf.keras counts them
