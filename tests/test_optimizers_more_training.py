"""Lion, Adafactor, Ftrl and Lamb in training: a Dense model fit on NumPy and on the emulated GPU (Lion and Ftrl: the
GPU step plan with their fused updates; Adafactor, which no fused kernel knows, by its own apply between the
step's captured graphs: backend/gpu_optimizer.py) gives the
same weights and History, saving to .h5 / .keras in the middle of
training and going on from the loaded file equals training without the stop, and their state round trips."""
import h5py
import numpy as np
import pytest

import gpunet
import cuda_emulator
from cuda_emulator import EmulatedCupyBackend
from gpunet import backend as B
from gpunet.backend.dense_plan import DensePlan
from gpunet.backend.gpu_graph_plan import GpuGraphPlan
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import Add, BatchNormalization, Dense
from gpunet.models import Model, Sequential, load_model
from gpunet.optimizers import Adafactor, Ftrl, Lamb, Lion, schedules
from gpunet.saving import hdf5_legacy
from strict_cupy import StrictCupyBackend

emulator = cuda_emulator.emulator  # (the fixture)

RNG = np.random.RandomState(3)
X = RNG.normal(size=(40, 5))
Y = np.eye(3)[RNG.randint(0, 3, 40)]
OPTIMIZERS = {
    "lion": lambda: Lion(0.01, weight_decay=0.1),
    "lion-schedule": lambda: Lion(schedules.ExponentialDecay(0.02, 4, 0.5), beta_1=0.8, clipnorm=1.0),
    "adafactor": lambda: Adafactor(0.05),
    "adafactor-absolute": lambda: Adafactor(0.02, relative_step=False, clip_threshold=0.5, global_clipnorm=2.0),
    "ftrl": lambda: Ftrl(0.1, l1_regularization_strength=0.001, l2_regularization_strength=0.01),
    "ftrl-shrinkage-schedule": lambda: Ftrl(schedules.InverseTimeDecay(0.2, 5, 0.5), learning_rate_power=-0.25,
                                            l2_shrinkage_regularization_strength=0.01, beta=0.1, clipvalue=1.0),
    "lamb": lambda: Lamb(0.02, weight_decay=0.01),
}
NAMES = sorted(OPTIMIZERS)


def dense_model(opt, norm=False):
    gpunet.utils.set_random_seed(7)
    layers = [Dense(8, input_dim=5, activation="tanh")] + ([BatchNormalization()] if norm else []) + \
        [Dense(3, activation="softmax")]
    model = Sequential(layers)
    model.compile(optimizer=opt, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def fit(ops, make, dtype):
    B.set_floatx(dtype)
    with B.use_backend(ops):
        model = dense_model(make())
        history = model.fit(X.astype(dtype), Y.astype(dtype), batch_size=8, epochs=3, verbose=0,
                            validation_data=(X[:10].astype(dtype), Y[:10].astype(dtype))).history
        state = model.optimizer.get_state()
        return model, history, model.get_weights(), state


@pytest.mark.parametrize("dtype,rtol", [("float32", 1e-5), ("float64", 1e-9)])
@pytest.mark.parametrize("name", NAMES)
def test_numpy_and_the_emulated_gpu_train_alike(emulator, name, dtype, rtol):
    make = OPTIMIZERS[name]
    ref, history, weights, state = fit(B.resolve("numpy"), make, dtype)
    assert isinstance(ref._plan, DensePlan) and state["iterations"] == 15
    for ops in (EmulatedCupyBackend(emulator), StrictCupyBackend(emulator)):  # (strict: CuPy's rules for arrays)
        model, other, got, other_state = fit(ops, make, dtype)
        # (Lion's, Ftrl's fused updates: kernels/optimizers.cu's lion/ftrl_update; Adafactor's, Lamb's own apply)
        assert isinstance(model._plan, GpuPlan)
        assert (model._plan.optimizer.kind == "own") == name.startswith(("adafactor", "lamb"))
        assert set(other) == set(history)
        for key in history:
            np.testing.assert_allclose(other[key], history[key], rtol=rtol, err_msg=key)
        for a, b in zip(got, weights):
            assert a.dtype == np.dtype(dtype)
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
        assert other_state["iterations"] == 15
        # (Ftrl's linear slot adds accum_new^power - accum^power, which cancels: an ulp of the kernel's pow
        # against NumPy's is an absolute error there)
        slot_atol = rtol * (0.1 if name.startswith("ftrl") else 1e-2)
        for slot, values in state["slots"].items():
            np.testing.assert_allclose(other_state["slots"][slot], values, rtol=rtol, atol=slot_atol)


def test_the_same_model_with_adam_takes_the_gpu_plan(emulator):
    # (the model the tests above train takes the plan with a fused update too)
    with B.use_backend(EmulatedCupyBackend(emulator)):
        model = dense_model("adam")
        model.fit(X.astype("float32"), Y.astype("float32"), batch_size=8, epochs=1, verbose=0)
        assert isinstance(model._plan, GpuPlan)


def residual_model(opt):
    gpunet.utils.set_random_seed(9)
    i = gpunet.Input((5,))
    h = Dense(6, activation="relu")(i)
    out = Dense(3, activation="softmax")(Add()([h, Dense(6, activation="tanh")(h)]))
    model = Model(i, out)
    model.compile(optimizer=opt, loss="categorical_crossentropy")
    return model


@pytest.mark.parametrize("name", ["lion", "adafactor", "ftrl"])
def test_a_graph_the_gpu_graph_plan_takes_with_adam_trains_them_alike(emulator, name):
    x, y = X.astype("float32"), Y.astype("float32")
    with B.use_backend(EmulatedCupyBackend(emulator)):
        adam = residual_model("adam")
        adam.fit(x, y, batch_size=8, epochs=1, verbose=0)
        assert isinstance(adam._plan, GpuGraphPlan)
        gpu = residual_model(OPTIMIZERS[name]())
        gpu_history = gpu.fit(x, y, batch_size=8, epochs=2, verbose=0).history
        assert isinstance(gpu._plan, GpuGraphPlan) and (gpu._plan.optimizer.kind == "own") == (name == "adafactor")
    with B.use_backend("numpy"):
        ref = residual_model(OPTIMIZERS[name]())
        history = ref.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    np.testing.assert_allclose(gpu_history["loss"], history["loss"], rtol=1e-5)
    for a, b in zip(gpu.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("ext", [".h5", ".keras"])
@pytest.mark.parametrize("name", NAMES)
def test_resuming_from_a_file_equals_training_on(tmp_path, name, ext):
    x, y = X.astype("float32"), Y.astype("float32")
    whole = dense_model(OPTIMIZERS[name](), norm=True)  # (BatchNormalization's 1-D weights: Adafactor's unfactored)
    whole_history = whole.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0).history
    first = dense_model(OPTIMIZERS[name](), norm=True)
    history = first.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    first.save(tmp_path / ("m" + ext))
    loaded = load_model(tmp_path / ("m" + ext))
    assert type(loaded.optimizer) is type(first.optimizer) and loaded.optimizer.iterations == 10
    assert loaded.optimizer.get_config() == first.optimizer.get_config()
    more = loaded.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    for a, b in zip(loaded.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(a, b)
    for key in whole_history:
        assert history[key] + more[key] == whole_history[key], key
    state, whole_state = loaded.optimizer.get_state(), whole.optimizer.get_state()
    assert state["iterations"] == whole_state["iterations"] == 20
    assert state["learning_rate"] == whole_state["learning_rate"]
    for slot in whole_state["slots"]:
        np.testing.assert_array_equal(state["slots"][slot], whole_state["slots"][slot])


def test_compile_by_name_trains():
    for name, cls in (("lion", Lion), ("Adafactor", Adafactor), ("ftrl", Ftrl)):
        model = dense_model(name)
        before = model.get_weights()
        model.fit(X.astype("float32"), Y.astype("float32"), batch_size=8, epochs=1, verbose=0)
        assert type(model.optimizer) is cls and model.optimizer.iterations == 5
        assert all(not np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_h5_lists_the_optimizer_weights_in_keras_order(tmp_path):
    # Ftrl: tf.keras's legacy Ftrl list (iter, then accumulator and linear per weight), which it restores by
    # position; Lion, Adafactor (no legacy form): Keras 3's list, with Adafactor's scalar placeholders
    expected = {
        "Ftrl": ["Ftrl/iter:0"] + [f"Ftrl/{w}/{s}:0" for w in ("dense/kernel", "dense/bias", "dense_1/kernel",
                                                                 "dense_1/bias") for s in ("accumulator", "linear")],
        "Lion": ["Lion/iter:0", "Lion/learning_rate:0"] + [
            f"Lion/{w}/m:0" for w in ("dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias")],
        "Adafactor": ["Adafactor/iter:0", "Adafactor/learning_rate:0"] + [
            f"Adafactor/{w}/{s}:0" for w in ("dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias")
            for s in ("r", "c", "v")],
    }
    shapes = {"dense/kernel": {"r": (5,), "c": (8,), "v": (5, 8)}, "dense/bias": {"r": (), "c": (), "v": (8,)},
              "dense_1/kernel": {"r": (8,), "c": (3,), "v": (8, 3)}, "dense_1/bias": {"r": (), "c": (), "v": (3,)}}
    for cls in (Ftrl, Lion, Adafactor):
        gpunet.layers.naming.reset_names()
        model = dense_model(cls())
        model.fit(X.astype("float32"), Y.astype("float32"), batch_size=8, epochs=1, verbose=0)
        model.save(tmp_path / "m.h5")
        with h5py.File(tmp_path / "m.h5", "r") as f:
            group = f["optimizer_weights"]
            names = hdf5_legacy.load_attributes(group, "weight_names")
            arrays = {n: group[n][()] for n in names}
        assert names == expected[cls.__name__]
        assert int(arrays[names[0]]) == 5
        if cls is Adafactor:
            for name in names[2:]:
                path, slot = name[len("Adafactor/"):-2].rsplit("/", 1)
                assert arrays[name].shape == shapes[path][slot], name
                if shapes[path][slot] == ():
                    assert arrays[name].dtype == np.int32 and arrays[name] == 0  # Keras 3's placeholder


def test_state_round_trip_and_mismatches_name_the_sizes():
    ops = B.resolve("numpy")
    layout = [("a/kernel", 0, (3, 4)), ("a/bias", 12, (4,)), ("b/kernel", 16, (2, 3, 2))]
    rng = np.random.RandomState(0)
    p, q = ops.asarray(rng.normal(size=28)), None
    first = Adafactor(0.1)
    first.build(ops, p, layout)
    assert {k: v.shape for k, v in first.slots().items()} == {"r": (3 + 6,), "c": (4 + 4,), "v": (28,)}
    for _ in range(2):
        first.apply(p, ops.asarray(rng.normal(size=28)))
    state = first.get_state()
    second, q = Adafactor(0.1), p.copy()
    second.set_state(state)  # before build: kept until build
    second.build(ops, q, layout)
    for _ in range(2):
        g = ops.asarray(rng.normal(size=28))
        first.apply(p, g)
        second.apply(q, g.copy())
    np.testing.assert_array_equal(q, p)
    bad = dict(state, slots=dict(state["slots"], r=np.zeros(12)))
    with pytest.raises(ValueError, match=r"slot 'r' holds 12 values, this Adafactor needs 9 over the model's 28"):
        second.set_state(bad)
    # built again over another layout: the slots whose size still fits are kept, the others start afresh
    second.build(ops, q, [("a/kernel", 0, (12, 2)), ("b/kernel", 24, (4,))])
    assert second.slots()["r"].shape == (12,) and not second.slots()["r"].any()
    np.testing.assert_array_equal(second.slots()["v"], first.slots()["v"])
