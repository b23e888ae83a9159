"""Keras 2's examples/variational_autoencoder.py (Keras 2.2.4), run with gpunet's import lines on a
small MNIST-shaped data set in a private Keras cache, for 2 epochs instead of 50 and without its
matplotlib plots (``plot_results``; matplotlib is not among gpunet's dependencies). Everything else is
as published: an encoder with three outputs and a sampling Lambda, a decoder, the two nested in
``vae``, the loss built from the encoder's own tensors with ``K.*`` and ``losses.binary_crossentropy``
and given to ``vae.add_loss``, ``compile(optimizer='adam')`` without a loss, ``fit(x_train, ...,
validation_data=(x_test, None))``, ``plot_model`` (which says how to install pydot), ``save_weights``."""
import numpy as np

from gpunet.utils import set_random_seed

from test_tutorial_functional import cached_digits
from test_tutorial_programs import _gpunet_imports

VAE_MLP = '''
from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

from keras.layers import Lambda, Input, Dense
from keras.models import Model
from keras.datasets import mnist
from keras.losses import mse, binary_crossentropy
from keras.utils import plot_model
from keras import backend as K

import numpy as np
import argparse
import os


# reparameterization trick
# instead of sampling from Q(z|X), sample epsilon = N(0,I)
# z = z_mean + sqrt(var) * epsilon
def sampling(args):
    """Reparameterization trick by sampling from an isotropic unit Gaussian.

    # Arguments
        args (tensor): mean and log of variance of Q(z|X)

    # Returns
        z (tensor): sampled latent vector
    """

    z_mean, z_log_var = args
    batch = K.shape(z_mean)[0]
    dim = K.int_shape(z_mean)[1]
    # by default, random_normal has mean = 0 and std = 1.0
    epsilon = K.random_normal(shape=(batch, dim))
    return z_mean + K.exp(0.5 * z_log_var) * epsilon


# MNIST dataset
(x_train, y_train), (x_test, y_test) = mnist.load_data()

image_size = x_train.shape[1]
original_dim = image_size * image_size
x_train = np.reshape(x_train, [-1, original_dim])
x_test = np.reshape(x_test, [-1, original_dim])
x_train = x_train.astype('float32') / 255
x_test = x_test.astype('float32') / 255

# network parameters
input_shape = (original_dim, )
intermediate_dim = 512
batch_size = 128
latent_dim = 2
epochs = 2

# VAE model = encoder + decoder
# build encoder model
inputs = Input(shape=input_shape, name='encoder_input')
x = Dense(intermediate_dim, activation='relu')(inputs)
z_mean = Dense(latent_dim, name='z_mean')(x)
z_log_var = Dense(latent_dim, name='z_log_var')(x)

# use reparameterization trick to push the sampling out as input
# note that "output_shape" isn't necessary with the TensorFlow backend
z = Lambda(sampling, output_shape=(latent_dim,), name='z')([z_mean, z_log_var])

# instantiate encoder model
encoder = Model(inputs, [z_mean, z_log_var, z], name='encoder')
encoder.summary()
plot_model(encoder, to_file='vae_mlp_encoder.png', show_shapes=True)

# build decoder model
latent_inputs = Input(shape=(latent_dim,), name='z_sampling')
x = Dense(intermediate_dim, activation='relu')(latent_inputs)
outputs = Dense(original_dim, activation='sigmoid')(x)

# instantiate decoder model
decoder = Model(latent_inputs, outputs, name='decoder')
decoder.summary()
plot_model(decoder, to_file='vae_mlp_decoder.png', show_shapes=True)

# instantiate VAE model
outputs = decoder(encoder(inputs)[2])
vae = Model(inputs, outputs, name='vae_mlp')

if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    help_ = "Load h5 model trained weights"
    parser.add_argument("-w", "--weights", help=help_)
    help_ = "Use mse loss instead of binary cross entropy (default)"
    parser.add_argument("-m",
                        "--mse",
                        help=help_, action='store_true')
    args = parser.parse_args()
    models = (encoder, decoder)
    data = (x_test, y_test)

    # VAE loss = mse_loss or xent_loss + kl_loss
    if args.mse:
        reconstruction_loss = mse(inputs, outputs)
    else:
        reconstruction_loss = binary_crossentropy(inputs,
                                                  outputs)

    reconstruction_loss *= original_dim
    kl_loss = 1 + z_log_var - K.square(z_mean) - K.exp(z_log_var)
    kl_loss = K.sum(kl_loss, axis=-1)
    kl_loss *= -0.5
    vae_loss = K.mean(reconstruction_loss + kl_loss)
    vae.add_loss(vae_loss)
    vae.compile(optimizer='adam')
    vae.summary()
    plot_model(vae,
               to_file='vae_mlp.png',
               show_shapes=True)

    if args.weights:
        vae.load_weights(args.weights)
    else:
        # train the autoencoder
        vae.fit(x_train,
                epochs=epochs,
                batch_size=batch_size,
                validation_data=(x_test, None))
        vae.save_weights('vae_mlp_mnist.h5')
'''


def _run(tmp_path, monkeypatch, argv):
    monkeypatch.setattr("sys.argv", ["variational_autoencoder.py"] + argv)
    scope = {"__name__": "__main__"}
    exec(compile(_gpunet_imports(VAE_MLP), "variational_autoencoder.py", "exec"), scope)
    return scope


def test_keras_vae_example_runs_with_gpunet_imports(tmp_path, monkeypatch, capsys):
    set_random_seed(2)
    cached_digits(tmp_path, monkeypatch, 6, 30, 8)
    monkeypatch.chdir(tmp_path)
    scope = _run(tmp_path, monkeypatch, [])
    out = capsys.readouterr().out
    vae, encoder, decoder = scope["vae"], scope["encoder"], scope["decoder"]
    history = vae.history.history
    assert sorted(history) == ["loss", "val_loss"] and len(history["loss"]) == 2
    assert history["loss"][1] < history["loss"][0]  # it trains
    assert 'Model: "vae_mlp"' in out and "You must install pydot" in out
    assert (tmp_path / "vae_mlp_mnist.h5").exists()
    # the encoder's z_mean separates the digits a little already; the decoder maps back to pixels
    z_mean = encoder.predict(scope["x_test"], verbose=0)[0]
    assert z_mean.shape == (80, 2) and np.isfinite(z_mean).all()
    images = decoder.predict(z_mean, verbose=0)
    assert images.shape == (80, 784) and ((images > 0) & (images < 1)).all()

    # run again with -w: the saved weights load into the new models, which then predict the same
    again = _run(tmp_path, monkeypatch, ["-w", "vae_mlp_mnist.h5"])
    np.testing.assert_array_equal(again["encoder"].predict(scope["x_test"], verbose=0)[0], z_mean)
