"""Real Keras 3 on its torch backend for the interop tests (CI's interop extra), or a module-level
skip saying why not."""
import contextlib
import json
import os

import pytest


def keras_on_torch():
    """The ``keras`` module, running on torch; skips the calling test module otherwise."""
    os.environ.setdefault("KERAS_BACKEND", "torch")  # must precede the first `import keras`
    keras = pytest.importorskip("keras", reason="Keras 3 is not installed: pip install keras torch")
    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras runs on {keras.backend.backend()!r}; these tests expect KERAS_BACKEND=torch",
                    allow_module_level=True)
    return keras


def tf_keras_or_skip():
    """The ``tf_keras`` module (Keras 2.x on TensorFlow), or a skip saying why not. tf_keras imports
    Keras 3 too: KERAS_BACKEND is set to torch first, as `keras_on_torch` wants it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("tf_keras", reason="tf_keras 2.x is not installed (pip install tf_keras)")


def matches_torch(mine, theirs, arrays, tol=1e-9):
    """``mine`` (gpunet ops on Tensors) against ``theirs`` (Keras 3 ops on torch tensors) on ``arrays`` in
    float64: the value, and the gradient of every input through torch autograd with a random upstream gradient
    (the same for a case whatever ran before it). Where Keras 3 on torch computes in float32 the tolerance is
    2e-6."""
    import numpy as np
    import torch
    from gpunet.autodiff import Tensor, gradients
    g_in = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    got, expected = mine(*g_in), theirs(*t_in)
    if expected.ndim == 0 and got.ndim:  # Keras 3 on torch drops keepdims for axis=None; NumPy and TF keep it
        expected = expected.reshape(got.shape)
    tol = tol if expected.dtype == torch.float64 else 2e-6
    np.testing.assert_allclose(np.asarray(got.data), expected.detach().numpy(), rtol=tol, atol=tol * 1e-3)
    upstream = np.random.default_rng(5).standard_normal(tuple(expected.shape))
    wanted = torch.autograd.grad(expected, t_in, torch.as_tensor(upstream, dtype=expected.dtype))
    for g, w in zip(gradients(got, g_in, upstream), wanted):
        np.testing.assert_allclose(np.asarray(g), w.numpy(), rtol=tol, atol=tol * 1e-3)


def assert_constants_match(pairs):
    """Each ``(gpunet tensor, Keras 3 value on torch)`` pair: the same values and dtype."""
    import numpy as np
    for got, want in pairs:
        want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
        np.testing.assert_array_equal(np.asarray(got.data), want)
        assert np.asarray(got.data).dtype == want.dtype, (got, want.dtype)


@contextlib.contextmanager
def keras_float64_on_numpy(keras):
    """Keras 3 in float64 (it computes mean/var/prod/... in floatx even for float64 input) and gpunet on NumPy
    (the ops' semantics are the backend interface's; the tests hand tensors host arrays), for a 1e-9 comparison."""
    from gpunet import backend as B
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        with B.use_backend("numpy"):
            yield
    finally:
        keras.config.set_floatx(previous)


def assert_files_travel(model, x, tmp_path, tfk=None, keras3=True):
    """``model`` (compiled) saved as .h5 and .keras reads back exactly in gpunet; tf.keras 2 (``tfk``) reads
    the .h5 and Keras 3 the .keras with the same predictions, and what each saves again reads back in gpunet.
    Returns gpunet's predictions."""
    import numpy as np
    from gpunet.models import load_model

    def each(got, want, exact=False, err_msg=""):  # (a model with several outputs predicts a list)
        got, want = (v if isinstance(v, list) else [v] for v in (got, want))
        assert len(got) == len(want), (err_msg, len(got), len(want))
        for a, b in zip(got, want):
            if exact:
                np.testing.assert_array_equal(a, b, err_msg=err_msg)
            else:
                np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5, atol=1e-6, err_msg=err_msg)
    want = model.predict(x, verbose=0)
    for name in ("m.h5", "m.keras"):
        model.save(tmp_path / name)
        each(load_model(tmp_path / name).predict(x, verbose=0), want, exact=True)
    others = [(tfk.models.load_model, "m.h5", "tf.h5")] if tfk is not None else []
    if keras3:
        others.append((keras_on_torch().models.load_model, "m.keras", "k3.keras"))
    for read, mine, theirs in others:
        ref = read(tmp_path / mine)
        each(ref.predict(x, verbose=0), want, err_msg=mine)
        ref.save(tmp_path / theirs)
        each(load_model(tmp_path / theirs).predict(x, verbose=0), want, err_msg=theirs)
    return want


def configs_agree(config, ref_config):
    """A layer's config equals tf.keras's key for key (as JSON values; initializers by class name, names aside)."""
    config, ref_config = json.loads(json.dumps(config)), json.loads(json.dumps(ref_config))
    assert list(config) == list(ref_config)
    for key in ref_config:
        if key.endswith("_initializer"):
            assert config[key]["class_name"] == ref_config[key]["class_name"], key
        elif key != "name":
            assert config[key] == ref_config[key], key
