"""``keras.ops.shape`` is Keras 3's (a tuple of ints, None for a symbolic tensor's unknown sizes) and ``K.shape``
Keras 2's (a 1-D int32 tensor): the Keras 3 idiom ``ops.reshape(x, ops.shape(x)[:-1] + (heads, depth))`` in a
layer of yours and in a Lambda gives Keras 3's predictions (against Keras 3 on torch)."""
import numpy as np

import gpunet
from gpunet import backend as K
from gpunet import ops
from keras_support import keras_on_torch

keras = keras_on_torch()


def test_shape_is_a_tuple_of_ints_as_keras3_gives_it():
    x = np.zeros((3, 4, 5), "float32")
    assert ops.shape(x) == keras.ops.shape(keras.ops.convert_to_tensor(x)) == (3, 4, 5)
    assert all(type(d) is int for d in ops.shape(ops.convert_to_tensor(x)))
    assert ops.shape(gpunet.Input((4, 5))) == keras.ops.shape(keras.Input((4, 5))) == (None, 4, 5)


def test_keras2_backend_shape_stays_a_tensor():
    x = ops.convert_to_tensor(np.zeros((3, 4), "float32"))
    s = K.shape(x)
    assert isinstance(s, gpunet.ops.Tensor) and str(s.dtype) == "int32"
    assert np.asarray(s).tolist() == [3, 4]
    assert K.reshape(x, (K.shape(x)[0], -1, 2)).shape == (3, 2, 2)


def _heads_model(lib, kind):
    class Heads(lib.layers.Layer):
        """Each step's features as two heads; their squared sums."""

        def call(self, x):
            s = lib.ops.shape(x)
            return lib.ops.sum(lib.ops.square(lib.ops.reshape(x, s[:-1] + (2, s[-1] // 2))), axis=-1)

        def compute_output_shape(self, input_shape):
            return tuple(input_shape[:-1]) + (2,)

    def split(x):
        return lib.ops.reshape(x, lib.ops.shape(x)[:-1] + (3, 2))
    inp = lib.Input((5, 6))
    h = lib.layers.Dense(6)(inp)
    h = Heads()(h) if kind == "layer" else lib.layers.Lambda(split, output_shape=(5, 3, 2))(h)
    return lib.Model(inp, lib.layers.Dense(1)(lib.layers.Flatten()(h)))


def test_the_reshape_idiom_predicts_as_keras3():
    x = np.random.default_rng(4).standard_normal((7, 5, 6)).astype("float32")
    for kind in ("layer", "lambda"):
        ours, theirs = _heads_model(gpunet, kind), _heads_model(keras, kind)
        assert ours.output_shape == theirs.output_shape
        ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
        np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
