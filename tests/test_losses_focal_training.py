"""The focal crossentropies in training (NumPy and the emulated GPU alike), in files (h5 and .keras, to and
from tf.keras 2.21), as names and configs (tf.keras 2's and Keras 3's), and their errors for bad arguments."""
import warnings

import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet import losses
from gpunet.backend import step_kernels
from gpunet.layers import Dense
from gpunet.models import Sequential, load_model

import cuda_emulator
from cuda_emulator import EmulatedCupyBackend
from keras_support import tf_keras_or_skip
from test_losses_focal import ALPHA4, BINARY, CASES, CATEGORICAL, P_B, P_C, Y_B, Y_C, _check_close, _pair

tf_keras = tf_keras_or_skip()
tf = pytest.importorskip("tensorflow")
emulator = cuda_emulator.emulator  # the fixture (kernels built once per session)


# ---- training --------------------------------------------------------------------------------------------------
X_FIT = np.random.default_rng(3).normal(size=(80, 5))
Y_FIT = np.eye(3)[(X_FIT[:, 0] > 0).astype(int) + (X_FIT[:, 1] > 0.4).astype(int)]
W_FIT = np.random.default_rng(4).uniform(0.2, 2.0, 80)
FIT_CASES = {  # name: (loss, output activation, targets, sample weights)
    "binary": (lambda: losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.6), "sigmoid",
               Y_FIT[:, :1], None),
    "binary_by_name_weighted": (lambda: "binary_focal_crossentropy", "sigmoid", Y_FIT[:, 2:], W_FIT),
    "binary_from_logits": (lambda: losses.BinaryFocalCrossentropy(from_logits=True, gamma=1.5, label_smoothing=0.1),
                           "linear", Y_FIT, W_FIT),
    "categorical": (lambda: losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.3, 0.5]), "softmax", Y_FIT, None),
    "categorical_from_logits": (lambda: {"class_name": "CategoricalFocalCrossentropy",
                                         "config": {"from_logits": True, "gamma": 3.0}}, "linear", Y_FIT, W_FIT),
}


def _fit(ops, case):
    make, activation, y, w = FIT_CASES[case]
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(7)
        model = Sequential([Dense(8, input_dim=5, activation="tanh"), Dense(y.shape[1], activation=activation)])
        model.compile(optimizer=gpunet.optimizers.Adam(0.02), loss=make())
        history = model.fit(X_FIT, y, sample_weight=w, epochs=6, batch_size=16, shuffle=False, verbose=0).history
        evaluated = model.evaluate(X_FIT, y, sample_weight=w, batch_size=32, verbose=0)
        predicted = model.predict(X_FIT, verbose=0)
    return model, history["loss"], evaluated, predicted


@pytest.mark.parametrize("case", sorted(FIT_CASES))
def test_fit_and_evaluate_agree_on_numpy_and_the_emulated_gpu(emulator, case):
    numpy_run = _fit(B.resolve("numpy"), case)
    gpu_run = _fit(EmulatedCupyBackend(emulator), case)
    model, history, evaluated, predicted = numpy_run
    assert history[-1] < 0.8 * history[0]  # it trains
    # the binary focal loss without label smoothing has a kernel of its own (focal_loss_grad); for the
    # others the emulated GPU's step plan ran their compute
    kernel = step_kernels.loss_kernel(FIT_CASES[case][1], {}, model._loss_fn)
    own = case in ("binary", "binary_by_name_weighted")
    assert (kernel is not None and kernel.kind == step_kernels.BFOCAL) if own else kernel is None
    assert isinstance(gpu_run[0]._plan, gpunet.backend.gpu_plan.GpuPlan)
    assert gpu_run[0]._plan.loss_kernel.generic != own
    np.testing.assert_allclose(gpu_run[1], history, rtol=1e-5)
    assert gpu_run[2] == pytest.approx(evaluated, rel=1e-5)
    # evaluate's loss is the loss of the model's predictions, as the loss object computes it
    y, w = FIT_CASES[case][2], FIT_CASES[case][3]
    assert evaluated == pytest.approx(float(model._loss_fn(y.astype("float32"), predicted, sample_weight=w)), rel=1e-5)


def test_a_user_loss_built_on_the_function_trains_as_the_class_does():
    """On gpunet tensors the function form records the loss's own gradient for the tape."""
    def run(loss):
        gpunet.utils.set_random_seed(7)
        model = Sequential([Dense(6, input_dim=5, activation="tanh"), Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss=loss)
        return model.fit(X_FIT, Y_FIT, epochs=3, batch_size=16, shuffle=False, verbose=0).history["loss"]

    def mine(y_true, y_pred):
        return losses.categorical_focal_crossentropy(y_true, y_pred, gamma=3.0)

    np.testing.assert_allclose(run(mine), run(losses.CategoricalFocalCrossentropy(gamma=3.0)), rtol=1e-6)


# ---- names, configs and files ------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, name", [(BINARY, "binary_focal_crossentropy"),
                                       (CATEGORICAL, "categorical_focal_crossentropy")])
def test_names_classes_and_functions_resolve(cls, name):
    for identifier in (name, cls, getattr(losses, cls), getattr(losses, name)):
        loss = losses.get(identifier)
        assert type(loss) is getattr(losses, cls) and loss.name == name
        assert loss.reduction == "auto" and loss.gamma == 2.0 and loss.alpha == 0.25
    assert losses.serialize(losses.get(name)) == name  # a name stays a name, as tf.keras 2 writes it
    assert name in losses.VALID_NAMES and cls in losses.VALID_NAMES and cls in losses.__all__
    assert losses.get(getattr(losses, name)).name == name


def test_configs_are_tf_keras_configs():
    for case in sorted(CASES):
        ours, theirs, *_ = _pair(case)
        want = {k: v for k, v in theirs.get_config().items() if k != "fn"}
        assert ours.get_config() == want
        assert list(ours.get_config()) == list(want)  # the same order too


@pytest.mark.parametrize("case", sorted(CASES))
def test_tf_keras_serialized_losses_deserialize(case):
    _, theirs, y, p, w = _pair(case, reduction="sum")
    written = tf_keras.losses.serialize(theirs)
    assert written["class_name"] in (BINARY, CATEGORICAL) and "fn" in written["config"]
    loss = losses.deserialize(written)
    assert type(loss).__name__ == written["class_name"]
    assert loss.get_config() == {k: v for k, v in written["config"].items() if k != "fn"}
    _check_close(loss(y, p, sample_weight=w), theirs(y, p, sample_weight=w).numpy(), 1e-6)
    assert losses.deserialize(losses.serialize(loss)).get_config() == loss.get_config()


def test_keras3_configs_deserialize():
    """What Keras 3.15's ``keras.losses.serialize`` writes (its own key order and reduction names)."""
    binary = {"module": "keras.losses", "class_name": BINARY, "registered_name": None,
              "config": {"name": "bfc", "reduction": "sum_over_batch_size", "from_logits": True,
                         "label_smoothing": 0.1, "axis": -1, "apply_class_balancing": True, "alpha": 0.4,
                         "gamma": 1.5}}
    categorical = {"module": "keras.losses", "class_name": CATEGORICAL, "registered_name": None,
                   "config": {"name": "categorical_focal_crossentropy", "reduction": "sum",
                              "from_logits": False, "label_smoothing": 0.0, "axis": -1, "alpha": ALPHA4,
                              "gamma": 3.0}}
    for config in (binary, categorical):
        loss = losses.deserialize(config)
        assert type(loss).__name__ == config["class_name"]
        assert {k: loss.get_config()[k] for k in config["config"]} == config["config"]
    function = losses.deserialize({"class_name": "function", "config": "categorical_focal_crossentropy"})
    assert type(function) is losses.CategoricalFocalCrossentropy


def test_reduction_constants_are_tf_keras():
    theirs = tf_keras.losses.Reduction
    for key in ("AUTO", "NONE", "SUM", "SUM_OVER_BATCH_SIZE"):
        assert getattr(losses.Reduction, key) == getattr(theirs, key)
    assert losses.Reduction.all() == theirs.all()
    for key in theirs.all():
        losses.Reduction.validate(key)
        assert losses.BinaryFocalCrossentropy(reduction=key).reduction == key
    with pytest.raises(ValueError) as want:
        theirs.validate("mean")
    with pytest.raises(ValueError) as got:
        losses.Reduction.validate("mean")
    assert str(got.value) == str(want.value)


def _compiled(loss, activation):
    gpunet.utils.set_random_seed(2)
    model = Sequential([Dense(4, input_dim=5, activation="relu", name="hidden"),
                        Dense(3, activation=activation, name="out")])
    model.compile(optimizer="adam", loss=loss)
    model.fit(X_FIT, Y_FIT, epochs=1, batch_size=20, verbose=0)
    return model


@pytest.mark.parametrize("ext", ["h5", "keras"])
@pytest.mark.parametrize("make, activation", [
    (lambda: losses.BinaryFocalCrossentropy(apply_class_balancing=True, alpha=0.4, gamma=1.5, label_smoothing=0.1,
                                            name="focal"), "sigmoid"),
    (lambda: losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.3, 0.5], from_logits=True, reduction="sum"), "linear"),
    (lambda: "categorical_focal_crossentropy", "softmax"),
], ids=["binary_object", "categorical_object", "by_name"])
def test_saved_models_keep_the_loss_and_its_config(tmp_path, ext, make, activation):
    model = _compiled(make(), activation)
    path = str(tmp_path / f"m.{ext}")
    model.save(path)
    loaded = load_model(path)
    assert type(loaded._loss_fn) is type(model._loss_fn)
    assert loaded._loss_fn.get_config() == model._loss_fn.get_config()
    assert losses.serialize(loaded._loss_fn) == losses.serialize(model._loss_fn)
    assert loaded.evaluate(X_FIT, Y_FIT, verbose=0) == pytest.approx(model.evaluate(X_FIT, Y_FIT, verbose=0), rel=1e-6)
    # training goes on from the file as from the model
    after = [m.fit(X_FIT, Y_FIT, epochs=1, batch_size=20, shuffle=False, verbose=0).history["loss"][0]
             for m in (model, loaded)]
    assert after[1] == pytest.approx(after[0], rel=1e-5)


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_h5_files_carry_the_loss_between_gpunet_and_tf_keras(tmp_path):
    model = _compiled(losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.3, 0.5], gamma=3.0), "softmax")
    model.save(str(tmp_path / "g.h5"))
    ref = tf_keras.models.load_model(str(tmp_path / "g.h5"))
    assert type(ref.loss).__name__ == CATEGORICAL
    assert {k: v for k, v in ref.loss.get_config().items() if k != "fn"} == model._loss_fn.get_config()
    assert ref.evaluate(X_FIT, Y_FIT, verbose=0) == pytest.approx(model.evaluate(X_FIT, Y_FIT, verbose=0), rel=1e-5)

    ref = tf_keras.Sequential([tf_keras.layers.Dense(1, input_shape=(5,), activation="sigmoid")])
    ref.compile(optimizer="sgd", loss=tf_keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=3.0))
    ref.save(str(tmp_path / "t.h5"))
    loaded = load_model(str(tmp_path / "t.h5"))
    assert type(loaded._loss_fn) is losses.BinaryFocalCrossentropy
    assert loaded._loss_fn.get_config() == {k: v for k, v in ref.loss.get_config().items() if k != "fn"}
    y = Y_FIT[:, :1]
    assert loaded.evaluate(X_FIT, y, verbose=0) == pytest.approx(ref.evaluate(X_FIT, y, verbose=0), rel=1e-5)


# ---- bad arguments -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [BINARY, CATEGORICAL])
def test_bad_reduction_is_refused_as_tf_keras_refuses_it(cls):
    with pytest.raises(ValueError, match="Invalid Reduction Key: mean_of_squares"):
        getattr(tf_keras.losses, cls)(reduction="mean_of_squares")
    with pytest.raises(ValueError, match=r"Invalid reduction 'mean_of_squares'.*Expected one of .*'sum_over_batch_size'"):
        getattr(losses, cls)(reduction="mean_of_squares")


@pytest.mark.parametrize("cls", [BINARY, CATEGORICAL])
@pytest.mark.parametrize("kwargs, message", [
    ({"gamma": "2"}, r"gamma must be a real number, received '2' of type str"),
    ({"gamma": None}, r"gamma must be a real number, received None"),
    ({"alpha": None}, r"alpha .*received None"),
    ({"label_smoothing": True}, r"label_smoothing must be a real number, received True of type bool"),
    ({"axis": 1.0}, r"axis must be an integer \(the class axis\), received 1.0"),
    ({"axis": True}, r"axis must be an integer \(the class axis\), received True"),
])
def test_bad_arguments_name_what_was_expected_and_received(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(losses, cls)(**kwargs)


def test_tf_keras_refuses_a_boolean_axis_too():
    with pytest.raises(ValueError, match="axis"):
        tf_keras.losses.categorical_focal_crossentropy(Y_C, P_C, axis=True)
    with pytest.raises(ValueError, match="axis must be an integer"):
        losses.categorical_focal_crossentropy(Y_C, P_C, axis=True)


def test_alpha_must_give_one_weight_per_class():
    with pytest.raises(ValueError, match=r"alpha must be a number or a list of one number per class, received \[\]"):
        losses.CategoricalFocalCrossentropy(alpha=[])
    with pytest.raises(ValueError, match=r"each value of alpha must be a real number, received 'x'"):
        losses.CategoricalFocalCrossentropy(alpha=[0.5, "x"])
    with pytest.raises(ValueError, match=r"alpha must be a real number, received \[0.5\] of type list"):
        losses.BinaryFocalCrossentropy(alpha=[0.5])
    with pytest.raises(tf.errors.InvalidArgumentError):  # tf.keras: TensorFlow's broadcasting error
        tf_keras.losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.3, 0.5])(Y_C, P_C)
    with pytest.raises(ValueError, match=r"alpha has 3 values but y_pred's last axis has 4 .*one value per class"):
        losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.3, 0.5])(Y_C, P_C)
    assert losses.CategoricalFocalCrossentropy(alpha=np.array(ALPHA4)).alpha == ALPHA4


def test_shapes_and_axes_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match=r"same shape.*y_true.shape=\(6, 3\), y_pred.shape=\(6, 4\)"):
        losses.BinaryFocalCrossentropy()(Y_B[:, :3], P_B)
    with pytest.raises(ValueError, match=r"axis=2 is out of range for y_pred of rank 2"):
        losses.CategoricalFocalCrossentropy(axis=2)(Y_C, P_C)
    with pytest.raises(ValueError, match=r"axis=-3 is out of range for y_pred of rank 2"):
        losses.BinaryFocalCrossentropy(axis=-3)(Y_B, P_B)


def test_one_class_warns_as_tf_keras_does():
    y, p = np.ones((4, 1), "float32"), np.full((4, 1), 0.7, "float32")
    with pytest.warns(SyntaxWarning, match=r"num_classes > 1\. Received: y_pred.shape=\(4, 1\)"):
        got = losses.categorical_focal_crossentropy(y, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        want = tf_keras.losses.categorical_focal_crossentropy(y, p).numpy()
    _check_close(got, want, 1e-6)
