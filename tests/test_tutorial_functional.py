"""Keras 2's examples/mnist_siamese.py (Keras 2.2), the functional API's showcase, run as published
but for fewer epochs and with gpunet's import lines, on a small MNIST-shaped data set in a private
Keras cache: a base network shared by two inputs, a Lambda distance with an output_shape function,
a contrastive loss and an accuracy metric of the user's own."""
import numpy as np

from gpunet.utils import set_random_seed

from test_tutorial_programs import _cached_dataset, _gpunet_imports

MNIST_SIAMESE = '''
from __future__ import absolute_import
from __future__ import print_function
import numpy as np

import random
from keras.datasets import mnist
from keras.models import Model
from keras.layers import Input, Flatten, Dense, Dropout, Lambda
from keras.optimizers import RMSprop
from keras import backend as K

num_classes = 10
epochs = 4


def euclidean_distance(vects):
    x, y = vects
    sum_square = K.sum(K.square(x - y), axis=1, keepdims=True)
    return K.sqrt(K.maximum(sum_square, K.epsilon()))


def eucl_dist_output_shape(shapes):
    shape1, shape2 = shapes
    return (shape1[0], 1)


def contrastive_loss(y_true, y_pred):
    margin = 1
    square_pred = K.square(y_pred)
    margin_square = K.square(K.maximum(margin - y_pred, 0))
    return K.mean(y_true * square_pred + (1 - y_true) * margin_square)


def create_pairs(x, digit_indices):
    pairs = []
    labels = []
    n = min([len(digit_indices[d]) for d in range(num_classes)]) - 1
    for d in range(num_classes):
        for i in range(n):
            z1, z2 = digit_indices[d][i], digit_indices[d][i + 1]
            pairs += [[x[z1], x[z2]]]
            inc = random.randrange(1, num_classes)
            dn = (d + inc) % num_classes
            z1, z2 = digit_indices[d][i], digit_indices[dn][i]
            pairs += [[x[z1], x[z2]]]
            labels += [1, 0]
    return np.array(pairs), np.array(labels)


def create_base_network(input_shape):
    input = Input(shape=input_shape)
    x = Flatten()(input)
    x = Dense(128, activation='relu')(x)
    x = Dropout(0.1)(x)
    x = Dense(128, activation='relu')(x)
    x = Dropout(0.1)(x)
    x = Dense(128, activation='relu')(x)
    return Model(input, x)


def compute_accuracy(y_true, y_pred):
    pred = y_pred.ravel() < 0.5
    return np.mean(pred == y_true)


def accuracy(y_true, y_pred):
    return K.mean(K.equal(y_true, K.cast(y_pred < 0.5, y_true.dtype)))


(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train = x_train.astype('float32')
x_test = x_test.astype('float32')
x_train /= 255
x_test /= 255
input_shape = x_train.shape[1:]

digit_indices = [np.where(y_train == i)[0] for i in range(num_classes)]
tr_pairs, tr_y = create_pairs(x_train, digit_indices)

digit_indices = [np.where(y_test == i)[0] for i in range(num_classes)]
te_pairs, te_y = create_pairs(x_test, digit_indices)

base_network = create_base_network(input_shape)

input_a = Input(shape=input_shape)
input_b = Input(shape=input_shape)

processed_a = base_network(input_a)
processed_b = base_network(input_b)

distance = Lambda(euclidean_distance,
                  output_shape=eucl_dist_output_shape)([processed_a, processed_b])

model = Model([input_a, input_b], distance)

rms = RMSprop()
model.compile(loss=contrastive_loss, optimizer=rms, metrics=[accuracy])
model.fit([tr_pairs[:, 0], tr_pairs[:, 1]], tr_y,
          batch_size=128,
          epochs=epochs,
          validation_data=([te_pairs[:, 0], te_pairs[:, 1]], te_y))

y_pred = model.predict([tr_pairs[:, 0], tr_pairs[:, 1]])
tr_acc = compute_accuracy(tr_y, y_pred)
y_pred = model.predict([te_pairs[:, 0], te_pairs[:, 1]])
te_acc = compute_accuracy(te_y, y_pred)

print('* Accuracy on training set: %0.2f%%' % (100 * tr_acc))
print('* Accuracy on test set: %0.2f%%' % (100 * te_acc))
'''


def _digits(rng, per_class):
    """MNIST-shaped uint8 images: each digit a fixed random stroke pattern, plus noise."""
    patterns = rng.random((10, 28, 28)) < 0.15
    labels = np.repeat(np.arange(10), per_class)
    rng.shuffle(labels)
    images = (patterns[labels] * 200 + rng.integers(0, 40, (labels.size, 28, 28))).astype("uint8")
    return images, labels.astype("uint8")


def cached_digits(tmp_path, monkeypatch, seed, per_class_train, per_class_test):
    """`_digits` as ``mnist.load_data()``'s data set, in a private Keras cache."""
    from gpunet.datasets import mnist
    rng = np.random.default_rng(seed)
    (x_train, y_train), (x_test, y_test) = _digits(rng, per_class_train), _digits(rng, per_class_test)
    _cached_dataset(mnist, "mnist.npz", {"x_train": x_train, "y_train": y_train, "x_test": x_test,
                                         "y_test": y_test}, tmp_path, monkeypatch)


def test_keras_mnist_siamese_example_runs_with_gpunet_imports(tmp_path, monkeypatch, capsys):
    set_random_seed(3)
    cached_digits(tmp_path, monkeypatch, 4, 40, 10)
    scope = {}
    exec(_gpunet_imports(MNIST_SIAMESE), scope)
    model = scope["model"]
    assert [type(l).__name__ for l in model.layers] == ["InputLayer", "InputLayer", "Functional", "Lambda"]
    assert scope["tr_pairs"].shape == (780, 2, 28, 28)
    history = model.history.history
    assert list(history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert history["loss"][-1] < history["loss"][0], history
    assert scope["tr_acc"] > 0.9 and scope["te_acc"] > 0.7, (scope["tr_acc"], scope["te_acc"])  # chance: 0.5
    out = capsys.readouterr().out
    assert "* Accuracy on test set:" in out and "Epoch 4/4" in out
