"""Lion, Adafactor and Ftrl against live tf.keras 2.21 (tf_keras): several steps on the same weights and
gradients give the same weights and slots, their configs are tf.keras's, and the arguments tf.keras
refuses (and a few more) are refused with what was expected and what was received."""
import numpy as np
import pytest

from gpunet import backend as B
from gpunet import optimizers
from gpunet.backend.gpu_optimizer import optimizer_kind
from gpunet.optimizers import Adafactor, Ftrl, Lion, schedules
from keras_support import tf_keras_or_skip

tf_keras = tf_keras_or_skip()
tf = pytest.importorskip("tensorflow")

# 2-D, 1-D, the edge shapes of Adafactor's factoring ((5, 1), (1, 6)), 3-D (factored over the last two), a scalar
SHAPES = [(3, 4), (4,), (5, 1), (2, 3, 4), (1, 6), ()]
LAYOUT, _off = [], 0
for _i, _s in enumerate(SHAPES):
    LAYOUT.append((f"w{_i}", _off, _s))
    _off += int(np.prod(_s))
STEPS = 5
# (id, make, float64 too). tf.keras rounds the hyperparameters it tf.cast()s (rate, Lion's betas, Ftrl's initial
# accumulator) to float32 even for float64 weights, Keras 3 does not: the float64 cases use values float32 holds
# exactly, where both agree (gpunet's float64 steps use its hyperparameters as given, as Keras 3 does).
CASES = [
    ("lion", lambda O: O.Lion(), False),
    ("lion-betas", lambda O: O.Lion(0.0625, beta_1=0.5, beta_2=0.875), True),
    ("lion-beta_1-one", lambda O: O.Lion(0.0625, beta_1=1.0, beta_2=0.0), True),
    ("lion-weight_decay-clipnorm", lambda O: O.Lion(0.0625, 0.75, 0.9375, weight_decay=0.5, clipnorm=1.0), True),
    ("lion-schedule", lambda O: O.Lion(O.schedules.ExponentialDecay(0.125, 2, 0.5, staircase=True)), False),
    ("adafactor", lambda O: O.Adafactor(), False),
    ("adafactor-relative_step", lambda O: O.Adafactor(0.5), True),
    ("adafactor-absolute-clip", lambda O: O.Adafactor(0.25, relative_step=False, clip_threshold=0.5), True),
    ("adafactor-options", lambda O: O.Adafactor(0.125, beta_2_decay=-0.5, epsilon_1=1e-3, epsilon_2=0.5,
                                                relative_step=False, weight_decay=0.25, global_clipnorm=2.0), True),
    ("adafactor-schedule", lambda O: O.Adafactor(O.schedules.ExponentialDecay(0.5, 2, 0.5, staircase=True)), True),
    ("ftrl", lambda O: O.Ftrl(), False),
    ("ftrl-l1-l2", lambda O: O.Ftrl(0.125, initial_accumulator_value=0.125, l1_regularization_strength=0.0625,
                                    l2_regularization_strength=0.25), True),
    ("ftrl-shrinkage-beta", lambda O: O.Ftrl(0.125, l2_shrinkage_regularization_strength=0.125, beta=0.5,
                                             initial_accumulator_value=0.25), True),
    ("ftrl-power-0", lambda O: O.Ftrl(0.0625, learning_rate_power=0.0, l1_regularization_strength=0.125,
                                      initial_accumulator_value=0.0), True),
    ("ftrl-power-clipvalue-decay", lambda O: O.Ftrl(0.125, learning_rate_power=-0.25, clipvalue=0.5,
                                                    weight_decay=0.125, initial_accumulator_value=0.5), True),
    ("ftrl-schedule", lambda O: O.Ftrl(O.schedules.ExponentialDecay(0.25, 2, 0.5, staircase=True)), False),
]
STEP_CASES = [pytest.param(make, "float32", 1e-6, id=f"{name}-float32") for name, make, _ in CASES] + \
    [pytest.param(make, "float64", 1e-9, id=f"{name}-float64") for name, make, f64 in CASES if f64]
# tf.keras's slot lists per class, in gpunet's slot names
TF_SLOTS = {"Lion": {"m": "momentums"}, "Ftrl": {"accumulator": "_accumulators", "linear": "_linears"},
            "Adafactor": {"r": "_r", "c": "_c", "v": "_v"}}


def problem(dtype, seed=0):
    rng = np.random.RandomState(seed)
    p0 = [rng.uniform(-1, 1, s).astype(dtype) for s in SHAPES]
    # small and large gradients, so clipping, epsilons and l1 all show
    grads = [[(rng.normal(0, 1, s) * rng.choice([0.01, 0.3, 3.0], s)).astype(dtype) for s in SHAPES]
             for _ in range(STEPS)]
    return p0, grads


def run_tf_keras(make, p0, grads):
    opt = make(tf_keras.optimizers)
    variables = [tf.Variable(p) for p in p0]
    for gs in grads:
        opt.apply_gradients(zip([tf.constant(g) for g in gs], variables))
    slots = {name: [None if len(s) < 2 and name in ("r", "c") else np.asarray(v.numpy())
                    for v, s in zip(getattr(opt, attr), SHAPES)]
             for name, attr in TF_SLOTS[type(opt).__name__].items()}
    return [v.numpy() for v in variables], slots, int(opt.iterations.numpy())


def run_gpunet(make, ops, p0, grads):
    opt = make(optimizers)
    p = ops.asarray(np.concatenate([x.ravel() for x in p0]))
    opt.build(ops, p, LAYOUT)
    for gs in grads:
        opt.apply(p, ops.asarray(np.concatenate([g.ravel() for g in gs])))
    flat = ops.to_host(p)
    weights = [flat[o:o + int(np.prod(s))].reshape(s) for _, o, s in LAYOUT]
    slots = {}
    for name, buf in opt.slots().items():
        host = ops.to_host(buf)
        slots[name] = [None if seg is None else host[seg[0]:seg[0] + int(np.prod(seg[1]))].reshape(seg[1])
                       for seg in opt.slot_segments(name)]
    return weights, slots, opt.iterations


def close(mine, theirs, rtol):
    """Each element to ``rtol``, relative to itself or to its tensor's largest (tf.keras's float32 pow and
    rsqrt are 1 ulp off the correctly rounded values in a quarter of cases, and Ftrl's ``accum_new^p - accum^p``
    cancels: elements far below their tensor's scale carry that ulp relative to the scale)."""
    assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
    np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=rtol * float(np.max(np.abs(theirs), initial=0.0)))


@pytest.mark.parametrize("make,dtype,rtol", STEP_CASES)
def test_steps_equal_tf_keras(ops, make, dtype, rtol):
    p0, grads = problem(dtype)
    want, want_slots, steps = run_tf_keras(make, p0, grads)
    got, got_slots, iterations = run_gpunet(make, ops, p0, grads)
    assert iterations == steps == STEPS
    for mine, theirs in zip(got, want):
        close(mine, theirs, rtol)
    assert not any(np.array_equal(a, b) for a, b in zip(got, p0) if a.size > 1), "every weight moved"
    assert set(got_slots) == set(want_slots)
    for name in want_slots:
        for mine, theirs in zip(got_slots[name], want_slots[name]):
            if theirs is None:  # Adafactor's r and c: none for a weight of fewer than 2 dimensions
                assert mine is None
            else:
                close(mine, theirs, rtol)


def test_adafactor_factors_2d_weights_and_keeps_1d_second_moments():
    opt = Adafactor()
    assert [opt.slot_shape("r", s) for s in SHAPES] == [(3,), None, (5,), (2, 3), (1,), None]
    assert [opt.slot_shape("c", s) for s in SHAPES] == [(4,), None, (1,), (2, 4), (6,), None]
    assert [opt.slot_shape("v", s) for s in SHAPES] == SHAPES
    p0, grads = problem("float32")
    _, slots, _ = run_gpunet(lambda O: O.Adafactor(), B.resolve("numpy"), p0, grads)
    # the flat buffers hold the factored rows and columns only: 3+5+6+1 = 15 "r", 4+1+8+6 = 19 "c"
    assert sum(a.size for a in slots["r"] if a is not None) == 15
    assert sum(a.size for a in slots["c"] if a is not None) == 19
    r, c, v = slots["r"][0], slots["c"][0], slots["v"][0]
    np.testing.assert_allclose(v, np.outer(r / r.mean(), c), rtol=1e-6)  # v of a 2-D weight is r x c


# ---- configs ----------------------------------------------------------------------------------------------
# Keys tf.keras writes that gpunet does not, for every optimizer: the moving average's (gpunet writes them only
# with use_ema=True) or what Keras 3 rejects on load (jit_compile, is_legacy_optimizer); gpunet accepts them all.
TF_ONLY = {"use_ema", "ema_momentum", "ema_overwrite_frequency", "jit_compile", "is_legacy_optimizer"}
CONFIGS = [
    lambda O: O.Lion(), lambda O: O.Lion(0.003, beta_1=0.8, beta_2=0.95, weight_decay=0.01, name="lion_1"),
    lambda O: O.Adafactor(), lambda O: O.Adafactor(0.01, beta_2_decay=-0.5, epsilon_1=1e-20, epsilon_2=1e-4,
                                                   clip_threshold=2.0, relative_step=False, clipnorm=1.0),
    lambda O: O.Ftrl(), lambda O: O.Ftrl(0.05, learning_rate_power=-0.25, initial_accumulator_value=0.5,
                                         l1_regularization_strength=0.01, l2_regularization_strength=0.02,
                                         l2_shrinkage_regularization_strength=0.03, beta=0.1, clipvalue=2.0,
                                         global_clipnorm=None, weight_decay=0.001),
]


@pytest.mark.parametrize("make", CONFIGS, ids=["lion", "lion-args", "adafactor", "adafactor-args", "ftrl", "ftrl-args"])
def test_config_is_tf_keras_and_round_trips(make):
    mine, theirs = make(optimizers).get_config(), make(tf_keras.optimizers).get_config()
    assert set(theirs) - set(mine) == TF_ONLY and set(mine) <= set(theirs)
    for key, value in mine.items():
        if key == "learning_rate":  # tf.keras reads it back from its float32 variable
            assert np.float32(value) == theirs[key]
        else:
            assert value == theirs[key] and type(value) is type(theirs[key]) or value is theirs[key], key
    opt = make(optimizers)
    assert type(opt).from_config(mine).get_config() == mine
    assert optimizers.deserialize(optimizers.serialize(opt)).get_config() == mine
    # both ways with tf.keras: its config (with its own keys) builds the same gpunet optimizer (its rate read back
    # from float32), and gpunet's config the same tf.keras optimizer
    rebuilt = optimizers.get({"class_name": f"Custom>{type(opt).__name__}", "config": theirs}).get_config()
    assert rebuilt == dict(mine, learning_rate=float(np.float32(mine["learning_rate"])))
    back = getattr(tf_keras.optimizers, type(opt).__name__).from_config(dict(mine)).get_config()
    assert back == theirs


def test_schedule_config_round_trips_through_tf_keras():
    opt = Ftrl(schedules.ExponentialDecay(0.25, 2, 0.5, staircase=True), beta=0.5)
    config = opt.get_config()
    assert config["learning_rate"]["class_name"] == "ExponentialDecay"
    theirs = tf_keras.optimizers.Ftrl.from_config(dict(config))  # (it replaces the rate's dict by the schedule)
    assert float(theirs.learning_rate) == 0.25 and type(theirs._learning_rate).__name__ == "ExponentialDecay"
    again = optimizers.get({"class_name": "Ftrl", "config": theirs.get_config()})
    assert again.get_config() == config and [again.rate_at(t) for t in range(5)] == [0.25, 0.25, 0.125, 0.125, 0.0625]


def test_names_and_keras_configs_resolve():
    for name, cls in [("lion", Lion), ("Lion", Lion), ("LION", Lion), ("adafactor", Adafactor),
                      ("Adafactor", Adafactor), ("ftrl", Ftrl), ("Ftrl", Ftrl)]:
        assert type(optimizers.get(name)) is cls
    keras_3 = {"module": "keras.optimizers", "class_name": "Adafactor", "registered_name": None, "config": {
        "name": "adafactor", "learning_rate": 0.009999999776482582, "weight_decay": None, "clipnorm": None,
        "global_clipnorm": None, "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
        "ema_overwrite_frequency": None, "loss_scale_factor": None, "gradient_accumulation_steps": None,
        "beta_2_decay": -0.8, "epsilon_1": 1e-30, "epsilon_2": 0.001, "clip_threshold": 1.0, "relative_step": True}}
    opt = optimizers.get(keras_3)
    assert isinstance(opt, Adafactor) and opt.name == "adafactor" and opt.relative_step
    lion = optimizers.get({"module": "keras.src.backend.torch.optimizers.torch_lion", "class_name": "Lion",
                           "registered_name": "Lion", "config": {"name": "lion", "learning_rate": 0.001, "beta_1": 0.9,
                                                                 "beta_2": 0.99}})
    assert isinstance(lion, Lion) and float(lion.learning_rate) == 0.001
    # tf.keras's legacy Ftrl (what its .h5 files from 2.10 and earlier hold): float32 numbers, "decay"
    legacy = optimizers.get({"class_name": "Ftrl", "config": {
        "name": "Ftrl", "learning_rate": np.float32(0.01), "decay": 0.0, "initial_accumulator_value": 0.1,
        "learning_rate_power": np.float32(-0.5), "l1_regularization_strength": np.float32(0.0),
        "l2_regularization_strength": np.float32(0.0), "beta": np.float32(0.5),
        "l2_shrinkage_regularization_strength": 0.1}})
    assert isinstance(legacy, Ftrl) and legacy.beta == 0.5 and legacy.learning_rate_power == -0.5
    assert "'lion'" in str(pytest.raises(ValueError, optimizers.get, "lionn").value)


def test_the_gpu_step_plan_knows_lion_and_ftrl_and_leaves_adafactor_to_the_layer_path():
    # no fused kernel knows Adafactor's update: the GPU plan must not build (it would run another
    # optimizer's); Lion and Ftrl have their own (lion_update, ftrl_update), not a user's subclass of them
    for opt in (Adafactor(), type("MyLion", (Lion,), {})(), type("MyFtrl", (Ftrl,), {})()):
        assert optimizer_kind(opt) is None
    assert optimizer_kind(Lion()) == "lion" and optimizer_kind(Ftrl()) == "ftrl"


# ---- bad arguments ----------------------------------------------------------------------------------------
def refused(id_, make, message, tf_refuses):
    return pytest.param(make, message, tf_refuses, id=id_)


# (make, what gpunet's ValueError says, whether tf.keras refuses it too)
REFUSED = [
    refused("lion-beta_1-0", lambda O: O.Lion(beta_1=0.0), r"Lion expects beta_1 in \(0, 1\], received beta_1=0.0",
            True),
    refused("lion-beta_1-1.5", lambda O: O.Lion(beta_1=1.5),
            r"Lion expects beta_1 in \(0, 1\], received beta_1=1.5", True),
    refused("lion-beta_2", lambda O: O.Lion(beta_2=-0.1),
            r"Lion expects beta_2 in \[0.0, 1.0\], received beta_2=-0.1", False),
    refused("ftrl-initial_accumulator_value", lambda O: O.Ftrl(initial_accumulator_value=-0.1),
            r"Ftrl expects initial_accumulator_value >= 0 .*received initial_accumulator_value=-0.1", True),
    refused("ftrl-learning_rate_power", lambda O: O.Ftrl(learning_rate_power=0.5),
            r"Ftrl expects learning_rate_power <= 0 .*received learning_rate_power=0.5", True),
    refused("ftrl-l1", lambda O: O.Ftrl(l1_regularization_strength=-1.0),
            r"Ftrl expects l1_regularization_strength >= 0 .*received l1_regularization_strength=-1.0", True),
    refused("ftrl-l2", lambda O: O.Ftrl(l2_regularization_strength=-1.0),
            r"Ftrl expects l2_regularization_strength >= 0 .*received l2_regularization_strength=-1.0", True),
    refused("ftrl-l2_shrinkage", lambda O: O.Ftrl(l2_shrinkage_regularization_strength=-1.0),
            r"received l2_shrinkage_regularization_strength=-1.0", True),
    refused("ftrl-beta", lambda O: O.Ftrl(beta=-1.0), r"Ftrl expects beta >= 0 .*received beta=-1.0", False),
    refused("adafactor-beta_2_decay", lambda O: O.Adafactor(beta_2_decay=0.5),
            r"Adafactor expects beta_2_decay <= 0 .*received beta_2_decay=0.5", False),
    refused("adafactor-clip_threshold", lambda O: O.Adafactor(clip_threshold=0.0),
            r"Adafactor expects clip_threshold > 0, received clip_threshold=0.0", False),
    refused("adafactor-epsilon_1", lambda O: O.Adafactor(epsilon_1=-1e-30),
            r"Adafactor expects epsilon_1 >= 0, received epsilon_1=-1e-30", False),
    refused("adafactor-epsilon_2", lambda O: O.Adafactor(epsilon_2=-1.0),
            r"Adafactor expects epsilon_2 >= 0, received epsilon_2=-1.0", False),
    refused("lion-learning_rate", lambda O: O.Lion(learning_rate=-0.1),
            r"Lion expects learning_rate >= 0, received learning_rate=-0.1", False),
    refused("lion-clipnorm-global_clipnorm", lambda O: O.Lion(clipnorm=1.0, global_clipnorm=1.0),
            r"Lion cannot accept both clipnorm and global_clipnorm, received clipnorm=1.0, global_clipnorm=1.0", True),
    refused("adafactor-ema_overwrite_frequency", lambda O: O.Adafactor(use_ema=True, ema_overwrite_frequency=2.5),
            r"Adafactor: `ema_overwrite_frequency` must be an integer >= 1 or None", True),
]


@pytest.mark.parametrize("make,message,tf_refuses", REFUSED)
def test_bad_arguments_say_what_was_expected_and_received(make, message, tf_refuses):
    with pytest.raises(ValueError, match=message):
        make(optimizers)
    if tf_refuses:  # where tf.keras validates, it refuses the same values
        with pytest.raises(ValueError):
            make(tf_keras.optimizers)


def test_wrong_types_and_unknown_arguments():
    with pytest.raises(TypeError, match=r"Ftrl expects beta to be a number, received 'big'"):
        Ftrl(beta="big")
    with pytest.raises(TypeError, match=r"Adafactor expects clip_threshold to be a number, received None"):
        Adafactor(clip_threshold=None)
    with pytest.raises(TypeError, match=r"Lion got unexpected keyword argument\(s\) \['beta_3'\]"):
        Lion(beta_3=0.5)
