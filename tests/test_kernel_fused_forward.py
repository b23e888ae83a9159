"""Inference of small Dense stacks in one launch (kernels/mlp_forward.cu, backend/gpu_fused_forward.py),
kernels emulated on the CPU: predict and evaluate equal NumPy's on every activation, softmax
hidden and output layers, layers without a bias, odd row counts and more row groups than blocks,
NaN and inf inputs; a model too wide, or with BatchNormalization, keeps the per-batch launches;
fit's validation runs one launch an epoch."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend import gpu_fused_forward as FF
from gpunet.layers import Activation, BatchNormalization, Dense, Dropout, LeakyReLU, ReLU
from gpunet.models import Sequential

ACTIVATIONS = ["relu", "sigmoid", "hard_sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "swish", "gelu",
               "exponential", "linear", "relu6", "mish"]


def _net(ops, layers, loss="mse"):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(3)
        net = Sequential(layers)
        net.compile(optimizer="sgd", loss=loss, metrics=["mae"])
    return net


def _stacks():
    return {
        "every-activation": lambda: [Dense(6, input_dim=5, activation=a) for a in ACTIVATIONS[:1]]
        + [Dense(6, activation=a) for a in ACTIVATIONS[1:7]] + [Dense(3, activation="linear")],
        "more-activations": lambda: [Dense(7, input_dim=5, activation=a) for a in ACTIVATIONS[7:8]]
        + [Dense(7, activation=a) for a in ACTIVATIONS[8:]] + [Dense(2, activation="sigmoid")],
        "softmax-hidden-and-out": lambda: [Dense(9, input_dim=5, activation="softmax"), Dense(4, use_bias=False),
                                           LeakyReLU(0.2), Dropout(0.5), Dense(3, activation="softmax")],
        "relu-with-params": lambda: [Dense(8, input_dim=5), Activation("relu"), Dense(4),
                                     ReLU(max_value=2.0, negative_slope=0.1, threshold=0.2),
                                     Dense(1, use_bias=False)],
    }


def _predict_both(emulator, layers, x, sm_count=132, batch_size=7):
    ops = EmulatedCupyBackend(emulator, sm_count=sm_count)
    net, ref = _net(ops, layers()), _net(B.resolve("numpy"), layers())
    ref.set_weights(net.get_weights())
    emulator.launches.clear()
    with B.use_backend(ops):
        got = net.predict(x, batch_size=batch_size, verbose=0)
    return got, ref.predict(x, batch_size=batch_size, verbose=0), [k for k, _, _ in emulator.launches], net


@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("stack", sorted(_stacks()))
def test_one_launch_predict_equals_numpy(emulator, stack, floatx):
    B.set_floatx(floatx)
    x = numpy.random.default_rng(1).standard_normal((53, 5))
    got, ref, launches, _ = _predict_both(emulator, _stacks()[stack], x)
    assert launches == [f"mlp_forward<{'double' if floatx == 'float64' else 'float'}>"], launches
    tol = dict(rtol=1e-11, atol=1e-13) if floatx == "float64" else dict(rtol=2e-5, atol=2e-6)
    numpy.testing.assert_allclose(got, ref, **tol)


def test_more_row_groups_than_blocks_and_nan_and_inf_rows(emulator):
    """With a grid cap of 8 blocks (one SM) each block takes several groups of rows in turn, the
    last group short; NaN and inf inputs come out where NumPy's do."""
    B.set_floatx("float64")
    x = numpy.random.default_rng(2).standard_normal((8 * 64 * 2 + 37, 5))
    x[3, 1], x[700, 0], x[-1, 4] = numpy.nan, numpy.inf, -numpy.inf
    layers = _stacks()["softmax-hidden-and-out"]
    got, ref, launches, net = _predict_both(emulator, layers, x, sm_count=1, batch_size=32)
    assert launches == ["mlp_forward<double>"]
    assert net._gpu_forward.fused.rows_per_block == 64
    numpy.testing.assert_array_equal(numpy.isnan(got), numpy.isnan(ref))
    assert numpy.isnan(got[3]).all() and numpy.isnan(got[700]).any()
    numpy.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("change", ["too-many-weights", "batch-normalization", "switched-off"])
def test_models_outside_its_limits_keep_the_per_batch_launches(emulator, change, monkeypatch):
    B.set_floatx("float64")
    if change == "switched-off":
        monkeypatch.setenv("GPUNET_FUSED_FORWARD", "0")
    wide = FF.MAX_PARAMS // 5 + 1 if change == "too-many-weights" else 6

    def layers():
        return ([Dense(wide, input_dim=5, activation="relu")]
                + ([BatchNormalization()] if change == "batch-normalization" else []) + [Dense(2)])
    x = numpy.random.default_rng(3).standard_normal((20, 5))
    got, ref, launches, net = _predict_both(emulator, layers, x)
    assert net._gpu_forward and net._gpu_forward.fused is None
    assert "mlp_forward<double>" not in launches and len(launches) >= 3 * 2
    numpy.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_validation_in_fit_is_one_launch_an_epoch_and_logs_as_numpy(emulator):
    """The tutorial's fit(validation_split=0.33): each epoch's validation is one mlp_forward
    launch (was a launch per layer per batch), and val_loss / val_mae are NumPy's."""
    B.set_floatx("float64")
    rng = numpy.random.default_rng(4)
    x, y = rng.standard_normal((60, 5)), rng.standard_normal((60, 1))
    layers = lambda: [Dense(12, input_dim=5, activation="relu"), Dense(1)]  # noqa: E731
    histories, forwards = [], 0
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        net = _net(ops, layers())
        emulator.launches.clear()
        with B.use_backend(ops):
            histories.append(net.fit(x, y, validation_split=0.33, epochs=3, batch_size=10, shuffle=False,
                                     verbose=0).history)
        forwards = forwards or sum(k.startswith("mlp_forward") for k, _, _ in emulator.launches)
    assert forwards == 3
    for key in ("val_loss", "val_mae", "loss"):
        numpy.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-10, err_msg=key)


@pytest.mark.gpu
@pytest.mark.parametrize("floatx", ["float64", "float32"])
def test_one_launch_predict_equals_numpy_on_a_real_gpu(floatx):
    B.set_floatx(floatx)
    x = numpy.random.default_rng(5).standard_normal((1000, 5))
    layers = _stacks()["softmax-hidden-and-out"]
    net, ref = _net(B.resolve("cupy"), layers()), _net(B.resolve("numpy"), layers())
    ref.set_weights(net.get_weights())
    with B.use_backend(net.ops):
        got = net.predict(x, batch_size=32, verbose=0)
    assert net._gpu_forward.fused is not None
    tol = dict(rtol=1e-11, atol=1e-13) if floatx == "float64" else dict(rtol=2e-5, atol=2e-6)
    numpy.testing.assert_allclose(got, ref.predict(x, batch_size=32, verbose=0), **tol)
