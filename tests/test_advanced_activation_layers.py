"""Keras 2's advanced activation layers (gpunet/layers/advanced_activations.py): LeakyReLU, ReLU,
ELU, Softmax, ThresholdedReLU and PReLU. Their values and gradients, tf.keras's subgradients at
the kinks, Keras 2 and Keras 3 configs, saving, and training: a ``Dense(8)`` followed by one of
them trains on the fused plans (NumPy's and the GPU's, kernels emulated) exactly as
``Dense(8, activation=<the same activation with its parameters>)``, and as the layer path."""
import warnings

import numpy as np
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend.dense_plan import DensePlan
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import ELU, Dense, LeakyReLU, PReLU, ReLU, Softmax, ThresholdedReLU
from gpunet.models import Sequential, load_model, model_from_json, model_from_yaml
from gpunet.testing import check_gradient, numeric_gradient


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# (layer, its formula in NumPy, kinks to keep finite differences away from)
FORMULAS = {
    "leaky-default": (lambda: LeakyReLU(), lambda x: np.where(x > 0, x, 0.3 * x), (0,)),
    "leaky-0.1": (lambda: LeakyReLU(alpha=0.1), lambda x: np.where(x > 0, x, 0.1 * x), (0,)),
    "leaky-keras3": (lambda: LeakyReLU(negative_slope=0.2), lambda x: np.where(x > 0, x, 0.2 * x), (0,)),
    "relu": (lambda: ReLU(), lambda x: np.maximum(x, 0), (0,)),
    "relu-max": (lambda: ReLU(max_value=1.5), lambda x: np.clip(x, 0, 1.5), (0, 1.5)),
    "relu6": (lambda: ReLU(max_value=6), lambda x: np.clip(x, 0, 6), (0, 6)),
    "relu-slope": (lambda: ReLU(negative_slope=0.2), lambda x: np.where(x > 0, x, 0.2 * x), (0,)),
    "relu-all": (lambda: ReLU(max_value=1.5, negative_slope=0.05, threshold=0.1),
                 lambda x: np.where(x > 0.1, np.minimum(x, 1.5), 0.05 * (x - 0.1)), (0.1, 1.5)),
    "elu": (lambda: ELU(), lambda x: np.where(x > 0, x, np.expm1(x)), (0,)),
    "elu-0.5": (lambda: ELU(alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x)), (0,)),
    "softmax": (lambda: Softmax(), _softmax, ()),
    "softmax-axis1": (lambda: Softmax(axis=1), lambda x: _softmax(x, 1), ()),
    "softmax-axes": (lambda: Softmax(axis=[1, 2]), lambda x: _softmax(x, (1, 2)), ()),
    "thresholded": (lambda: ThresholdedReLU(theta=0.2), lambda x: np.where(x > 0.2, x, 0), (0.2,)),
    "prelu": (lambda: PReLU(alpha_initializer=gpunet.initializers.Constant(0.25)),
              lambda x: np.where(x > 0, x, 0.25 * x), (0,)),
}


def _input(kinks, seed=0, shape=(4, 3, 5)):
    x = np.random.default_rng(seed).uniform(-3, 8, shape)
    for k in kinks:  # finite differences need each value at least 1e-2 away from a kink
        x = np.where(np.abs(x - k) < 1e-2, x + 0.05, x)
    return x


@pytest.mark.parametrize("case", sorted(FORMULAS))
def test_values_match_the_formulas(ops, case):
    make, formula, kinks = FORMULAS[case]
    for dtype in ("float32", "float64"):
        B.set_floatx(dtype)
        x = _input(kinks).astype(dtype)
        y = ops.to_host(make()(x))
        assert y.dtype == dtype
        np.testing.assert_allclose(y, formula(x), rtol=1e-6 if dtype == "float32" else 1e-14, atol=1e-7)


@pytest.mark.parametrize("case", sorted(FORMULAS))
def test_gradients_by_finite_differences(ops, f64, case):
    make, _, kinks = FORMULAS[case]
    layer, x = make(), _input(kinks, seed=1)
    layer.build((None,) + x.shape[1:])
    for w in layer.trainable_weights:
        w.grad = ops.zeros(w.shape, w.value.dtype)
    check_gradient(lambda v: ops.to_host(layer.forward(ops.asarray(v), training=True)),
                   lambda dy: ops.to_host(layer.backward(ops.asarray(dy))), x)


@pytest.mark.parametrize("shared_axes", [None, [1], [1, 2]])
def test_prelu_alpha_gradient(ops, f64, shared_axes):
    layer = PReLU(alpha_initializer=gpunet.initializers.RandomUniform(0.1, 0.5, seed=3), shared_axes=shared_axes)
    x = _input((0,), seed=2)
    layer.build((None,) + x.shape[1:])
    assert layer.alpha.shape == tuple(1 if i + 1 in (shared_axes or ()) else d for i, d in enumerate(x.shape[1:]))
    layer.alpha.grad = ops.zeros(layer.alpha.shape, "float64")
    dy = np.random.default_rng(4).standard_normal(x.shape)
    layer.forward(ops.asarray(x), training=True)
    layer.backward(ops.asarray(dy))
    alpha = ops.to_host(layer.alpha.value).copy()

    def loss():
        layer.alpha.value[...] = ops.asarray(alpha)
        return float(np.sum(ops.to_host(layer.forward(ops.asarray(x))) * dy))
    np.testing.assert_allclose(ops.to_host(layer.alpha.grad), numeric_gradient(loss, alpha), rtol=1e-6, atol=1e-8)


# tf.keras 2.21 (tf_keras) on x = [-1, 0, 0.1, 0.5, 1.5, 2, 6], float32: the outputs and the
# gradient of their sum, subgradients at the kinks included.
KINKS_X = [-1.0, 0.0, 0.1, 0.5, 1.5, 2.0, 6.0]
TF_KERAS_AT_KINKS = [
    (lambda: LeakyReLU(alpha=0.1), [-0.1, 0.0, 0.1, 0.5, 1.5, 2.0, 6.0], [0.1, 0.1, 1, 1, 1, 1, 1]),
    (lambda: ReLU(), [0.0, 0.0, 0.1, 0.5, 1.5, 2.0, 6.0], [0, 0, 1, 1, 1, 1, 1]),
    (lambda: ReLU(max_value=6.0), [0.0, 0.0, 0.1, 0.5, 1.5, 2.0, 6.0], [0, 0, 1, 1, 1, 1, 0]),
    (lambda: ReLU(negative_slope=0.2), [-0.2, 0.0, 0.1, 0.5, 1.5, 2.0, 6.0], [0.2, 0.2, 1, 1, 1, 1, 1]),
    (lambda: ReLU(max_value=1.5, negative_slope=0.05, threshold=0.1), [-0.055, -0.005, 0.0, 0.5, 1.5, 1.5, 1.5],
     [0.05, 0.05, 0, 1, 1, 0, 0]),
    (lambda: ReLU(threshold=0.5), [0.0, 0.0, 0.0, 0.0, 1.5, 2.0, 6.0], [0, 0, 0, 0, 1, 1, 1]),
    (lambda: ELU(alpha=0.5), [-0.3160603, 0.0, 0.1, 0.5, 1.5, 2.0, 6.0], [0.18393972516, 0.5, 1, 1, 1, 1, 1]),
    (lambda: ThresholdedReLU(theta=0.5), [0.0, 0.0, 0.0, 0.0, 1.5, 2.0, 6.0], [0, 0, 0, 0, 1, 1, 1]),
]


@pytest.mark.parametrize("make, want_y, want_dx", TF_KERAS_AT_KINKS)
def test_values_and_subgradients_at_the_kinks_are_tf_keras(ops, make, want_y, want_dx):
    layer = make()
    x = np.array([KINKS_X], "float32")
    y = ops.to_host(layer(x))
    dx = ops.to_host(layer.backward(ops.ones(x.shape, "float32")))
    np.testing.assert_allclose(y[0], want_y, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dx[0], want_dx, rtol=1e-6)


def test_the_old_module_path_and_keras_names():
    from gpunet.layers import advanced_activations
    assert advanced_activations.LeakyReLU is LeakyReLU and advanced_activations.PReLU is PReLU
    names = [c().name for c in (LeakyReLU, ReLU, ELU, Softmax, ThresholdedReLU, PReLU)]
    assert names == ["leaky_re_lu", "re_lu", "elu", "softmax", "thresholded_re_lu", "p_re_lu"]  # as tf.keras
    assert LeakyReLU().alpha == 0.3 and ELU().alpha == 1.0 and ThresholdedReLU().theta == 1.0


def test_arguments_are_checked_as_keras_checks_them():
    for bad in (lambda: ReLU(max_value=-1), lambda: ReLU(negative_slope=-0.1), lambda: ReLU(threshold=-1),
                lambda: ReLU(negative_slope=None), lambda: LeakyReLU(alpha=None), lambda: ELU(alpha=None),
                lambda: ThresholdedReLU(theta=-0.5), lambda: LeakyReLU(alpha=0.1, negative_slope=0.2),
                lambda: Softmax(axis=1.5), lambda: Softmax(axis=[])):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError, match="shared axis 3"):
        PReLU(shared_axes=3).build((None, 4, 2))


# ---- configs -----------------------------------------------------------------------------------
def test_config_round_trip():
    for layer in (LeakyReLU(0.1), ReLU(2.0, 0.1, 0.3), ReLU(), ELU(0.4), Softmax(axis=[1, 2]), ThresholdedReLU(0.7),
                  PReLU(alpha_regularizer="l2", alpha_constraint="non_neg", shared_axes=[1])):
        config = layer.get_config()
        again = type(layer).from_config(config)
        assert again.get_config() == config
        if hasattr(layer, "activation"):
            assert again.activation == layer.activation
    assert LeakyReLU(0.1, name="l").get_config() == {"name": "l", "trainable": True, "dtype": "float32", "alpha": 0.1}
    assert ReLU().get_config()["max_value"] is None
    assert Softmax(robust_masking=True).get_config()["robust_masking"] is True  # (only written when true)


def test_the_activation_each_layer_computes():
    """What the fused plans fold in: tf.keras's backend.relu picks leaky_relu and relu6 as here."""
    specs = {LeakyReLU(0.1): ("leaky_relu", {"alpha": 0.1}), ReLU(): ("relu", {}), ReLU(6): ("relu6", {}),
             ReLU(negative_slope=0.2): ("leaky_relu", {"alpha": 0.2}),
             ReLU(1.5, 0.05, 0.1): ("relu", {"alpha": 0.05, "max_value": 1.5, "threshold": 0.1}),
             ELU(): ("elu", {}), ELU(0.5): ("elu", {"alpha": 0.5}), Softmax(): ("softmax", {}),
             Softmax(axis=[-1]): ("softmax", {}), Softmax(axis=0): ("softmax", {"axis": 0}),
             ThresholdedReLU(0.2): ("relu", {"threshold": 0.2})}
    for layer, (name, params) in specs.items():
        assert (layer.activation.name, layer.activation.params) == (name, params)
        assert layer.activation is layer.activation  # one object while the arguments stay
    layer = LeakyReLU(0.1)
    before = layer.activation
    layer.alpha = 0.25
    assert layer.activation is not before and layer.activation.params == {"alpha": 0.25}


# A Sequential of these layers as tf.keras 2.x writes it (floats through float32), and as Keras 3 does.
KERAS2_JSON = """{"class_name": "Sequential", "config": {"name": "sequential", "layers": [
 {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 4], "dtype": "float32", "sparse": false,
  "ragged": false, "name": "dense_input"}},
 {"class_name": "Dense", "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 6,
  "activation": "linear", "use_bias": true, "kernel_initializer": {"class_name": "GlorotUniform", "config":
  {"seed": null}}, "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": null,
  "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}},
 {"class_name": "LeakyReLU", "config": {"name": "leaky_re_lu", "trainable": true, "dtype": "float32",
  "alpha": 0.30000001192092896}},
 {"class_name": "ReLU", "config": {"name": "re_lu", "trainable": true, "dtype": "float32", "max_value": 6.0,
  "negative_slope": 0.0, "threshold": 0.0}},
 {"class_name": "ELU", "config": {"name": "elu", "trainable": true, "dtype": "float32", "alpha": 0.5}},
 {"class_name": "ThresholdedReLU", "config": {"name": "thresholded_re_lu", "trainable": true, "dtype": "float32",
  "theta": 0.10000000149011612}},
 {"class_name": "PReLU", "config": {"name": "p_re_lu", "trainable": true, "dtype": "float32", "alpha_initializer":
  {"class_name": "Zeros", "config": {}}, "alpha_regularizer": null, "alpha_constraint": null, "shared_axes": null}},
 {"class_name": "Softmax", "config": {"name": "softmax", "trainable": true, "dtype": "float32", "axis": -1}}]},
 "keras_version": "2.15.0", "backend": "tensorflow"}"""


def _keras3_entry(cls, config):
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
    return {"module": "keras.layers", "class_name": cls, "registered_name": None,
            "config": dict(config, trainable=True, dtype=policy)}


def test_keras2_and_keras3_configs_load():
    import json
    model = model_from_json(KERAS2_JSON)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "LeakyReLU", "ReLU", "ELU", "ThresholdedReLU", "PReLU", "Softmax"]
    assert model.layers[1].alpha == pytest.approx(0.3) and model.layers[2].activation.name == "relu6"
    assert model.layers[5].alpha.shape == (6,)
    keras3 = {"module": "keras", "class_name": "Sequential", "registered_name": None, "config": {
        "name": "seq", "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
             "config": {"batch_shape": [None, 4], "dtype": "float32", "sparse": False, "name": "input_layer"}},
            _keras3_entry("Dense", {"name": "d", "units": 5}),
            _keras3_entry("LeakyReLU", {"name": "leaky", "negative_slope": 0.15}),
            _keras3_entry("ReLU", {"name": "relu", "max_value": None, "negative_slope": 0.1, "threshold": 0.2}),
            _keras3_entry("ELU", {"name": "elu", "alpha": 0.6}),
            _keras3_entry("PReLU", {"name": "prelu", "alpha_initializer": {
                "module": "keras.initializers", "class_name": "Constant", "config": {"value": 0.3},
                "registered_name": None}, "alpha_regularizer": None, "alpha_constraint": None, "shared_axes": None}),
            _keras3_entry("Softmax", {"name": "softmax", "axis": -1})]}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every key is known
        model = model_from_json(json.dumps(keras3))
    leaky, relu, elu, prelu = model.layers[1:5]
    assert leaky.alpha == 0.15 and leaky.get_config()["alpha"] == 0.15
    assert (relu.max_value, relu.negative_slope, relu.threshold, elu.alpha) == (None, 0.1, 0.2, 0.6)
    np.testing.assert_array_equal(prelu.get_weights()[0], np.full(5, 0.3, "float32"))


# ---- training on the fused plans -----------------------------------------------------------------
FOLDABLE = {
    "leaky": lambda: LeakyReLU(0.1),
    "relu-all": lambda: ReLU(max_value=1.5, negative_slope=0.05, threshold=0.1),
    "relu-slope": lambda: ReLU(negative_slope=0.2),
    "relu6": lambda: ReLU(max_value=6),
    "elu": lambda: ELU(0.5),
    "thresholded": lambda: ThresholdedReLU(0.2),
    "softmax-out": lambda: Softmax(),
}
OPS = {"numpy": lambda emu: B.resolve("numpy"), "gpu": lambda emu: EmulatedCupyBackend(emu)}
PLAN = {"numpy": DensePlan, "gpu": GpuPlan}
RNG = np.random.default_rng(11)
X = RNG.standard_normal((61, 5))
Y_BINARY = (X[:, :2].sum(1, keepdims=True) + 0.3 * RNG.standard_normal((61, 1)) > 0).astype("float64")
Y_CLASSES = np.eye(3)[RNG.integers(0, 3, 61)]


def _net(case, ops, joined=False):
    """Dense(8) then the case's layer (or, ``joined``, Dense(8) computing that activation itself)
    then the output; with "softmax-out" the layer is the output's softmax."""
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        act = FOLDABLE[case]()
        if case == "softmax-out":
            body = [Dense(8, input_dim=5, activation="tanh")]
            layers = body + ([Dense(3, activation=act.activation)] if joined else [Dense(3), act])
            loss = "categorical_crossentropy"
        else:
            body = [Dense(8, input_dim=5, activation=act.activation)] if joined else [Dense(8, input_dim=5), act]
            layers, loss = body + [Dense(1, activation="sigmoid")], "binary_crossentropy"
        net = Sequential(layers)
        net.compile(optimizer=gpunet.optimizers.Adam(0.01), loss=loss, metrics=["accuracy"])
    return net


def _train(net, ops, case, epochs=3, change=None):
    y = Y_CLASSES if case == "softmax-out" else Y_BINARY
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(9)
        history = net.fit(X, y, batch_size=16, epochs=epochs, verbose=0).history
        if change is not None:
            change(net)
            history2 = net.fit(X, y, batch_size=16, epochs=1, verbose=0).history
            history = {k: history[k] + history2[k] for k in history}
        return history, net.predict(X, batch_size=16, verbose=0), net.evaluate(X, y, verbose=0), net.get_weights()


@pytest.mark.parametrize("case", sorted(FOLDABLE))
@pytest.mark.parametrize("backend", ["numpy", "gpu"])
def test_the_layer_trains_folded_exactly_as_the_dense_activation(emulator, backend, f64, case):
    ops = OPS[backend](emulator)
    separate, joined = _net(case, ops), _net(case, ops, joined=True)
    got, want = _train(separate, ops, case), _train(joined, ops, case)
    assert isinstance(separate._plan, PLAN[backend]), "the fused plan trained it"
    assert got[0] == want[0]  # histories, bit for bit
    np.testing.assert_array_equal(got[1], want[1])
    assert got[2] == want[2]
    for a, b in zip(got[3], want[3]):
        np.testing.assert_array_equal(a, b)
    if backend == "gpu":
        assert separate._gpu_forward, "predict and evaluate ran on the GPU inference plan"
        reference = _train(_net(case, B.resolve("numpy")), B.resolve("numpy"), case)  # the NumPy plan
        for key in got[0]:
            np.testing.assert_allclose(got[0][key], reference[0][key], rtol=1e-9, err_msg=key)
        np.testing.assert_allclose(got[1], reference[1], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", sorted(FOLDABLE))
def test_the_plan_trains_as_the_layer_path(f64, case):
    ops = B.resolve("numpy")
    plan, layers = _net(case, ops), _net(case, ops)
    layers._train_plan = lambda: None  # what fit does for a model the plan does not cover

    def change(net):  # a changed argument reaches the plan (it is rebuilt), as the layer path sees it
        act = net.layers[-1] if case == "softmax-out" else net.layers[1]
        if hasattr(act, "alpha"):
            act.alpha = 0.3
        elif hasattr(act, "theta"):
            act.theta = 0.4
        elif isinstance(act, ReLU):
            act.threshold = 0.3
    got, want = _train(plan, ops, case, change=change), _train(layers, ops, case, change=change)
    assert isinstance(plan._plan, DensePlan) and not layers._plan
    for key in want[0]:
        np.testing.assert_allclose(got[0][key], want[0][key], rtol=1e-12, err_msg=key)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-11, atol=1e-13)
    for a, b in zip(got[3], want[3]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_prelu_trains_on_the_graph_step(f64):
    ops = B.resolve("numpy")
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(3)
        net = Sequential([Dense(6, input_dim=5), PReLU(alpha_initializer=gpunet.initializers.Constant(0.2)),
                          Dense(1, activation="sigmoid")])
        net.compile(optimizer=gpunet.optimizers.SGD(0.1), loss="binary_crossentropy")
        before = net.layers[1].get_weights()[0].copy()
        history = net.fit(X, Y_BINARY, batch_size=16, epochs=3, verbose=0).history
    assert type(net._plan).__name__ == "GraphPlan"  # (its own forward and backward, inside NumPy's graph step)
    assert history["loss"][-1] < history["loss"][0]
    assert not np.array_equal(net.layers[1].get_weights()[0], before), "alpha trained"


# ---- saving ------------------------------------------------------------------------------------------
def _all_layers_model():
    gpunet.utils.set_random_seed(4)
    net = Sequential([Dense(6, input_dim=5), LeakyReLU(0.1), Dense(6), ReLU(2.0, 0.05, 0.1), Dense(6), ELU(0.7),
                      PReLU(alpha_initializer="ones", alpha_constraint="non_neg"), Dense(6), ThresholdedReLU(0.05),
                      Dense(3), Softmax()])
    net.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    net.fit(X, Y_CLASSES, batch_size=16, epochs=2, verbose=0)
    return net


@pytest.mark.parametrize("how", [".h5", ".keras", "json", "yaml"])
def test_save_and_load_round_trip(tmp_path, how):
    net = _all_layers_model()
    want = net.predict(X, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if how.startswith("."):
            net.save(tmp_path / ("m" + how))
            again = load_model(tmp_path / ("m" + how))
        else:
            net.save_weights(tmp_path / "w.h5")
            again = (model_from_json if how == "json" else model_from_yaml)(
                net.to_json() if how == "json" else net.to_yaml())
            again.load_weights(tmp_path / "w.h5")
    assert [type(a) for a in again.layers] == [type(b) for b in net.layers]
    def configs(model):  # (a .keras archive holds the input shape in an InputLayer instead)
        return [{k: v for k, v in layer.get_config().items() if k != "batch_input_shape"} for layer in model.layers]
    assert configs(again) == configs(net)
    np.testing.assert_array_equal(again.predict(X, verbose=0), want)
    if how.startswith("."):  # compiled, with the optimizer state: training continues as it would have
        for model in (net, again):
            gpunet.utils.set_random_seed(1)
            model.fit(X, Y_CLASSES, batch_size=16, epochs=1, verbose=0)
        for a, b in zip(again.get_weights(), net.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_keras3_writes_leaky_relu_with_its_own_argument_name(tmp_path):
    import json
    import zipfile
    net = Sequential([Dense(2, input_dim=3), LeakyReLU(0.1)])
    net.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        layers = json.loads(zf.read("config.json"))["config"]["layers"]
    assert layers[-1]["class_name"] == "LeakyReLU" and layers[-1]["config"]["negative_slope"] == 0.1
    assert "alpha" not in layers[-1]["config"]
    assert load_model(tmp_path / "m.keras").layers[-1].alpha == 0.1


def test_keras3_loads_the_layers_and_metrics(tmp_path):
    from keras_support import keras_on_torch
    keras = keras_on_torch()
    gpunet.utils.set_random_seed(4)
    net = Sequential([Dense(6, input_dim=5), LeakyReLU(0.1), Dense(6), ReLU(2.0, 0.05, 0.1), Dense(6), ELU(0.7),
                      PReLU(alpha_initializer="ones"), Dense(3), Softmax()])
    net.compile(optimizer="adam", loss="categorical_crossentropy",
                metrics=["AUC", gpunet.metrics.Precision(thresholds=0.4), gpunet.metrics.Recall(top_k=1)])
    net.fit(X, Y_CLASSES, batch_size=16, epochs=2, verbose=0)
    x = X.astype("float32")
    for ext in (".keras", ".h5"):
        net.save(tmp_path / ("m" + ext))
        k = keras.models.load_model(str(tmp_path / ("m" + ext)))
        np.testing.assert_allclose(np.asarray(k.predict(x, verbose=0)), net.predict(x, verbose=0), atol=1e-5)
