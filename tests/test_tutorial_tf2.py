"""TensorFlow 2's two Keras tutorials on Dense networks, with gpunet's imports: the beginner
quickstart (``model(x).numpy()``, ``loss_fn(y, p).numpy()``, a model nested for probabilities)
and the regression tutorial (``Normalization.adapt``, ``normalizer.mean.numpy()``, a
normalizer shared by two models, 1-D inputs, ``save``/``load_model``). Only their TensorFlow-only
lines (``tf.nn.softmax``, pandas and plotting) are left out; the data is synthetic."""
import numpy as np

from gpunet.utils import set_random_seed
from test_tutorial_programs import _cached_dataset, _gpunet_imports

QUICKSTART = '''
import keras
mnist = keras.datasets.mnist

(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0

model = keras.models.Sequential([
  keras.layers.Flatten(input_shape=(28, 28)),
  keras.layers.Dense(128, activation='relu'),
  keras.layers.Dropout(0.2),
  keras.layers.Dense(10)
])
predictions = model(x_train[:1]).numpy()
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
first_loss = loss_fn(y_train[:1], predictions).numpy()
model.compile(optimizer='adam',
              loss=loss_fn,
              metrics=['accuracy'])
model.fit(x_train, y_train, epochs=5)
results = model.evaluate(x_test,  y_test, verbose=2)
probability_model = keras.Sequential([
  model,
  keras.layers.Softmax()
])
probabilities = probability_model(x_test[:5])
'''


def _cached_digits(tmp_path, monkeypatch, per_class_train=30, per_class_test=10):
    """MNIST-shaped uint8 digits as ``mnist.load_data()`` gives them: each class a fixed random
    stroke pattern (the same in both splits) plus noise, in a private Keras cache."""
    from gpunet.datasets import mnist
    rng = np.random.default_rng(3)
    patterns = rng.random((10, 28, 28)) < 0.15
    arrays = {}
    for split, per_class in (("train", per_class_train), ("test", per_class_test)):
        labels = rng.permutation(np.repeat(np.arange(10), per_class))
        arrays["x_" + split] = (patterns[labels] * 200 + rng.integers(0, 40, (labels.size, 28, 28))).astype("uint8")
        arrays["y_" + split] = labels.astype("uint8")
    _cached_dataset(mnist, "mnist.npz", arrays, tmp_path, monkeypatch)


def test_tensorflow_quickstart_runs_with_gpunet_imports(tmp_path, monkeypatch, capsys):
    set_random_seed(1)
    _cached_digits(tmp_path, monkeypatch)
    scope = {}
    exec(_gpunet_imports(QUICKSTART), scope)
    predictions, first_loss = scope["predictions"], scope["first_loss"]
    assert type(predictions) is np.ndarray and predictions.shape == (1, 10)
    # an untrained model's loss is near log(10), and equals the softmax cross-entropy of its logits
    shifted = predictions[0] - predictions[0].max()
    want = -(shifted[scope["y_train"][0]] - np.log(np.exp(shifted).sum()))
    np.testing.assert_allclose(first_loss, want, rtol=1e-5)
    assert 1.0 < first_loss < 4.0
    history = scope["model"].history.history
    assert history["loss"][-1] < history["loss"][0] and history["accuracy"][-1] > 0.8, history
    loss, accuracy = scope["results"]
    assert accuracy > 0.8  # chance: 0.1
    probabilities = scope["probabilities"]
    np.testing.assert_allclose(probabilities.numpy().sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(probabilities.numpy().argmax(1), scope["model"](scope["x_test"][:5]).numpy().argmax(1))
    out = capsys.readouterr().out
    assert "Epoch 5/5" in out and "10/10 [" in out and " - accuracy: " in out


REGRESSION = '''
import numpy as np
import keras
from keras import layers

normalizer = layers.Normalization(axis=-1)
normalizer.adapt(np.array(train_features))
mean = normalizer.mean.numpy()
first = np.array(train_features[:1])
normalized_first = normalizer(first).numpy()

horsepower = np.array(train_features[:, 2])
horsepower_normalizer = layers.Normalization(input_shape=[1,], axis=None)
horsepower_normalizer.adapt(horsepower)
horsepower_model = keras.Sequential([
    horsepower_normalizer,
    layers.Dense(units=1)
])
horsepower_model.summary()
horsepower_model.predict(horsepower[:10])
horsepower_model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=0.1),
    loss='mean_absolute_error')
history = horsepower_model.fit(
    train_features[:, 2],
    train_labels,
    epochs=EPOCHS,
    verbose=0,
    validation_split = 0.2)
test_results = {}
test_results['horsepower_model'] = horsepower_model.evaluate(
    test_features[:, 2],
    test_labels, verbose=0)
x = np.linspace(0.0, 250, 251)
y = horsepower_model.predict(x)

linear_model = keras.Sequential([
    normalizer,
    layers.Dense(units=1)
])
linear_model.predict(train_features[:10])
kernel = linear_model.layers[1].kernel
linear_model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=0.1),
    loss='mean_absolute_error')
history = linear_model.fit(
    train_features,
    train_labels,
    epochs=EPOCHS,
    verbose=0,
    validation_split = 0.2)
test_results['linear_model'] = linear_model.evaluate(
    test_features, test_labels, verbose=0)

def build_and_compile_model(norm):
  model = keras.Sequential([
      norm,
      layers.Dense(64, activation='relu'),
      layers.Dense(64, activation='relu'),
      layers.Dense(1)
  ])

  model.compile(loss='mean_absolute_error',
                optimizer=keras.optimizers.Adam(0.001))
  return model

dnn_model = build_and_compile_model(normalizer)
dnn_model.summary()
history = dnn_model.fit(
    train_features,
    train_labels,
    validation_split=0.2,
    verbose=0, epochs=EPOCHS)
test_results['dnn_model'] = dnn_model.evaluate(test_features, test_labels, verbose=0)
test_predictions = dnn_model.predict(test_features).flatten()
dnn_model.save('dnn_model.keras')
reloaded = keras.models.load_model('dnn_model.keras')
test_results['reloaded'] = reloaded.evaluate(test_features, test_labels, verbose=0)
'''


def _auto_mpg_like(rng, n=392):
    """Nine features like the auto-mpg table's (cylinders, displacement, horsepower, weight,
    acceleration, model year, one-hot origin) and an mpg-like label, train/test split 314/78."""
    cyl = rng.choice([4.0, 6.0, 8.0], n)
    disp = cyl * 40 + rng.normal(0, 20, n)
    hp = disp * 0.5 + rng.normal(0, 10, n)
    weight = 1500 + hp * 15 + rng.normal(0, 200, n)
    year = rng.integers(70, 83, n).astype(float)
    features = np.column_stack([cyl, disp, hp, weight, 20 - hp / 20 + rng.normal(0, 1, n), year,
                                np.eye(3)[rng.integers(0, 3, n)]])
    labels = 45 - hp * 0.1 - weight * 0.004 + (year - 70) * 0.7 + rng.normal(0, 2, n)
    order = rng.permutation(n)
    return features[order[:314]], features[order[314:]], labels[order[:314]], labels[order[314:]]


def test_tensorflow_regression_tutorial_runs_with_gpunet_imports(tmp_path, monkeypatch, capsys):
    from gpunet.backend.dense_plan import DensePlan
    set_random_seed(0)
    monkeypatch.chdir(tmp_path)
    train_features, test_features, train_labels, test_labels = _auto_mpg_like(np.random.default_rng(0))
    scope = {"train_features": train_features, "test_features": test_features, "train_labels": train_labels,
             "test_labels": test_labels, "EPOCHS": 40}
    from gpunet import backend as B
    with B.use_backend("numpy"):  # (it checks NumPy's plan by name; "auto" picks CuPy on a GPU machine)
        exec(_gpunet_imports(REGRESSION), scope)
    np.testing.assert_allclose(scope["mean"], train_features.mean(0, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(scope["normalized_first"], (train_features[:1] - train_features.mean(0))
                               / train_features.std(0), rtol=1e-4, atol=1e-5)
    assert scope["y"].shape == (251, 1)  # predict on a 1-D array: one sample per value
    results = scope["test_results"]
    # the label's noise has sd 2 (mean absolute error ~1.6); guessing the mean gives ~4.5
    assert results["linear_model"] < 2.5 and results["dnn_model"] < 3.0 and results["horsepower_model"] < 4.0, results
    assert results["reloaded"] == results["dnn_model"]
    assert isinstance(scope["dnn_model"]._plan, DensePlan)  # the normalizer runs inside the fused step
    out = capsys.readouterr().out
    assert "normalization (Normalization (None, 9)                 19" in out and "dense_3 (Dense)" in out


def test_call_results_have_numpy_on_every_backend(ops):
    """``layer(x)``, ``model(x)``, a merge layer's and a loss's results carry ``.numpy()``: host NumPy
    arrays equal to the backend's values, also on CuPy (where the values stay on the device)."""
    import gpunet
    from gpunet import backend as B
    x = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")
    with B.use_backend(ops):
        model = gpunet.Sequential([gpunet.layers.Dense(2, input_shape=(3,))])
        out = model(ops.asarray(x))
        for result, want in ((out, model.predict(x, verbose=0)),
                             (model.layers[0](ops.asarray(x)), model.predict(x, verbose=0)),
                             (gpunet.layers.Add()([out, out]), 2 * model.predict(x, verbose=0)),
                             (gpunet.losses.MeanSquaredError()(ops.asarray(np.zeros((4, 2), "float32")), out),
                              np.mean(model.predict(x, verbose=0) ** 2))):
            host = result.numpy()
            # (a scalar, as a loss, comes back as TensorFlow's scalars do: a NumPy scalar, np.float32)
            assert type(host) is (np.ndarray if np.ndim(want) else np.float32)
            np.testing.assert_allclose(host, want, rtol=1e-6)
            assert isinstance(result, ops.xp.ndarray)  # still the backend's array for everything else
