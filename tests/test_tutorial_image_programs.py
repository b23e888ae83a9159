"""Keras 2's image example ``mnist_cnn.py`` run with gpunet's imports (gpunet only): its data reshaped by
``K.image_data_format()``, Conv2D/MaxPooling2D/Dropout/Flatten/Dense, Adadelta, fit with validation data and
evaluate, as a user of the example would see them (epochs lowered, a small MNIST-shaped file in the cache)."""
import numpy as np

from gpunet.utils import set_random_seed
from test_tutorial_programs import _cached_dataset, _gpunet_imports

MNIST_CNN = '''
from __future__ import print_function
import keras
from keras.datasets import mnist
from keras.models import Sequential
from keras.layers import Dense, Dropout, Flatten
from keras.layers import Conv2D, MaxPooling2D
from keras import backend as K

batch_size = 128
num_classes = 10
epochs = 12

# input image dimensions
img_rows, img_cols = 28, 28

# the data, split between train and test sets
(x_train, y_train), (x_test, y_test) = mnist.load_data()

if K.image_data_format() == 'channels_first':
    x_train = x_train.reshape(x_train.shape[0], 1, img_rows, img_cols)
    x_test = x_test.reshape(x_test.shape[0], 1, img_rows, img_cols)
    input_shape = (1, img_rows, img_cols)
else:
    x_train = x_train.reshape(x_train.shape[0], img_rows, img_cols, 1)
    x_test = x_test.reshape(x_test.shape[0], img_rows, img_cols, 1)
    input_shape = (img_rows, img_cols, 1)

x_train = x_train.astype('float32')
x_test = x_test.astype('float32')
x_train /= 255
x_test /= 255
print('x_train shape:', x_train.shape)
print(x_train.shape[0], 'train samples')
print(x_test.shape[0], 'test samples')

# convert class vectors to binary class matrices
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = Sequential()
model.add(Conv2D(32, kernel_size=(3, 3),
                 activation='relu',
                 input_shape=input_shape))
model.add(Conv2D(64, (3, 3), activation='relu'))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Dropout(0.25))
model.add(Flatten())
model.add(Dense(128, activation='relu'))
model.add(Dropout(0.5))
model.add(Dense(num_classes, activation='softmax'))

model.compile(loss=keras.losses.categorical_crossentropy,
              optimizer=keras.optimizers.Adadelta(),
              metrics=['accuracy'])

history = model.fit(x_train, y_train,
          batch_size=batch_size,
          epochs=epochs,
          verbose=1,
          validation_data=(x_test, y_test))
score = model.evaluate(x_test, y_test, verbose=0)
print('Test loss:', score[0])
print('Test accuracy:', score[1])
'''


def _digit_like(rng, n):
    """28 x 28 uint8 images whose class is where a bright 6 x 6 square sits (and some noise)."""
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 40, (n, 28, 28)).astype("uint8")
    for i, c in enumerate(labels):
        row, col = 2 + 10 * (c // 4), 2 + 6 * (c % 4)
        images[i, row:row + 6, col:col + 6] = 230
    return images, labels.astype("uint8")


def test_keras_mnist_cnn_example_runs_with_gpunet_imports(tmp_path, monkeypatch, capsys):
    from gpunet.datasets import mnist
    set_random_seed(3)
    rng = np.random.default_rng(2)
    (x, y), (xt, yt) = _digit_like(rng, 256), _digit_like(rng, 64)
    _cached_dataset(mnist, "mnist.npz", {"x_train": x, "y_train": y, "x_test": xt, "y_test": yt}, tmp_path,
                    monkeypatch)
    scope = {}
    exec(_gpunet_imports(MNIST_CNN.replace("epochs = 12", "epochs = 2")), scope)
    model, history = scope["model"], scope["history"].history
    assert model.count_params() == 1_199_882  # as tf.keras counts the example's model
    assert history["loss"][-1] < history["loss"][0] and len(history["val_accuracy"]) == 2, history
    out = capsys.readouterr().out
    assert "x_train shape: (256, 28, 28, 1)" in out and "Test accuracy:" in out and "val_loss" in out
