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


def with_trained_statistics(model, rng, variance=None):
    """``model`` (tf.keras's) with its batch normalizations' scale, offset, mean and variance drawn from ``rng``
    away from their initial values, and its Normalization's mean and variance (``variance``, or drawn) set, so a
    prediction depends on each of them (and on the axis they apply to)."""
    tfk = tf_keras_or_skip()
    for layer in model.layers:
        if isinstance(layer, tfk.layers.BatchNormalization):
            shape = layer.get_weights()[-1].shape
            values = [rng.uniform(0.5, 1.5, shape)] if layer.scale else []  # (InceptionResNetV2's have no scale)
            layer.set_weights(values + [rng.uniform(-0.2, 0.2, shape), rng.uniform(-0.2, 0.2, shape),
                                        rng.uniform(0.5, 1.5, shape)])
        elif isinstance(layer, tfk.layers.Normalization):  # (set_weights updates the statistics it applies)
            layer.set_weights([np.array([0.485, 0.456, 0.406]) + rng.uniform(-0.05, 0.05, 3),
                               np.array(variance if variance is not None else rng.uniform(0.03, 0.09, 3)),
                               np.array(1000, "int64")])
    return model


def requested_weights_file(monkeypatch, constructor, **kwargs):
    """What ``constructor(**kwargs)`` asks `gpunet.utils.data_utils.get_file` for (its arguments, a dict), the
    download stopped there."""
    from gpunet.utils import data_utils
    asked = {}

    def get_file(fname, origin, **more):
        asked.update(more, fname=fname, origin=origin)
        raise InterruptedError  # (the model is built; nothing is downloaded)
    monkeypatch.setattr(data_utils, "get_file", get_file)
    try:
        constructor(**kwargs)
    except InterruptedError:
        return asked
    raise AssertionError(f"{constructor.__name__}({kwargs}) asked for no weights file")


def assert_same_predictions(model, keras_model, x):
    """``model``'s predictions on ``x`` equal tf.keras's (``keras_model`` called eagerly: its ``predict`` traces a
    graph for seconds); returns tf.keras's."""
    want = keras_model(x, training=False).numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)
    return want
