"""Keras 3's ``keras.random`` and ``keras.config`` as gpunet.random and gpunet.config: seeds as Keras 3 takes
them (None, an int: the same draw at every call, a SeedGenerator: advancing), the distributions, dtypes and
gradients, and the Keras 3 guide's variational autoencoder ("Making new layers and models via subclassing")
running with gpunet's imports."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers, ops
from gpunet import random as R


def host(t):
    return np.asarray(B.get_backend().to_host(t.data))


def test_seeds_as_keras3_takes_them():
    a, b = R.SeedGenerator(1337), R.SeedGenerator(1337)
    first, second = host(R.normal((3, 4), seed=a)), host(R.normal((3, 4), seed=a))
    assert not np.array_equal(first, second), "a SeedGenerator advances at every draw"
    np.testing.assert_array_equal(host(R.normal((3, 4), seed=b)), first)  # (the same sequence from the same seed)
    np.testing.assert_array_equal(host(R.uniform((5,), seed=7)), host(R.uniform((5,), seed=7)))  # (an int: fixed)
    gpunet.utils.set_random_seed(3)
    unseeded = [host(R.normal((4,))), host(R.randint((4,), 0, 9)), host(R.SeedGenerator() and R.uniform((2,)))]
    gpunet.utils.set_random_seed(3)
    again = [host(R.normal((4,))), host(R.randint((4,), 0, 9)), host(R.SeedGenerator() and R.uniform((2,)))]
    for x, y in zip(unseeded, again):
        np.testing.assert_array_equal(x, y)
    assert R.SeedGenerator(5).get_config() == {"seed": 5}


def test_distributions_and_dtypes():
    seed = R.SeedGenerator(11)
    normal = host(R.normal((40000,), mean=2.0, stddev=0.5, seed=seed))
    assert normal.dtype == np.float32 and abs(normal.mean() - 2.0) < 0.01 and abs(normal.std() - 0.5) < 0.01
    uniform = host(R.uniform((40000,), -1.0, 3.0, dtype="float64", seed=seed))
    assert uniform.dtype == np.float64 and uniform.min() >= -1.0 and uniform.max() < 3.0
    assert abs(uniform.mean() - 1.0) < 0.03
    truncated = host(R.truncated_normal((40000,), stddev=2.0, seed=seed))
    assert np.abs(truncated).max() <= 4.0 and abs(truncated.std() - 2.0 * 0.8796) < 0.03  # (two-sigma truncation)
    ints = host(R.randint((40000,), 3, 7, seed=seed))
    assert ints.dtype == np.int32 and set(np.unique(ints)) == {3, 4, 5, 6}
    probabilities = np.array([[0.2, 0.5, 0.3], [0.9, 0.05, 0.05]])
    picks = host(R.categorical(np.log(probabilities), 20000, seed=seed))
    assert picks.shape == (2, 20000) and picks.dtype == np.int32
    for row, p in zip(picks, probabilities):
        np.testing.assert_allclose(np.bincount(row, minlength=3) / 20000, p, atol=0.015)
    with pytest.raises(ValueError, match=r"logits must be 2-D \(rows, classes\), received shape \(3,\)"):
        R.categorical(np.zeros(3), 2)


def test_dropout_and_shuffle_pass_gradients_back():
    B.set_floatx("float64")
    x = ops.convert_to_tensor(np.arange(1.0, 13.0).reshape(3, 4))
    x.requires_grad = True
    dropped = R.dropout(x, 0.5, seed=4)
    kept = host(dropped) != 0
    np.testing.assert_allclose(host(dropped)[kept], 2.0 * np.arange(1.0, 13.0).reshape(3, 4)[kept])
    np.testing.assert_allclose(host(ops.gradients(ops.sum(dropped), [x])[0]), 2.0 * kept)
    shuffled = R.shuffle(x, axis=1, seed=2)
    order = np.argsort(host(shuffled)[0])
    assert sorted(host(shuffled)[0]) == [1.0, 2.0, 3.0, 4.0]
    weights = np.arange(4.0)
    gradient = host(ops.gradients(ops.sum(shuffled * weights), [x])[0])
    np.testing.assert_allclose(gradient, np.tile(weights[order], (3, 1)))


def test_config():
    assert gpunet.config.floatx() == "float32" and gpunet.config.epsilon() == 1e-7
    gpunet.config.set_floatx("float64")
    assert B.floatx() == "float64" and gpunet.config.floatx() == "float64"
    assert gpunet.config.backend() == B.get_backend().name
    gpunet.config.enable_unsafe_deserialization()  # (nothing to do: gpunet runs no code from files)
    assert gpunet.config.image_data_format() == "channels_last"


class Sampling(layers.Layer):
    """The Keras 3 guide's, word for word but for the imports."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = gpunet.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = ops.shape(z_mean)[0]
        dim = ops.shape(z_mean)[1]
        epsilon = gpunet.random.normal(shape=(batch, dim), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class VariationalAutoEncoder(gpunet.Model):
    def __init__(self, original_dim, intermediate_dim=64, latent_dim=32, name="autoencoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_mean, self.dense_log_var = layers.Dense(latent_dim), layers.Dense(latent_dim)
        self.sampling = Sampling()
        self.decoder_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_output = layers.Dense(original_dim, activation="sigmoid")

    def call(self, inputs):
        x = self.dense_proj(inputs)
        z_mean, z_log_var = self.dense_mean(x), self.dense_log_var(x)
        z = self.sampling((z_mean, z_log_var))
        reconstructed = self.dense_output(self.decoder_proj(z))
        kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
        self.add_loss(kl_loss)
        return reconstructed


def test_the_keras3_guides_variational_autoencoder_trains_with_gpunets_imports():
    x = (np.random.default_rng(0).random((256, 40)) > 0.7).astype("float32")

    def run():
        gpunet.utils.set_random_seed(1)
        vae = VariationalAutoEncoder(40, 16, 4)
        vae.compile(gpunet.optimizers.Adam(learning_rate=1e-2), loss=gpunet.losses.MeanSquaredError())
        return vae, vae.fit(x, x, epochs=4, batch_size=32, verbose=0).history["loss"]
    vae, losses = run()
    assert losses[-1] < losses[0]
    assert run()[1] == losses, "repeatable: the sampling's SeedGenerator and the weights from the seed"
    reconstruction = float(np.mean((vae.predict(x, verbose=0) - x) ** 2))
    assert vae.evaluate(x, x, verbose=0) > reconstruction + 1e-4, "the KL term is in the loss"


def test_a_resumed_fit_draws_on_from_the_saved_seed_generators(tmp_path):
    """fit 2 epochs, save, load, fit 2 more == 4 epochs straight: the Sampling layer's SeedGenerator state travels
    in the file with the rest of the random state (the Keras guide's structure: the layer inside a layer)."""
    class Encoder(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense_mean, self.dense_log_var, self.sampling = layers.Dense(4), layers.Dense(4), Sampling()

        def call(self, inputs):
            return self.sampling((self.dense_mean(inputs), self.dense_log_var(inputs)))

    class Net(gpunet.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.out = Encoder(), layers.Dense(6)

        def call(self, inputs):
            return self.out(self.encoder(inputs))
    x = np.random.default_rng(2).random((64, 6))

    def start():
        gpunet.utils.set_random_seed(4)
        net = Net()
        net.compile(optimizer="adam", loss="mse")
        net.fit(x, x, epochs=2, batch_size=16, verbose=0)
        return net
    straight = start()
    straight.fit(x, x, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    start().save(tmp_path / "net.keras")
    gpunet.utils.set_random_seed(99)  # (what runs in between must not matter)
    resumed = gpunet.models.load_model(tmp_path / "net.keras",
                                       custom_objects={"Net": Net, "Encoder": Encoder, "Sampling": Sampling})
    resumed.fit(x, x, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
