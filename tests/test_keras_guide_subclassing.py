"""The tf.keras 2 guide "Making new layers and models via subclassing", with ``K.*`` in place of
its ``tf.*`` calls: state updated in ``call`` (``assign_add``), layers called on tuples of tensors,
and its subclassed variational autoencoder."""
import numpy as np
import pytest

import gpunet as keras
from gpunet import backend as K
from gpunet import layers


class ComputeSum(keras.layers.Layer):
    def __init__(self, input_dim):
        super(ComputeSum, self).__init__()
        self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

    def call(self, inputs):
        self.total.assign_add(K.sum(inputs, axis=0))
        return self.total


def test_state_updated_in_call_counts_each_real_call_once():
    """gpunet runs ``call`` once on a probe to find the output shape; what the probe added is undone."""
    x = K.ones((2, 2))
    my_sum = ComputeSum(2)
    np.testing.assert_array_equal(my_sum(x).numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(my_sum(x).numpy(), [4.0, 4.0])
    assert (len(my_sum.weights), len(my_sum.non_trainable_weights), my_sum.trainable_weights) == (1, 1, [])
    my_sum.total.assign_sub(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(my_sum.total.numpy(), [3.0, 1.0])
    with pytest.raises(ValueError, match="operands could not be broadcast"):
        my_sum.total.assign_add(np.ones(3))


class Sampling(layers.Layer):
    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = K.shape(z_mean)[0]
        dim = K.shape(z_mean)[1]
        epsilon = K.random_normal(shape=(batch, dim))
        return z_mean + K.exp(0.5 * z_log_var) * epsilon


class Encoder(layers.Layer):
    def __init__(self, latent_dim=32, intermediate_dim=64, name="encoder", **kwargs):
        super(Encoder, self).__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_mean = layers.Dense(latent_dim)
        self.dense_log_var = layers.Dense(latent_dim)
        self.sampling = Sampling()

    def call(self, inputs):
        x = self.dense_proj(inputs)
        z_mean = self.dense_mean(x)
        z_log_var = self.dense_log_var(x)
        z = self.sampling((z_mean, z_log_var))
        return z_mean, z_log_var, z


class Decoder(layers.Layer):
    def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
        super(Decoder, self).__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_output = layers.Dense(original_dim, activation="sigmoid")

    def call(self, inputs):
        x = self.dense_proj(inputs)
        return self.dense_output(x)


class VariationalAutoEncoder(keras.Model):
    def __init__(self, original_dim, intermediate_dim=64, latent_dim=32, name="autoencoder", **kwargs):
        super(VariationalAutoEncoder, self).__init__(name=name, **kwargs)
        self.original_dim = original_dim
        self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
        self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

    def call(self, inputs):
        z_mean, z_log_var, z = self.encoder(inputs)
        reconstructed = self.decoder(z)
        kl_loss = -0.5 * K.mean(z_log_var - K.square(z_mean) - K.exp(z_log_var) + 1)
        self.add_loss(kl_loss)
        return reconstructed


def test_a_layer_called_on_a_tuple_gets_the_tuple():
    """Inside another layer's call (tensors in, a tensor out) and directly on arrays (an array out)."""
    z_mean, z_log_var = np.zeros((5, 3), "float32"), np.full((5, 3), -50.0, "float32")  # sd e^-25: no noise
    out = Sampling()((z_mean + 2, z_log_var))
    np.testing.assert_allclose(out.numpy(), 2.0, atol=1e-9)
    encoder = Encoder(latent_dim=3, intermediate_dim=4)
    z_mean, z_log_var, z = encoder(np.ones((6, 8), "float32"))
    assert z_mean.shape == z_log_var.shape == z.shape == (6, 3)
    assert len(encoder.trainable_weights) == 6


def test_the_guides_subclassed_vae_trains_with_its_kl_loss():
    keras.utils.set_random_seed(0)
    x_train = np.random.default_rng(0).random((256, 64)).astype("float32")
    vae = VariationalAutoEncoder(64, 32, 8)
    vae.compile(keras.optimizers.Adam(learning_rate=1e-3), loss=keras.losses.MeanSquaredError())
    history = vae.fit(x_train, x_train, epochs=4, batch_size=64, verbose=0).history
    assert history["loss"][-1] < history["loss"][0], history
    reconstructed = vae(x_train[:16])
    assert reconstructed.numpy().shape == (16, 64) and len(vae.losses) == 1
    mse = float(np.mean((reconstructed.numpy() - x_train[:16]) ** 2))
    kl = float(vae.losses[0])
    assert kl > 0 and 0 < mse < 0.5
