"""What the tests of ``gpunet.applications`` share: the same application built by gpunet and by tf.keras 2.21, and
the check that they are the same model."""
import hashlib
import json

import numpy as np

from keras_support import tf_keras_or_skip


def both(ours, theirs, **kwargs):
    """``(ours(**kwargs), theirs(**kwargs))``: gpunet's and tf.keras's constructors of one application, each
    building from fresh layer names (so auto-named layers are named alike)."""
    from gpunet.layers.naming import reset_names
    reset_names()
    tf_keras_or_skip().backend.clear_session()
    return ours(**kwargs), theirs(**kwargs)


def assert_same_model(ours, theirs, x, predict=True):
    """Same layer names in the same order, same weight shapes, same output shape, and (``predict``) the same
    predictions on ``x`` with tf.keras's weights."""
    assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert ours.name == theirs.name and ours.output_shape == theirs.output_shape
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    ours.set_weights(theirs.get_weights())
    if predict:
        np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def structure(model):
    """``(layers, weights, parameters, digest)`` of ``model``: the digest is that of its name, its layers' names in
    their order and its weights' shapes in theirs, everything a weights file's loading depends on."""
    names = [layer.name for layer in model.layers]
    shapes = [[int(n) for n in w.shape] for w in model.weights]
    digest = hashlib.sha256(json.dumps([model.name, names, shapes]).encode()).hexdigest()[:16]
    return len(names), len(shapes), sum(int(np.prod(shape)) for shape in shapes), digest
