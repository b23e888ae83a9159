"""gpunet.optimizers.schedules (keras.optimizers.schedules): values and configs equal Keras 3's,
an optimizer follows its schedule step by step on every training path, scheduled optimizers
save, load and resume exactly, and their files go both ways with real Keras."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet.layers import Dense, Dropout
from gpunet.models import Sequential, load_model
from gpunet.optimizers import SGD, Adam, schedules
from keras_support import keras_on_torch

keras = keras_on_torch()

CASES = [
    ("ExponentialDecay", (0.1, 7, 0.5), {}),
    ("ExponentialDecay", (0.1, 7, 0.5), {"staircase": True}),
    ("InverseTimeDecay", (0.1, 5, 0.3), {"staircase": True}),
    ("PiecewiseConstantDecay", ([3, 9], [0.1, 0.05, 0.01]), {}),
    ("PolynomialDecay", (0.1, 10, 0.001, 0.5), {}),
    ("PolynomialDecay", (0.1, 10, 0.001, 2.0), {"cycle": True}),
    ("CosineDecay", (0.1, 20, 0.1), {}),
    ("CosineDecay", (0.01, 20, 0.1), {"warmup_target": 0.1, "warmup_steps": 5}),
    ("CosineDecayRestarts", (0.1, 6, 2.0, 0.8, 0.05), {}),
    ("CosineDecayRestarts", (0.1, 6, 1.0, 0.8), {}),
]


@pytest.mark.parametrize("name, args, kwargs", CASES)
def test_values_and_configs_equal_keras(name, args, kwargs):
    ours = getattr(schedules, name)(*args, **kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(*args, **kwargs)
    steps = range(0, 60)
    # Keras computes in float32; gpunet in float64 on the host
    np.testing.assert_allclose([ours(t) for t in steps], [float(theirs(t)) for t in steps], rtol=5e-6, atol=1e-9)
    assert ours.get_config() == theirs.get_config()
    assert schedules.serialize(ours) == keras.optimizers.schedules.serialize(theirs)
    again = schedules.deserialize(keras.optimizers.schedules.serialize(theirs))
    assert type(again) is type(ours) and again.get_config() == ours.get_config()


def test_an_optimizer_takes_each_steps_rate_from_its_schedule():
    B.set_floatx("float64")
    w0, grads = np.linspace(-1, 1, 6), [np.cos(np.arange(6.0) * k) for k in range(1, 8)]
    lr = schedules.PiecewiseConstantDecay([2, 4], [0.5, 0.25, 0.125])
    ours = SGD(learning_rate=lr, momentum=0.5)
    theirs = keras.optimizers.SGD(learning_rate=keras.optimizers.schedules.PiecewiseConstantDecay(
        [2, 4], [0.5, 0.25, 0.125]), momentum=0.5)
    params, var = B.get_backend().asarray(w0.copy()), keras.Variable(w0.copy(), dtype="float64")
    ours.build(B.get_backend(), params)
    rates = []
    for g in grads:
        rates.append(float(ours.learning_rate))
        ours.apply(params, B.get_backend().asarray(g))
        theirs.apply([keras.ops.convert_to_tensor(g)], [var])
    assert rates == [0.5, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]  # steps 0..2 <= 2, 3..4 <= 4, then the last
    np.testing.assert_allclose(B.get_backend().to_host(params), keras.ops.convert_to_numpy(var), rtol=1e-12)


def test_a_scheduled_rate_cannot_be_assigned_but_a_schedule_can():
    opt = Adam(learning_rate=schedules.ExponentialDecay(0.01, 10, 0.5))
    with pytest.raises(TypeError, match="follows a ExponentialDecay schedule, so it cannot be set to 0.1"):
        opt.learning_rate = 0.1
    with pytest.raises(TypeError, match="cannot be set"):
        B.set_value(opt.lr, 0.1)
    opt.learning_rate = schedules.InverseTimeDecay(0.5, 1, 1.0)
    assert float(opt.learning_rate) == 0.5
    with pytest.raises(TypeError, match=r"is a gpunet.optimizers.schedules.LearningRateSchedule"):
        SGD(learning_rate=lambda: 0.1)
    with pytest.raises(ValueError, match=r"Unknown learning-rate schedule 'Nope'"):
        SGD(learning_rate={"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match=r"decay_steps > 0, received decay_steps=0"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="one more value than boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [0.1])


X = np.random.RandomState(2).rand(60, 4).astype("float32")
Y = (X.sum(axis=1) > 2).astype("float32")


def build(dropout=False):
    gpunet.utils.set_random_seed(3)
    model = Sequential([Dense(6, input_dim=4, activation="relu")] + ([Dropout(0.2)] if dropout else [])
                       + [Dense(1, activation="sigmoid")])
    model.compile(optimizer=Adam(learning_rate=schedules.CosineDecay(0.05, 40, alpha=0.1)),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("ext", [".h5", ".keras"])
@pytest.mark.parametrize("dropout", [False, True], ids=["fused plan", "layer path"])
def test_scheduled_training_resumes_exactly_from_a_file(tmp_path, ext, dropout):
    straight = build(dropout)
    straight.fit(X, Y, batch_size=8, epochs=4, verbose=0)
    model = build(dropout)
    model.fit(X, Y, batch_size=8, epochs=2, verbose=0)
    assert float(model.optimizer.learning_rate) == pytest.approx(schedules.CosineDecay(0.05, 40, alpha=0.1)(16))
    model.save(tmp_path / f"m{ext}")
    loaded = load_model(tmp_path / f"m{ext}")
    assert isinstance(loaded.optimizer.learning_rate.schedule, schedules.CosineDecay)
    assert loaded.optimizer.iterations == 16
    loaded.fit(X, Y, batch_size=8, epochs=4, initial_epoch=2, verbose=0)
    for a, b in zip(loaded.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_files_go_both_ways_with_keras(tmp_path):
    model = build()
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "g.keras")
    k = keras.saving.load_model(tmp_path / "g.keras")
    assert type(k.optimizer.learning_rate).__name__ != "Variable"  # its rate follows the schedule
    assert isinstance(k.optimizer._learning_rate, keras.optimizers.schedules.CosineDecay)
    assert int(k.optimizer.iterations) == 8
    np.testing.assert_allclose(k.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-5, atol=1e-6)

    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)])
    k.compile(optimizer=keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 3, 0.5),
                                             momentum=0.9), loss="mse")
    k.fit(X, Y, batch_size=10, epochs=1, verbose=0)
    k.save(tmp_path / "k.keras")
    ours = load_model(tmp_path / "k.keras")
    assert isinstance(ours.optimizer.learning_rate.schedule, schedules.ExponentialDecay)
    assert ours.optimizer.iterations == 6
    assert float(ours.optimizer.learning_rate) == pytest.approx(0.1 * 0.5 ** 2)
    momentum = ours.optimizer.slots()["momentum"]
    assert float(np.abs(B.get_backend().to_host(momentum)).sum()) > 0  # the slots came with it


def test_the_gpu_plan_writes_each_steps_scheduled_rate_ahead():
    """The plan's device table holds an epoch's per-step scalars, computed on the host before it
    runs: each row is the schedule's rate at that step (emulated plans train with them in
    test_kernel_step_plan's optimizer cases)."""
    from gpunet.backend.gpu_optimizer import StepOptimizer
    opt = SGD(learning_rate=schedules.PiecewiseConstantDecay([1, 2], [0.5, 0.25, 0.125]), momentum=0.5, decay=1.0)
    opt.iterations = 1
    rows = StepOptimizer(opt, None, None, 1).scalars(first_t=opt.iterations + 1, count=3)
    assert rows == [(0.5 / 2, 0.5), (0.25 / 3, 0.5), (0.125 / 4, 0.5)]  # the schedule, then Keras 2's decay


@pytest.mark.gpu
def test_a_scheduled_rate_reads_as_the_next_steps_after_the_gpu_plan_trains():
    """The GPU step plan writes the schedule's rates into its device table ahead of the epoch; the
    optimizer's rate on the host still follows the iterations (callbacks and TensorBoard log it)."""
    from gpunet.backend.gpu_plan import GpuPlan
    with B.use_backend(B.resolve("cupy")):
        model = build()
        model.fit(X, Y, batch_size=8, epochs=2, verbose=0)
    assert isinstance(model._plan, GpuPlan) and model.optimizer.iterations == 16
    assert float(model.optimizer.learning_rate) == pytest.approx(schedules.CosineDecay(0.05, 40, alpha=0.1)(16))
