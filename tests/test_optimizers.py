"""Optimizers: each update rule against Keras's formulas written out here in float64
NumPy, the common arguments, config round trips, get(), state for exact resume."""
import inspect

import numpy as np
import pytest

from gpunet import backend as B
from gpunet import optimizers
from gpunet.backend import Backend, CupyBackend
from gpunet.backend.optimizer_ops import OptimizerOps
from gpunet.optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Nadam, RMSprop

SHAPES = [(3, 4), (4,), (5, 1)]  # three weight tensors, 21 parameters
LAYOUT = [("dense/kernel", 0, (3, 4)), ("dense/bias", 12, (4,)), ("dense_1/kernel", 16, (5, 1))]
N = 21
STEPS = 4


def _problem(seed=0):
    rng = np.random.RandomState(seed)
    p0 = rng.uniform(-1, 1, N)
    # Small and large gradients, so epsilon's placement and clipping both show.
    grads = [rng.normal(0, 1, N) * rng.choice([0.01, 0.3, 3.0], N) for _ in range(STEPS)]
    return p0, grads


def _dev(ops, a, dtype="float64"):
    """A fresh backend array (never a view of the test's NumPy data, which must stay intact)."""
    return ops.asarray(np.array(a, dtype=dtype))


def _run(opt, ops, dtype, p0, grads, layout=LAYOUT):
    p = _dev(ops, p0, dtype)
    opt.build(ops, p, layout)
    for g in grads:
        opt.apply(p, _dev(ops, g, dtype))
    return ops.to_host(p), {k: ops.to_host(v) for k, v in opt.slots().items()}


# ---- reference math: Keras's documented rules, float64, one tensor per step -------------------------------

def ref_sgd(p, grads, lr, momentum=0.0, nesterov=False):
    vel = np.zeros_like(p)
    for g in grads:
        if momentum == 0:
            p = p - lr * g
            continue
        vel = momentum * vel - lr * g
        p = p + (momentum * vel - lr * g if nesterov else vel)
    return p, ({"momentum": vel} if momentum else {})


def ref_rmsprop(p, grads, lr, rho, momentum=0.0, epsilon=1e-7, centered=False):
    rms, mom, mg = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        rms = rho * rms + (1 - rho) * g**2
        denom = rms + epsilon
        if centered:
            mg = rho * mg + (1 - rho) * g
            denom = rms - mg**2 + epsilon
        step = lr * g / np.sqrt(denom)
        if momentum:
            mom = momentum * mom + step
            step = mom
        p = p - step
    slots = {"rms": rms}
    if momentum:
        slots["momentum"] = mom
    if centered:
        slots["mg"] = mg
    return p, slots


def ref_adam(p, grads, lr, beta_1, beta_2, epsilon, amsgrad=False, weight_decay=0.0, decay_mask=1.0,
             adaptive_epsilon=False):
    m, v, vhat = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        p = p - p * weight_decay * lr * decay_mask
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        vhat = np.maximum(vhat, v)
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        eps = epsilon * np.sqrt(1 - beta_2**t) if adaptive_epsilon else epsilon  # tf.keras 2.16+ option
        p = p - alpha * m / (np.sqrt(vhat if amsgrad else v) + eps)
    return p, dict({"m": m, "v": v}, **({"vhat": vhat} if amsgrad else {}))


def ref_adagrad(p, grads, lr, initial_accumulator_value, epsilon):
    acc = np.full_like(p, initial_accumulator_value)
    for g in grads:
        acc = acc + g**2
        p = p - lr * g / np.sqrt(acc + epsilon)
    return p, {"accumulator": acc}


def ref_adadelta(p, grads, lr, rho, epsilon):
    ag, av = np.zeros_like(p), np.zeros_like(p)
    for g in grads:
        ag = rho * ag + (1 - rho) * g**2
        delta = -np.sqrt(av + epsilon) * g / np.sqrt(ag + epsilon)
        av = rho * av + (1 - rho) * delta**2
        p = p + lr * delta
    return p, {"accum_grad": ag, "accum_var": av}


def ref_adamax(p, grads, lr, beta_1, beta_2, epsilon):
    m, u = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        m = beta_1 * m + (1 - beta_1) * g
        u = np.maximum(beta_2 * u, np.abs(g))
        p = p - lr * m / ((1 - beta_1**t) * (u + epsilon))
    return p, {"m": m, "v": u}


def ref_nadam(p, grads, lr, beta_1, beta_2, epsilon):
    m, v, u_product = np.zeros_like(p), np.zeros_like(p), 1.0
    for t, g in enumerate(grads, 1):
        u_t = beta_1 * (1 - 0.5 * 0.96**t)
        u_t1 = beta_1 * (1 - 0.5 * 0.96 ** (t + 1))
        u_product = u_product * u_t
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = u_t1 * m / (1 - u_product * u_t1) + (1 - u_t) * g / (1 - u_product)
        v_hat = v / (1 - beta_2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + epsilon)
    return p, {"m": m, "v": v}


CASES = [  # (id, optimizer factory, reference)
    ("sgd", lambda: SGD(0.1), lambda p, gs: ref_sgd(p, gs, 0.1)),
    ("sgd_momentum", lambda: SGD(0.1, momentum=0.7), lambda p, gs: ref_sgd(p, gs, 0.1, 0.7)),
    ("sgd_nesterov", lambda: SGD(0.1, momentum=0.7, nesterov=True), lambda p, gs: ref_sgd(p, gs, 0.1, 0.7, True)),
    ("rmsprop", lambda: RMSprop(0.01, rho=0.8, epsilon=0.05), lambda p, gs: ref_rmsprop(p, gs, 0.01, 0.8, 0, 0.05)),
    ("rmsprop_momentum", lambda: RMSprop(0.01, rho=0.8, momentum=0.6, epsilon=0.05),
     lambda p, gs: ref_rmsprop(p, gs, 0.01, 0.8, 0.6, 0.05)),
    ("rmsprop_centered", lambda: RMSprop(0.01, rho=0.8, epsilon=0.05, centered=True),
     lambda p, gs: ref_rmsprop(p, gs, 0.01, 0.8, 0, 0.05, True)),
    ("rmsprop_centered_momentum", lambda: RMSprop(0.01, rho=0.8, momentum=0.6, epsilon=0.05, centered=True),
     lambda p, gs: ref_rmsprop(p, gs, 0.01, 0.8, 0.6, 0.05, True)),
    ("adam", lambda: Adam(0.05, beta_1=0.8, beta_2=0.95, epsilon=0.01),
     lambda p, gs: ref_adam(p, gs, 0.05, 0.8, 0.95, 0.01)),
    ("adam_amsgrad", lambda: Adam(0.05, beta_1=0.8, beta_2=0.95, epsilon=0.01, amsgrad=True),
     lambda p, gs: ref_adam(p, gs, 0.05, 0.8, 0.95, 0.01, amsgrad=True)),
    ("adam_adaptive_epsilon", lambda: Adam(0.05, beta_1=0.8, beta_2=0.95, epsilon=0.01, adaptive_epsilon=True),
     lambda p, gs: ref_adam(p, gs, 0.05, 0.8, 0.95, 0.01, adaptive_epsilon=True)),
    ("adamw", lambda: AdamW(0.05, weight_decay=0.3, beta_1=0.8, beta_2=0.95, epsilon=0.01),
     lambda p, gs: ref_adam(p, gs, 0.05, 0.8, 0.95, 0.01, weight_decay=0.3)),
    ("adamw_amsgrad", lambda: AdamW(0.05, weight_decay=0.3, beta_1=0.8, beta_2=0.95, epsilon=0.01, amsgrad=True),
     lambda p, gs: ref_adam(p, gs, 0.05, 0.8, 0.95, 0.01, amsgrad=True, weight_decay=0.3)),
    ("adagrad", lambda: Adagrad(0.1, initial_accumulator_value=0.2, epsilon=0.05),
     lambda p, gs: ref_adagrad(p, gs, 0.1, 0.2, 0.05)),
    ("adadelta", lambda: Adadelta(1.0, rho=0.8, epsilon=0.01), lambda p, gs: ref_adadelta(p, gs, 1.0, 0.8, 0.01)),
    ("adamax", lambda: Adamax(0.05, beta_1=0.8, beta_2=0.95, epsilon=0.01),
     lambda p, gs: ref_adamax(p, gs, 0.05, 0.8, 0.95, 0.01)),
    ("nadam", lambda: Nadam(0.05, beta_1=0.8, beta_2=0.95, epsilon=0.01),
     lambda p, gs: ref_nadam(p, gs, 0.05, 0.8, 0.95, 0.01)),
]
TOL = {"float32": dict(rtol=2e-5, atol=2e-6), "float64": dict(rtol=1e-11, atol=1e-13)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make, reference", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_update_rule_matches_keras_formula(ops, dtype, make, reference):
    p0, grads = _problem()
    p0, grads = p0.astype(dtype), [g.astype(dtype) for g in grads]
    opt = make()
    p, slots = _run(opt, ops, dtype, p0, grads)
    want_p, want_slots = reference(p0.astype("float64"), [g.astype("float64") for g in grads])
    assert p.dtype == dtype and opt.iterations == STEPS
    assert not np.allclose(p, p0)  # it moved
    np.testing.assert_allclose(p, want_p, **TOL[dtype])
    assert sorted(slots) == sorted(want_slots) == sorted(opt.slot_names)
    for name in want_slots:
        assert slots[name].dtype == dtype
        np.testing.assert_allclose(slots[name], want_slots[name], **TOL[dtype])


def test_defaults_are_keras():
    expected = {
        SGD: dict(learning_rate=0.01, momentum=0.0, nesterov=False),
        RMSprop: dict(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False),
        Adam: dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
        Adagrad: dict(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7),
        Adadelta: dict(learning_rate=0.001, rho=0.95, epsilon=1e-7),
        Adamax: dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
        Nadam: dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
        AdamW: dict(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
    }
    for cls, values in expected.items():
        config = cls().get_config()
        assert {k: config[k] for k in values} == values, cls.__name__
        assert config["name"] == cls.__name__
    assert Adam(epsilon=None).epsilon == B.epsilon()


def test_slot_names_follow_keras_2():
    assert SGD().slot_names == () and SGD(momentum=0.9).slot_names == ("momentum",)
    assert RMSprop().slot_names == ("rms",)
    assert RMSprop(momentum=0.5, centered=True).slot_names == ("rms", "momentum", "mg")
    assert Adam().slot_names == Adamax().slot_names == Nadam().slot_names == AdamW().slot_names == ("m", "v")
    assert Adam(amsgrad=True).slot_names == ("m", "v", "vhat")
    assert Adagrad().slot_names == ("accumulator",) and Adadelta().slot_names == ("accum_grad", "accum_var")


# ---- common arguments ------------------------------------------------------------------------------------

def _segments(x):
    return [x[a:a + int(np.prod(s))] for _, a, s in LAYOUT]


def test_clipvalue_clipnorm_global_clipnorm(ops):
    p0, grads = _problem(1)
    g = grads[0] * 4
    g[12:16] *= 0.01  # the bias's gradient is within clipnorm
    clipped = {
        "clipvalue": np.clip(g, -0.5, 0.5),
        "clipnorm": np.concatenate([s * 1.5 / max(np.linalg.norm(s), 1.5) for s in _segments(g)]),
        "global_clipnorm": g * 2.0 / max(np.linalg.norm(g), 2.0),
    }
    values = {"clipvalue": 0.5, "clipnorm": 1.5, "global_clipnorm": 2.0}
    assert any(np.linalg.norm(s) < 1.5 for s in _segments(g))  # one segment is left alone
    for key, want in clipped.items():
        gdev = _dev(ops, g, "float64")
        opt = SGD(1.0, **{key: values[key]})
        pd = _dev(ops, p0, "float64")
        opt.build(ops, pd, LAYOUT)
        opt.apply(pd, gdev)
        np.testing.assert_allclose(ops.to_host(pd), p0 - want, rtol=1e-12, err_msg=key)
        np.testing.assert_array_equal(ops.to_host(gdev), g)  # the model's gradients are left intact


def test_clipnorm_and_global_clipnorm_together_are_rejected():
    with pytest.raises(ValueError, match="both clipnorm and global_clipnorm"):
        Adam(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match=r"clipnorm >= 0, received clipnorm=-1.0"):
        Adam(clipnorm=-1)


def test_lr_alias_and_keras2_inverse_time_decay(ops):
    opt = SGD(lr=0.5)
    assert float(opt.learning_rate) == 0.5 and float(opt.lr) == 0.5
    p0, grads = _problem(2)
    p, _ = _run(SGD(learning_rate=0.3, decay=0.5), ops, "float64", p0, grads)
    want = p0 - sum(0.3 / (1 + 0.5 * k) * g for k, g in enumerate(grads))
    np.testing.assert_allclose(p, want, rtol=1e-12)
    assert SGD(decay=0.5).get_config()["decay"] == 0.5 and "decay" not in SGD().get_config()
    with pytest.raises(ValueError, match="decay >= 0"):
        SGD(decay=-1)


def test_weight_decay_on_any_optimizer_and_exclusions(ops):
    p0, grads = _problem(3)
    p, _ = _run(SGD(0.1, weight_decay=0.2), ops, "float64", p0, grads)
    want = p0.copy()
    for g in grads:
        want = want - want * 0.2 * 0.1 - 0.1 * g
    np.testing.assert_allclose(p, want, rtol=1e-12)

    opt = AdamW(0.05, weight_decay=0.3)
    opt.exclude_from_weight_decay(var_names=["bias"])
    p, _ = _run(opt, ops, "float64", p0, grads)
    mask = np.ones(N)
    mask[12:16] = 0.0
    want, _ = ref_adam(p0, grads, 0.05, 0.9, 0.999, 1e-7, weight_decay=0.3, decay_mask=mask)
    np.testing.assert_allclose(p, want, rtol=1e-11)
    with pytest.raises(ValueError, match="weight_decay to be a number, received weight_decay=None"):
        AdamW(weight_decay=None)


def test_bad_arguments_name_what_was_expected():
    with pytest.raises(TypeError, match=r"Adam got unexpected keyword argument\(s\) \['momentum'\]"):
        Adam(momentum=0.9)
    with pytest.raises(ValueError, match=r"momentum in \[0.0, 1.0\], received momentum=1.5"):
        SGD(momentum=1.5)
    with pytest.raises(ValueError, match=r"beta_1 in \[0.0, 1.0\), received beta_1=1.0"):
        Adam(beta_1=1.0)
    with pytest.raises(TypeError, match="learning_rate to be a number, received 'fast'"):
        Adam(learning_rate="fast")
    with pytest.raises(TypeError, match="LearningRateScheduler"):
        Adam(learning_rate=lambda step: 0.1)
    with pytest.raises(ValueError, match="learning_rate >= 0, received learning_rate=-0.1"):
        Adam(learning_rate=-0.1)
    with pytest.raises(ValueError, match="ema_momentum"):
        Adam(use_ema=True, ema_momentum=2.0)
    with pytest.raises(ValueError, match="schedule_decay=0.01"):
        Nadam(schedule_decay=0.01)
    with pytest.raises(RuntimeError, match="before build"):
        Adam().apply(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="flat"):
        Adam().build(B.resolve("numpy"), np.zeros((2, 3)), None)


# ---- learning rate as a Keras variable ----------------------------------------------------------------------

def test_learning_rate_reads_like_a_number_and_assigns():
    opt = Adam(0.001)
    B.set_value(opt.lr, 0.01)
    assert B.get_value(opt.learning_rate) == 0.01 and float(opt.learning_rate) == 0.01
    opt.learning_rate.assign(0.02)
    assert opt.lr == 0.02
    opt.learning_rate = 0.03
    opt.lr = opt.lr * 2  # a number back into the setter
    lr = opt.learning_rate
    assert float(lr) == 0.06 and lr * 0.5 == 0.03 and 0.5 * lr == 0.03 and lr / 2 == 0.03 and 1 - lr == 0.94
    assert lr > 0.05 and lr < 0.07 and lr != 0.1 and f"{lr:.3f}" == "0.060"
    assert float(np.float32(2) * lr) == pytest.approx(0.12)
    assert repr(lr) == "<Hyperparameter 'learning_rate' value=0.06>"
    with pytest.raises(ValueError, match="learning_rate >= 0"):
        opt.learning_rate = -1
    assert float(opt.lr) == 0.06  # unchanged by the failed assignment


def test_learning_rate_change_takes_effect_next_step(ops):
    opt = SGD(0.1)
    p = _dev(ops, np.zeros(N), "float64")
    opt.build(ops, p, LAYOUT)
    g = _dev(ops, np.ones(N), "float64")
    opt.apply(p, g)
    B.set_value(opt.learning_rate, 0.5)
    opt.apply(p, g)
    np.testing.assert_allclose(ops.to_host(p), -0.6)


# ---- config, serialize, get ---------------------------------------------------------------------------------

@pytest.mark.parametrize("opt", [SGD(0.2, momentum=0.5, nesterov=True, clipnorm=2.0), RMSprop(0.01, centered=True),
                                 Adam(0.002, amsgrad=True, name="my_adam", clipvalue=1.0), Adagrad(0.3, 0.0),
                                 Adam(0.002, adaptive_epsilon=True, name="adaptive"),
                                 Adadelta(1.0, rho=0.9), Adamax(0.01, decay=0.1), Nadam(0.002),
                                 AdamW(0.01, weight_decay=0.1, global_clipnorm=5.0)], ids=lambda o: o.name)
def test_config_round_trip(opt):
    config = opt.get_config()
    again = type(opt).from_config(config)
    assert again.get_config() == config
    blob = optimizers.serialize(opt)
    assert blob == {"class_name": type(opt).__name__, "config": config}
    restored = optimizers.deserialize(blob)
    assert type(restored) is type(opt) and restored.get_config() == config


def test_get_by_name_config_and_instance():
    for name, cls in [("adam", Adam), ("SGD", SGD), ("RMSprop", RMSprop), ("rmsprop", RMSprop), ("Adagrad", Adagrad),
                      ("adadelta", Adadelta), ("ADAMAX", Adamax), ("nadam", Nadam), ("AdamW", AdamW)]:
        assert type(optimizers.get(name)) is cls
    opt = Adam()
    assert optimizers.get(opt) is opt
    sgd = optimizers.get({"class_name": "SGD", "config": {"learning_rate": 0.1, "momentum": 0.9}})
    assert isinstance(sgd, SGD) and float(sgd.lr) == 0.1 and sgd.momentum == 0.9


def test_get_unknown_names_it_and_lists_valid_names():
    with pytest.raises(ValueError) as info:
        optimizers.get("adamm")
    msg = str(info.value)
    assert "Unknown optimizer 'adamm'" in msg
    for name in ("'adadelta'", "'adagrad'", "'adam'", "'adamax'", "'adamw'", "'nadam'", "'rmsprop'", "'sgd'"):
        assert name in msg
    with pytest.raises(ValueError, match="Unknown optimizer 'Muon'"):  # (Keras 3 has Muon; gpunet does not)
        optimizers.get({"class_name": "Muon", "config": {}})
    with pytest.raises(ValueError, match="Unknown optimizer 42"):
        optimizers.get(42)


def test_keras_configs_load():
    tf_keras_2_21 = {"class_name": "Custom>Adam", "config": {
        "name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
        "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None, "jit_compile": False,
        "is_legacy_optimizer": False, "learning_rate": 0.0010000000474974513, "beta_1": 0.9, "beta_2": 0.999,
        "epsilon": 1e-07, "amsgrad": False}}
    keras_3 = {"module": "keras.optimizers", "class_name": "SGD", "registered_name": None, "config": {
        "name": "sgd", "learning_rate": 0.05000000074505806, "weight_decay": None, "clipnorm": None,
        "global_clipnorm": None, "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
        "ema_overwrite_frequency": None, "loss_scale_factor": None, "gradient_accumulation_steps": None,
        "momentum": 0.9, "nesterov": True}}
    keras_2_0 = {"class_name": "Nadam", "config": {"lr": 0.002, "beta_1": 0.9, "beta_2": 0.999,
                                                   "epsilon": 1e-08, "schedule_decay": 0.004}}
    legacy_tf_keras = {"class_name": "RMSprop", "config": {"name": "RMSprop", "learning_rate": 0.001, "decay": 0.0,
                                                           "rho": 0.9, "momentum": 0.0, "epsilon": 1e-07,
                                                           "centered": False}}
    adam = optimizers.get(tf_keras_2_21)
    assert isinstance(adam, Adam) and float(adam.lr) == pytest.approx(0.001)
    sgd = optimizers.get(keras_3)
    assert isinstance(sgd, SGD) and sgd.nesterov and sgd.name == "sgd" and sgd.slot_names == ("momentum",)
    nadam = optimizers.get(keras_2_0)
    assert float(nadam.lr) == 0.002 and nadam.epsilon == 1e-8 and nadam.decay == 0.0
    assert isinstance(optimizers.get(legacy_tf_keras), RMSprop)
    # tf.keras 2.0-2.10 wrote Nadam's momentum-schedule decay as "decay": 0.004; it never decayed the lr
    assert optimizers.get({"class_name": "Nadam", "config": {"learning_rate": 0.002, "decay": 0.004}}).decay == 0.0


# ---- build, state and exact resume ---------------------------------------------------------------------------

@pytest.mark.parametrize("make", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_state_round_trip_resumes_bit_for_bit(ops, make):
    p0, grads = _problem(4)
    first = make()
    p = _dev(ops, p0, "float32")
    first.build(ops, p, LAYOUT)
    for g in grads[:2]:
        first.apply(p, _dev(ops, g, "float32"))
    first.learning_rate = float(first.learning_rate) * 0.5
    state = first.get_state()
    assert state["iterations"] == 2 and state["learning_rate"] == float(first.learning_rate)
    assert sorted(state["slots"]) == sorted(first.slot_names)
    assert all(isinstance(a, np.ndarray) and a.shape == (N,) for a in state["slots"].values())

    second = make()
    q = ops.copy(p)
    second.build(ops, q, LAYOUT)
    second.set_state(state)
    for g in grads[2:]:
        first.apply(p, _dev(ops, g, "float32"))
        second.apply(q, _dev(ops, g, "float32"))
    np.testing.assert_array_equal(ops.to_host(q), ops.to_host(p))
    assert second.iterations == first.iterations == STEPS
    for name, buf in first.slots().items():
        np.testing.assert_array_equal(ops.to_host(second.slots()[name]), ops.to_host(buf))


def test_nadam_state_carries_m_schedule(ops):
    opt = Nadam()
    p0, grads = _problem(5)
    _run(opt, ops, "float64", p0, grads)
    state = opt.get_state()
    assert state["m_schedule"] == pytest.approx(np.prod([0.9 * (1 - 0.5 * 0.96**t) for t in range(1, STEPS + 1)]))
    del state["m_schedule"]  # an older state: the product is rebuilt from the step count
    other = Nadam()
    other.set_state(state)
    assert other.m_schedule == pytest.approx(opt.m_schedule, rel=1e-15)


def test_set_state_mismatch_is_an_error_and_changes_nothing(ops):
    opt = Adam()
    p = _dev(ops, np.zeros(N), "float32")
    opt.build(ops, p, LAYOUT)
    opt.apply(p, _dev(ops, np.ones(N), "float32"))
    before = opt.get_state()
    bad_size = {"iterations": 7, "learning_rate": 0.5, "slots": {"m": np.zeros(N + 1), "v": np.zeros(N + 1)}}
    with pytest.raises(ValueError, match=r"slot 'm' holds 22 values, the model has 21 trainable parameters"):
        opt.set_state(bad_size)
    bad_names = {"iterations": 7, "slots": {"m": np.zeros(N), "v": np.zeros(N), "vhat": np.zeros(N)}}
    with pytest.raises(ValueError, match=r"has slots \['m', 'v', 'vhat'\].*has \['m', 'v'\]"):
        opt.set_state(bad_names)
    with pytest.raises(ValueError, match="iterations must be a non-negative integer, received -3"):
        opt.set_state({"iterations": -3, "slots": {}})
    after = opt.get_state()
    assert after["iterations"] == 1 and after["learning_rate"] == before["learning_rate"]
    for name in before["slots"]:
        np.testing.assert_array_equal(after["slots"][name], before["slots"][name])


def test_set_state_before_build_is_restored_by_build(ops):
    source = Adagrad()
    p0, grads = _problem(6)
    _run(source, ops, "float64", p0, grads)
    target = Adagrad()
    assert target.get_state() == {"iterations": 0, "learning_rate": 0.001, "slots": {}}
    target.set_state(source.get_state())
    assert target.iterations == STEPS
    target.build(ops, _dev(ops, p0, "float64"), LAYOUT)
    np.testing.assert_array_equal(ops.to_host(target.slots()["accumulator"]),
                                  ops.to_host(source.slots()["accumulator"]))
    late = Adagrad()
    late.set_state(source.get_state())
    with pytest.raises(ValueError, match="holds 21 values, the model has 4"):
        late.build(ops, _dev(ops, np.zeros(4)), None)


def test_rebuild_keeps_slots_of_the_same_size_and_resets_others(ops):
    opt = RMSprop(momentum=0.5)
    p0, grads = _problem(7)
    _run(opt, ops, "float64", p0, grads)
    kept = {k: ops.to_host(v).copy() for k, v in opt.slots().items()}
    opt.build(ops, _dev(ops, p0, "float32"), LAYOUT)  # recompiled, now float32
    for name, value in kept.items():
        assert opt.slots()[name].dtype == np.float32
        np.testing.assert_allclose(ops.to_host(opt.slots()[name]), value, rtol=1e-6)
    assert opt.iterations == STEPS
    opt.build(ops, _dev(ops, np.ones(5)), [("d/kernel", 0, (5,))])
    assert all(ops.to_host(v).tolist() == [0.0] * 5 for v in opt.slots().values())
    adagrad = Adagrad(initial_accumulator_value=0.25)
    adagrad.build(ops, _dev(ops, np.ones(3)), None)
    assert ops.to_host(adagrad.slots()["accumulator"]).tolist() == [0.25] * 3


def test_cupy_backend_keeps_the_update_signatures():
    names = [n for n in vars(OptimizerOps) if n.endswith("_update") or n.startswith("clip_")]
    assert "rmsprop_update" in names and "nadam_update" in names
    for name in names:
        assert inspect.signature(getattr(CupyBackend, name)) == inspect.signature(getattr(Backend, name)), name


# ---- end to end ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adam", "adagrad", "adadelta", "adamax", "nadam", "adamw"])
def test_sequential_trains_with_each_optimizer_by_name(ops, name):
    from gpunet.layers import Dense
    from gpunet.models import Sequential

    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, (64, 3)).astype("float32")
    y = (x @ np.array([[1.5], [-2.0], [0.5]]) + 0.3).astype("float32")
    model = Sequential([Dense(8, input_dim=3, activation="tanh"), Dense(1)])
    model.compile(optimizer=name, loss="mse")
    assert type(model.optimizer) is type(optimizers.get(name))
    history = model.fit(x, y, epochs=5, batch_size=16, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert model.optimizer.iterations == 5 * 4


def test_adaptive_epsilon_keeps_adam_off_the_fused_gpu_update():
    # the GPU plan's kernels take epsilon once; a per-step epsilon must train layer by layer
    from gpunet.backend.gpu_optimizer import optimizer_kind
    assert optimizer_kind(Adam()) == "adam"
    assert optimizer_kind(Adam(adaptive_epsilon=True)) is None
    with pytest.raises(AttributeError):
        Adam().adaptive_epsilon = True  # set at construction only: a built plan could not see a change


@pytest.mark.parametrize("name", [n for n in optimizers.legacy.__all__ if n != "Optimizer"])
def test_code_naming_tf_keras_legacy_optimizers_trains_and_saves_as_it(name, tmp_path):
    """``tf.keras.optimizers.legacy.Adam(lr=0.01, decay=1e-4)`` (tf.keras 2.11+'s name for the Keras 2.10
    optimizers): it trains, and its file names the class and the decay as tf.keras writes them."""
    import h5py
    import json
    from gpunet.layers import Dense
    from gpunet.models import Sequential, load_model

    x = np.random.RandomState(0).uniform(-1, 1, (32, 3)).astype("float32")
    model = Sequential([Dense(1, input_dim=3)])
    decay = 0.004 if name == "Nadam" else 1e-4  # (Nadam's decay: tf.keras's momentum schedule's, 0.004)
    model.compile(optimizer=getattr(optimizers.legacy, name)(lr=0.01, decay=decay), loss="mse")
    model.fit(x, x[:, :1], epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "legacy.h5")
    with h5py.File(tmp_path / "legacy.h5") as f:
        written = json.loads(f.attrs["training_config"])["optimizer_config"]
    assert written["class_name"] == name and written["config"].get("decay", 0.004) == decay
    assert load_model(tmp_path / "legacy.h5").optimizer.iterations == 8
