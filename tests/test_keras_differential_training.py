"""Differential tests against real Keras 3 (torch backend): optimizer steps, whole training
trajectories and layer outputs, from identical weights and data.

Float64 on both sides, with hyperparameters that are exact in binary: Keras 3 keeps some scalars
in float32 even in a float64 run (clip norms, BatchNormalization's statistics), so exact
fractions keep the comparison at float64 rounding where Keras allows it. tf.keras 2.21 agrees
with Keras 3 on everything compared here except Nadam inside ``fit`` (tf.keras's graph-mode
``u_product`` bug; README: gpunet follows Keras 3)."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import layers, optimizers
from gpunet.models import Sequential
from keras_support import keras_on_torch

keras = keras_on_torch()

SHAPES = [(3, 4), (4,)]
RNG = np.random.RandomState(0)
W0 = [RNG.uniform(-1, 1, s) for s in SHAPES]
# 5 steps of small and large gradients, so epsilon's placement and clipping both show
GRADS = [[RNG.normal(0, 1, s) * RNG.choice([0.01, 0.3, 3.0], s) for s in SHAPES] for _ in range(5)]


@pytest.fixture
def float64():
    # Keras 3 keeps the dtype policy of the session's first model: clear it on the way in and out,
    # or the next test file's Keras models stay float64 (test_keras_interop after this file).
    old = keras.backend.floatx()
    keras.utils.clear_session()
    keras.backend.set_floatx("float64")
    B.set_floatx("float64")  # (conftest restores gpunet's float32)
    yield
    keras.backend.set_floatx(old)
    keras.utils.clear_session()


OPT_CASES = [  # (class, kwargs): every optimizer and option of README's list
    ("SGD", dict(learning_rate=0.125)),
    ("SGD", dict(learning_rate=0.125, momentum=0.75)),
    ("SGD", dict(learning_rate=0.125, momentum=0.75, nesterov=True, weight_decay=0.25)),
    ("RMSprop", dict(learning_rate=0.015625, rho=0.75)),
    ("RMSprop", dict(learning_rate=0.015625, rho=0.75, momentum=0.625, centered=True, epsilon=0.015625)),
    ("RMSprop", dict(learning_rate=0.015625, weight_decay=0.25)),
    ("Adam", dict(learning_rate=0.0625, beta_1=0.75, beta_2=0.9375, epsilon=0.0078125)),
    ("Adam", dict(learning_rate=0.0625, beta_1=0.75, beta_2=0.9375, amsgrad=True, weight_decay=0.25)),
    ("AdamW", dict(learning_rate=0.0625, weight_decay=0.25, beta_1=0.75, beta_2=0.9375)),
    ("AdamW", dict(learning_rate=0.0625, weight_decay=0.25, amsgrad=True, beta_1=0.75, beta_2=0.9375)),
    ("Adagrad", dict(learning_rate=0.125, initial_accumulator_value=0.25, epsilon=0.0625)),
    ("Adagrad", dict(learning_rate=0.125, initial_accumulator_value=0.0, weight_decay=0.25)),
    ("Adadelta", dict(learning_rate=1.0, rho=0.75, epsilon=0.0078125)),
    ("Adamax", dict(learning_rate=0.0625, beta_1=0.75, beta_2=0.9375, epsilon=0.0078125, weight_decay=0.25)),
    ("Nadam", dict(learning_rate=0.0625, beta_1=0.75, beta_2=0.9375, epsilon=0.0078125)),
    # Keras 3 computes clipping with a float32 scalar: these agree to ~1e-8 only
    ("SGD", dict(learning_rate=0.125, momentum=0.5, clipnorm=0.5)),
    ("Adam", dict(learning_rate=0.0625, beta_1=0.75, beta_2=0.9375, clipvalue=0.25)),
    ("RMSprop", dict(learning_rate=0.015625, momentum=0.25, global_clipnorm=0.75)),
    ("Nadam", dict(learning_rate=0.0625, beta_1=0.75, beta_2=0.9375, clipnorm=0.5)),
]
# Keras 3 variable name (last path part, after "variable_N_") -> gpunet slot, per optimizer
KERAS_SLOTS = {"SGD": {"momentum": "momentum"},
               "RMSprop": {"velocity": "rms", "momentum": "momentum", "average_gradient": "mg"},
               "Adam": {"momentum": "m", "velocity": "v", "velocity_hat": "vhat"},
               "Adagrad": {"accumulator": "accumulator"},
               "Adadelta": {"accumulated_grad": "accum_grad", "accumulated_delta_var": "accum_var"},
               "Adamax": {"momentum": "m", "norm": "v"}, "Nadam": {"momentum": "m", "velocity": "v"}}
KERAS_SLOTS["AdamW"] = KERAS_SLOTS["Adam"]


def _keras_steps(cls, kwargs):
    opt = getattr(keras.optimizers, cls)(**kwargs)
    vs = [keras.Variable(w, dtype="float64") for w in W0]
    for gs in GRADS:
        opt.apply([keras.ops.convert_to_tensor(g) for g in gs], vs)
    slots = {}
    for var in opt.variables:
        name = var.path.split("/")[-1]
        for suffix, slot in sorted(KERAS_SLOTS[cls].items(), key=lambda kv: -len(kv[0])):
            if name.endswith("_" + suffix):
                slots.setdefault(slot, []).append(keras.ops.convert_to_numpy(var.value).ravel())
                break
    params = np.concatenate([keras.ops.convert_to_numpy(v.value).ravel() for v in vs])
    return params, {k: np.concatenate(v) for k, v in slots.items()}


def _gpunet_steps(cls, kwargs):
    ops = B.get_backend()
    opt = getattr(optimizers, cls)(**kwargs)
    p = ops.asarray(np.concatenate([w.ravel() for w in W0]))
    opt.build(ops, p, [("w0", 0, SHAPES[0]), ("w1", 12, SHAPES[1])])
    for gs in GRADS:
        opt.apply(p, ops.asarray(np.concatenate([g.ravel() for g in gs])))
    return ops.to_host(p), {k: ops.to_host(v) for k, v in opt.slots().items()}


@pytest.mark.parametrize("cls, kwargs", OPT_CASES, ids=[f"{c}-{'-'.join(k)}" for c, k in OPT_CASES])
def test_optimizer_steps_match_keras(float64, cls, kwargs):
    clipped = any(k in kwargs for k in ("clipnorm", "clipvalue", "global_clipnorm"))
    tol = dict(rtol=1e-7, atol=1e-9) if clipped else dict(rtol=1e-12, atol=1e-14)
    ref_p, ref_slots = _keras_steps(cls, kwargs)
    got_p, got_slots = _gpunet_steps(cls, kwargs)
    np.testing.assert_allclose(got_p, ref_p, **tol)
    assert sorted(got_slots) == sorted(ref_slots)
    for name, ref in ref_slots.items():
        np.testing.assert_allclose(got_slots[name], ref, **tol, err_msg=name)


# ---- training trajectories -------------------------------------------------------------------------------
DATA = np.random.RandomState(3)
X = DATA.normal(size=(103, 6))
Y = np.eye(3)[DATA.randint(0, 3, 103)]
SW = DATA.uniform(0.25, 2.0, 103)


def _network(lib, lam):
    L, R, C = lib.layers, lib.regularizers, lib.constraints
    stack = [L.Dense(10, activation="tanh", kernel_regularizer=R.L2(0.01), bias_regularizer=R.L1(0.02),
                     kernel_constraint=C.MaxNorm(1.5)),
             L.BatchNormalization(momentum=0.875), L.Activation("relu"),
             L.Dense(7, activation="sigmoid", kernel_regularizer=R.L1L2(0.001, 0.002))]
    if lam:  # a Lambda takes the model off the fused NumPy step (dense_plan): both paths are compared
        stack.append(L.Lambda(lambda t: t * 2.0 - 1.0))
    stack.append(L.Dense(3, activation="softmax"))
    return stack


def _initial_weights(model, seed):
    """The same weights for both models: gamma and moving variance (initialized to ones) in
    [0.5, 1.5], everything else in [-0.625, 0.625]."""
    rng = np.random.RandomState(seed)
    return [rng.uniform(0.5, 1.5, w.shape) if np.all(w == 1) else rng.uniform(-0.625, 0.625, w.shape)
            for w in model.get_weights()]


def _train(model, opt):
    model.set_weights(_initial_weights(model, 2))
    model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
    # batch 32 over 82 training rows: a partial last batch; sample weights; a validation split
    hist = model.fit(X, Y, epochs=3, batch_size=32, verbose=0, shuffle=False, sample_weight=SW,
                     validation_split=0.2)
    return (hist.history, [np.asarray(w) for w in model.get_weights()],
            model.evaluate(X, Y, batch_size=16, verbose=0), model.predict(X, batch_size=16, verbose=0))


TRAJ_OPTS = [("SGD", dict(learning_rate=0.0625, momentum=0.875)),
             ("Adam", dict(learning_rate=0.015625)),
             ("Nadam", dict(learning_rate=0.015625)),
             ("AdamW", dict(learning_rate=0.015625, weight_decay=0.125)),
             ("RMSprop", dict(learning_rate=0.0078125, momentum=0.5, centered=True))]


@pytest.mark.parametrize("lam", [False, True], ids=["fused", "layer-path"])
@pytest.mark.parametrize("cls, kwargs", TRAJ_OPTS, ids=[c for c, _ in TRAJ_OPTS])
def test_training_trajectory_matches_keras(float64, cls, kwargs, lam):
    ref = keras.Sequential([keras.Input((6,))] + _network(keras, lam))
    got = Sequential([layers.InputLayer(input_shape=(6,))] + _network(gpunet, lam))
    r_hist, r_w, r_eval, r_pred = _train(ref, getattr(keras.optimizers, cls)(**kwargs))
    g_hist, g_w, g_eval, g_pred = _train(got, getattr(optimizers, cls)(**kwargs))
    assert sorted(g_hist) == sorted(r_hist) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    # Keras 3's BatchNormalization keeps float32 scalars in a float64 run: 1e-5, not 1e-12
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(g_hist[key], r_hist[key], rtol=1e-6, err_msg=key)
    for i, (g, r) in enumerate(zip(g_w, r_w)):  # kernels, biases, gamma, beta, moving mean and variance
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-7, err_msg=f"weight {i}")
    np.testing.assert_allclose(g_eval, r_eval, rtol=1e-6)
    np.testing.assert_allclose(g_pred, r_pred, rtol=1e-5, atol=1e-8)


def test_on_batch_returns_and_batch_norm_modes_match_keras(float64):
    ref = keras.Sequential([keras.Input((6,))] + _network(keras, False))
    got = Sequential([layers.InputLayer(input_shape=(6,))] + _network(gpunet, False))
    results = []
    for model, lib in ((ref, keras), (got, gpunet)):
        model.set_weights(_initial_weights(model, 4))
        model.compile(loss="categorical_crossentropy", optimizer=lib.optimizers.SGD(0.125))
        losses = [model.train_on_batch(X[i:i + 20], Y[i:i + 20], sample_weight=SW[i:i + 20]) for i in (0, 20)]
        losses.append(model.train_on_batch(X[:20], Y[:20], class_weight={0: 2.0, 1: 0.5, 2: 1.0}))
        losses.append(model.test_on_batch(X[60:80], Y[60:80], sample_weight=SW[60:80]))
        h = model.layers[0](X[:10])
        bn = model.layers[1]
        # (gpunet's eager outputs are the backend's arrays, CuPy's on a GPU: .numpy() copies them)
        host = (lambda a: a.numpy()) if lib is gpunet else keras.ops.convert_to_numpy
        modes = [np.asarray(host(bn(h, training=t))) for t in (True, False)]
        results.append((np.ravel(losses), modes, [np.asarray(w) for w in bn.get_weights()]))
    (r_loss, r_modes, r_bn), (g_loss, g_modes, g_bn) = results
    np.testing.assert_allclose(g_loss, r_loss, rtol=1e-6)
    for g, r in zip(g_modes + g_bn, r_modes + r_bn):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-8)


def test_metrics_ignore_sample_weight_as_in_keras():
    model = Sequential([layers.Dense(1, input_dim=1, activation="sigmoid")])
    model.set_weights([np.array([[1.0]], "float32"), np.array([-0.5], "float32")])
    model.compile(loss="binary_crossentropy", optimizer="sgd", metrics=["accuracy"])
    x, y = np.array([[0.0], [1.0], [2.0], [3.0]], "float32"), np.array([[0.0], [1.0], [1.0], [0.0]], "float32")
    # tf_keras 2.21 and Keras 3: evaluate(..., sample_weight=[1, 1, 1, 5]) -> accuracy 0.75 (3 of 4 right)
    assert model.evaluate(x, y, sample_weight=np.array([1.0, 1.0, 1.0, 5.0]), verbose=0)[1] == 0.75
