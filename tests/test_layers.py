import numpy as np
import pytest

from gpunet import backend as B
from gpunet.layers import Dense, Activation, Dropout, Flatten, Reshape, BatchNormalization, Input, InputLayer
from gpunet.testing import check_gradient


def _layer_grad_checks(ops, layer, x, weights=True):
    """Finite-difference checks of dx and of every trainable weight's gradient."""
    layer.build((None,) + x.shape[1:])
    for w in layer.trainable_weights:
        w.grad = ops.zeros(w.shape, w.value.dtype)

    def fwd(xv):
        return ops.to_host(layer.forward(ops.asarray(xv), training=True))

    check_gradient(fwd, lambda dy: ops.to_host(layer.backward(ops.asarray(dy))), x)
    if not weights:
        return
    for w in layer.trainable_weights:
        host = ops.to_host(w.value).copy()

        def fwd_w(wv, w=w):
            w.value[...] = ops.asarray(wv)
            return ops.to_host(layer.forward(ops.asarray(x), training=True))

        def bwd_w(dy, w=w):
            layer.backward(ops.asarray(dy))
            return ops.to_host(w.grad).copy()

        check_gradient(fwd_w, bwd_w, host)
        w.value[...] = ops.asarray(host)


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softmax"])
def test_dense_gradients(ops, f64, activation):
    x = np.random.default_rng(1).standard_normal((6, 5))
    layer = Dense(4, activation=activation, bias_initializer="ones")
    _layer_grad_checks(ops, layer, x)


def test_dense_on_3d_input_applies_to_last_axis(ops, f64):
    x = np.random.default_rng(2).standard_normal((3, 4, 5))
    layer = Dense(2, activation="tanh")
    _layer_grad_checks(ops, layer, x)
    assert layer.compute_output_shape((None, 4, 5)) == (None, 4, 2)


def test_dense_forward_values(ops):
    layer = Dense(2, activation="relu", kernel_initializer="ones", bias_initializer="ones")
    y = ops.to_host(layer(np.array([[1.0, -3.0]])))
    assert y.tolist() == [[0.0, 0.0]]
    y = ops.to_host(layer(np.array([[1.0, 2.0]])))
    assert y.tolist() == [[4.0, 4.0]]


def test_dense_wrong_width_names_both_shapes(ops):
    layer = Dense(3)
    layer.build((None, 8))
    with pytest.raises(ValueError, match=r"expects input width 8, received 5 \(input shape \(32, 5\)\)"):
        layer.forward(ops.zeros((32, 5), "float32"))


def test_dense_rejects_bad_arguments():
    with pytest.raises(ValueError, match="positive integer `units`, received 0"):
        Dense(0)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        Dense(3, kernel_initialiser="ones")
    with pytest.raises(ValueError, match="Unknown activation 'relu7'"):
        Dense(3, activation="relu7")
    with pytest.raises(ValueError, match="Unknown initializer 'unifrm'"):
        Dense(3, kernel_initializer="unifrm")


def test_dense_keras2_arguments_and_config():
    layer = Dense(12, input_dim=8, kernel_initializer="uniform", activation="relu", name="dense_1")
    config = layer.get_config()
    assert config["batch_input_shape"] == [None, 8]
    assert config["units"] == 12 and config["activation"] == "relu" and config["use_bias"] is True
    assert config["kernel_initializer"] == {"class_name": "RandomUniform",
                                            "config": {"minval": -0.05, "maxval": 0.05, "seed": None}}
    assert config["bias_initializer"] == {"class_name": "Zeros", "config": {}}
    clone = Dense.from_config(config)
    assert clone.get_config() == config
    assert Dense(3, input_shape=(4,)).batch_input_shape == (None, 4)
    assert Dense(3, batch_input_shape=(16, 4)).batch_input_shape == (16, 4)


def test_layer_names_generated_as_keras():
    names = [Dense(1).name, Dense(1).name, Dense(1).name, Dropout(0.1).name, BatchNormalization().name]
    assert names == ["dense", "dense_1", "dense_2", "dropout", "batch_normalization"]


def test_activation_layer_gradients(ops, f64):
    x = np.random.default_rng(3).standard_normal((4, 3))
    _layer_grad_checks(ops, Activation("sigmoid"), x, weights=False)


def test_dropout_fixed_mask_gradient_and_inference(ops, f64):
    layer = Dropout(0.4)
    x = np.random.default_rng(4).standard_normal((8, 5))
    layer.build((None, 5))
    y = ops.to_host(layer.forward(ops.asarray(x), training=True))
    mask = ops.to_host(layer._mask)
    np.testing.assert_array_equal(y, x * mask)
    dy = np.random.default_rng(5).standard_normal(x.shape)
    np.testing.assert_array_equal(ops.to_host(layer.backward(ops.asarray(dy))), dy * mask)
    assert np.array_equal(ops.to_host(layer.forward(ops.asarray(x), training=False)), x)


def test_dropout_seed_and_noise_shape(ops):
    a = Dropout(0.5, seed=3, noise_shape=(None, 1))
    b = Dropout(0.5, seed=3, noise_shape=(None, 1))
    x = ops.ones((10, 4), "float32")
    ya, yb = ops.to_host(a.forward(x, True)), ops.to_host(b.forward(x, True))
    assert np.array_equal(ya, yb)
    assert all(len(set(row)) == 1 for row in ya.tolist())  # one mask value per row
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\), received 1.0"):
        Dropout(1.0)


def test_flatten_and_reshape(ops, f64):
    x = np.random.default_rng(6).standard_normal((3, 2, 6))
    _layer_grad_checks(ops, Flatten(), x, weights=False)
    _layer_grad_checks(ops, Reshape((4, 3)), x, weights=False)
    assert Flatten().compute_output_shape((None, 2, 6)) == (None, 12)
    assert Reshape((-1, 3)).compute_output_shape((None, 2, 6)) == (None, 4, 3)
    with pytest.raises(ValueError, match="cannot turn input shape"):
        Reshape((5,)).compute_output_shape((None, 2, 6))


def test_batchnorm_training_gradients(ops, f64):
    x = np.random.default_rng(7).standard_normal((10, 4)) * 3 + 1
    layer = BatchNormalization(momentum=0.9, gamma_initializer="ones")
    _layer_grad_checks(ops, layer, x)


def test_batchnorm_inference_gradients_and_moving_stats(ops, f64):
    layer = BatchNormalization(momentum=0.5, epsilon=1e-3)
    layer.build((None, 3))
    x = np.random.default_rng(8).standard_normal((50, 3)) * 2 + 5
    layer.forward(ops.asarray(x), training=True)
    mm = ops.to_host(layer.moving_mean.value)
    mv = ops.to_host(layer.moving_variance.value)
    np.testing.assert_allclose(mm, 0.5 * 0 + 0.5 * x.mean(0))
    np.testing.assert_allclose(mv, 0.5 * 1 + 0.5 * x.var(0))
    y = ops.to_host(layer.forward(ops.asarray(x), training=False))
    np.testing.assert_allclose(y, (x - mm) / np.sqrt(mv + 1e-3))

    def fwd(xv):
        return ops.to_host(layer.forward(ops.asarray(xv), training=False))
    check_gradient(fwd, lambda dy: ops.to_host(layer.backward(ops.asarray(dy))), x[:5])


def test_batchnorm_weights_order_and_frozen_uses_moving_stats(ops):
    layer = BatchNormalization()
    layer.build((None, 2))
    assert [w.name for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in layer.trainable_weights] == ["gamma", "beta"]
    layer.trainable = False
    assert layer.trainable_weights == []
    x = ops.asarray(np.array([[1.0, 2.0], [3.0, 4.0]], dtype="float32"))
    y = ops.to_host(layer.forward(x, training=True))
    np.testing.assert_allclose(y, ops.to_host(x) / np.sqrt(1 + 1e-3), rtol=1e-6)
    assert np.array_equal(ops.to_host(layer.moving_mean.value), [0, 0])


def test_batchnorm_synchronized_round_trips_and_is_local_in_one_process(ops):
    """synchronized=True is kept in the config (Keras 3's key, absent by default as in Keras 2's
    configs); without several ranks it computes what an unsynchronized layer computes."""
    assert "synchronized" not in BatchNormalization().get_config()
    sync = BatchNormalization(synchronized=True, momentum=0.5)
    config = sync.get_config()
    assert config["synchronized"] is True and BatchNormalization.from_config(config).synchronized
    plain = BatchNormalization(momentum=0.5)
    x = ops.asarray(np.random.default_rng(3).standard_normal((6, 3)).astype("float32"))
    dy = ops.asarray(np.random.default_rng(4).standard_normal((6, 3)).astype("float32"))
    for layer in (sync, plain):
        layer.build((None, 3))
    np.testing.assert_array_equal(ops.to_host(sync.forward(x, training=True)),
                                  ops.to_host(plain.forward(x, training=True)))
    np.testing.assert_array_equal(ops.to_host(sync.backward(dy)), ops.to_host(plain.backward(dy)))
    np.testing.assert_array_equal(ops.to_host(sync.moving_variance.value), ops.to_host(plain.moving_variance.value))


def test_input_layer_and_input():
    tensor = Input(shape=(8,))  # Keras's Input() is a symbolic tensor made by an InputLayer
    layer = tensor._keras_history.layer
    assert isinstance(layer, InputLayer) and layer.batch_input_shape == (None, 8) and tensor.shape == (None, 8)
    assert layer.get_config()["batch_input_shape"] == [None, 8]
    with pytest.raises(ValueError, match="needs input_shape"):
        InputLayer()


def test_set_weights_checks_all_shapes_first(ops):
    layer = Dense(2)
    layer.build((None, 3))
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"weight 'bias' has shape \(2,\), received an array of shape \(3,\)"):
        layer.set_weights([np.ones((3, 2)), np.ones(3)])
    for a, b in zip(before, layer.get_weights()):
        assert np.array_equal(a, b)


def test_clear_session_restarts_layer_names():
    """K.clear_session() in a K-fold loop: each fold's model is dense, dense_1 again, as in Keras."""
    from gpunet.models import Sequential
    names = []
    for _ in range(2):
        B.clear_session()
        names.append([layer.name for layer in Sequential([Dense(2, input_dim=3), Dense(1)]).layers])
    assert names == [["dense", "dense_1"], ["dense", "dense_1"]]


def test_batchnorm_checks_its_input_and_refuses_keras2_options_it_lacks(ops):
    bn = BatchNormalization()
    bn(np.ones((2, 4), "float32"), training=True)
    with pytest.raises(ValueError, match=r"rank 2 with 4 features on axis -1, received input shape \(2, 5\)"):
        bn(np.ones((2, 5), "float32"), training=True)
    # ignored as Keras 2 configs carry them at their defaults; a value that changes the output is refused
    BatchNormalization(renorm=False, fused=True, virtual_batch_size=None, adjustment=None, renorm_momentum=0.9)
    with pytest.raises(ValueError, match="does not implement renorm=True"):
        BatchNormalization(renorm=True)
    with pytest.raises(ValueError, match="virtual_batch_size=8"):
        BatchNormalization(virtual_batch_size=8)
