"""Keras's mixed precision API (``keras.mixed_precision``, Keras 3's ``keras.config.set_dtype_policy``): the
mixed precision guide's program runs unchanged, computing in float32 (said once), with values equal to the same
program without the policy; plain float policies set the float type; unknown ones are refused by name."""
import numpy as np
import pytest

import gpunet
from gpunet import layers
from gpunet import mixed_precision as mp


@pytest.fixture
def policy_reset():
    mp._said.clear()
    yield
    mp.set_global_policy("float32")


def _guide_model():  # (the guide's shape: the last activation asked for in float32)
    inputs = gpunet.Input((6,))
    x = layers.Dense(8, activation="relu")(inputs)
    x = layers.Dense(3)(x)
    outputs = layers.Activation("softmax", dtype="float32")(x)
    return gpunet.Model(inputs, outputs)


def test_the_guides_program_runs_in_float32_and_trains_as_without_the_policy(policy_reset):
    x = np.random.default_rng(0).standard_normal((40, 6)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, 40)
    runs = []
    for policy in ("mixed_float16", "float32"):
        if policy == "mixed_float16":
            with pytest.warns(UserWarning, match="computes the dtype policy 'mixed_float16' in float32"):
                mp.set_global_policy(policy)
        else:
            mp.set_global_policy(policy)
        assert mp.global_policy().name == policy and mp.global_policy().compute_dtype == "float32"
        gpunet.utils.set_random_seed(3)
        model = _guide_model()
        optimizer = mp.LossScaleOptimizer(gpunet.optimizers.RMSprop())
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0).history
        runs.append((history, model.get_weights(), [layer.dtype for layer in model.layers]))
    assert runs[0][2] == ["float32"] * 4
    for key in runs[1][0]:
        np.testing.assert_array_equal(runs[0][0][key], runs[1][0][key])
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)


def test_plain_policies_set_the_float_type_and_the_keras_3_names_work(policy_reset):
    gpunet.config.set_dtype_policy("float64")
    assert gpunet.config.floatx() == "float64" and gpunet.config.dtype_policy() == mp.DTypePolicy("float64")
    assert layers.Dense(2).dtype == "float64"
    mp.set_global_policy(mp.Policy("float32"))
    assert gpunet.config.floatx() == "float32" and gpunet.DTypePolicy("mixed_bfloat16").variable_dtype == "float32"
    assert isinstance(mp.LossScaleOptimizer("adam"), gpunet.optimizers.Adam)


def test_an_unknown_policy_is_refused_by_name(policy_reset):
    with pytest.raises(ValueError, match=r"Cannot convert value 'int8' to a mixed precision DTypePolicy: expected one"):
        mp.set_global_policy("int8")
    assert gpunet.config.floatx() == "float32"
