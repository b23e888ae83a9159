"""Training, saving and Keras interop of ActivityRegularization, GaussianNoise, GaussianDropout,
AlphaDropout, SpatialDropout1D, RepeatVector and Permute: the fused plans (NumPy's and the GPU's,
kernels emulated; the GPU's takes GaussianNoise, GaussianDropout and AlphaDropout, drawing their noise itself:
tests/test_kernel_noise.py) decline a model holding one, which trains as on the forced layer path (on NumPy
through the graph step, on a GPU through the chain step, which run the layer by its own code); the
activity penalty enters the loss and gradient as Dense's activity_regularizer does; save + load +
fit resumes the noise bit for bit; real Keras 3 loads gpunet's files and gpunet loads Keras 3's."""
import numpy as np
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.layers import (ActivityRegularization, AlphaDropout, Dense, Dropout, Flatten, GaussianDropout,
                           GaussianNoise, Permute, RepeatVector, SpatialDropout1D)
from gpunet.models import Sequential, load_model
from resume_check import straight_and_resumed

RNG = np.random.default_rng(3)
X = RNG.standard_normal((45, 12))
Y = (X[:, :3].sum(1, keepdims=True) > 0).astype("float64")

# Each layer between Dense layers: a Dense stack the fused plans would take without it.
CASES = {
    "activity": lambda: [ActivityRegularization(l1=0.01, l2=0.02)],
    "gaussian_noise": lambda: [GaussianNoise(0.2)],
    "gaussian_dropout": lambda: [GaussianDropout(0.3)],
    "alpha_dropout": lambda: [AlphaDropout(0.2, seed=3)],
    "spatial_dropout": lambda: [RepeatVector(3), SpatialDropout1D(0.3), Flatten()],
    "permute": lambda: [RepeatVector(2), Permute((2, 1)), Flatten()],
}
INFERENCE_IDENTITY = ("gaussian_noise", "gaussian_dropout", "alpha_dropout")
GPU_DRAWN = ("gaussian_noise", "gaussian_dropout", "alpha_dropout")  # (the GPU step plan's noise_forward kernel)
OPS = {"numpy": lambda emu: B.resolve("numpy"), "gpu": lambda emu: EmulatedCupyBackend(emu)}


def _net(ops, middle, seed=5):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(seed)
        net = Sequential([Dense(8, input_dim=12, activation="tanh")] + middle + [Dense(1, activation="sigmoid")])
        net.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    return net


def _train(net, ops, epochs=3):
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(9)
        history = net.fit(X, Y, batch_size=16, epochs=epochs, verbose=0).history
        return history, net.predict(X, verbose=0), net.evaluate(X, Y, verbose=0), net.get_weights()


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("backend", ["numpy", "gpu"])
def test_the_chain_plans_decline_and_training_is_the_layer_paths(emulator, f64, backend, case):
    ops = OPS[backend](emulator)
    assert _net(ops, [Dropout(0.0)])._train_plan(), "without the layer the model takes a fused plan"
    if backend == "gpu" and case in GPU_DRAWN:  # the GPU step plan draws their noise itself
        net = _net(ops, CASES[case]())
        loss = _train(net, ops)[0]["loss"]
        assert type(net._plan).__name__ == "GpuPlan" and loss[-1] < loss[0]  # (tests/test_kernel_noise.py)
        return
    net, forced = _net(ops, CASES[case]()), _net(ops, CASES[case]())
    forced._train_plan = lambda: None  # what fit does for a model no plan covers
    got, want = _train(net, ops), _train(forced, ops)
    # NumPy's graph step, and the GPU's chain step (gpu_own_layers.py), run the layer by its own code (no
    # activity regularizer there): as the layer path to rounding; elsewhere the layer path itself, bit for bit
    graph = case != "activity"
    assert type(net._plan).__name__ == ("GraphPlan" if backend == "numpy" else "GpuPlan") if graph else net._plan is False
    # predict and evaluate: the GPU forward plan leaves out the layers that are the identity there, and runs
    # the others' own forward between its launches
    assert bool(getattr(net, "_gpu_forward", None)) == (backend == "gpu" and case != "activity")
    if graph:
        for key in want[0]:
            np.testing.assert_allclose(got[0][key], want[0][key], rtol=1e-12, err_msg=key)
        np.testing.assert_allclose(got[2], want[2], rtol=1e-12)
    else:
        assert got[0] == want[0] and got[2] == want[2]  # histories and evaluate, bit for bit
    for a, b in zip([got[1]] + list(got[3]), [want[1]] + list(want[3])):
        np.testing.assert_allclose(a, b, rtol=0 if not graph else 1e-11, atol=0 if not graph else 1e-13)
    assert got[0]["loss"][-1] < got[0]["loss"][0]
    if backend == "gpu":  # the same noise on the GPU: it is drawn from the same host generator
        reference = _train(_net(B.resolve("numpy"), CASES[case]()), B.resolve("numpy"))
        for key in got[0]:
            np.testing.assert_allclose(got[0][key], reference[0][key], rtol=1e-9, err_msg=key)
        np.testing.assert_allclose(got[1], reference[1], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", ["gaussian_noise", "gaussian_dropout", "alpha_dropout"])
def test_noise_only_in_training_predict_is_the_plain_stack(f64, case):
    ops = B.resolve("numpy")
    noisy, plain = _net(ops, CASES[case]()), _net(ops, [])
    assert _train(noisy, ops)[0] != _train(plain, ops)[0], "the noise changed the training"
    plain.set_weights(noisy.get_weights())
    np.testing.assert_array_equal(noisy.predict(X, verbose=0), plain.predict(X, verbose=0))
    assert noisy.evaluate(X, Y, verbose=0) == plain.evaluate(X, Y, verbose=0)


def test_activity_regularization_is_dense_activity_regularizer(f64):
    """The penalty (l1 * sum|y| + l2 * sum y^2 over the batch, divided by its size) in the loss of fit
    and evaluate, and its gradient, exactly as Dense(activity_regularizer=L1L2(l1, l2)) adds them."""
    ops = B.resolve("numpy")
    layer = _net(ops, [ActivityRegularization(l1=0.01, l2=0.02)])
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        dense = Sequential([Dense(8, input_dim=12, activation="tanh",
                                  activity_regularizer=gpunet.regularizers.L1L2(l1=0.01, l2=0.02)),
                            Dense(1, activation="sigmoid")])
        dense.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    dense._train_plan = lambda: None  # (as the layer path runs it: NumPy's fused step folds the bias, rounding apart)
    got, want = _train(layer, ops), _train(dense, ops)
    assert got[0] == want[0] and got[2] == want[2]
    for a, b in zip(got[3], want[3]):
        np.testing.assert_array_equal(a, b)
    hidden = np.tanh(X @ got[3][0] + got[3][1])
    out = 1 / (1 + np.exp(-(hidden @ got[3][2] + got[3][3])))
    bce = -np.mean(Y * np.log(out) + (1 - Y) * np.log(1 - out))
    penalty = (0.01 * np.abs(hidden).sum() + 0.02 * (hidden ** 2).sum()) / len(X)
    with B.use_backend(ops):  # (the regularizers compute on the current backend: the model's)
        loss, _ = layer.evaluate(X, Y, batch_size=len(X), verbose=0)
    assert loss == pytest.approx(bce + penalty, rel=1e-9) and penalty > 0.1 * bce


def _all_layers(seed=4):
    gpunet.utils.set_random_seed(seed)
    net = Sequential([Dense(6, input_dim=12, activation="tanh"), ActivityRegularization(l1=0.01, l2=0.01),
                      GaussianNoise(0.1), GaussianDropout(0.2, seed=4), AlphaDropout(0.1), RepeatVector(3),
                      SpatialDropout1D(0.2, seed=7), Permute((2, 1)), Flatten(), Dense(1, activation="sigmoid")])
    net.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return net


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_save_load_fit_resumes_the_noise_bit_for_bit(tmp_path, ext):
    x, y = X.astype("float32"), Y.astype("float32")
    # the file's generator states (global and per layer) win over the seeding after the save
    straight, first, resumed, _ = straight_and_resumed(_all_layers, x, y, tmp_path / ("m" + ext), epochs=4,
                                                       split=2, batch_size=16, seed=5)
    assert [layer.get_config() for layer in resumed.layers[1:]] == [layer.get_config() for layer in first.layers[1:]]
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        assert np.array_equal(a, b)


def test_keras3_loads_gpunets_files(tmp_path):
    from keras_support import keras_on_torch
    keras = keras_on_torch()
    net = _all_layers()
    x, y = X.astype("float32"), Y.astype("float32")
    net.fit(x, y, epochs=2, batch_size=16, verbose=0)
    want_loss = net.evaluate(x, y, batch_size=45, verbose=0)[0]  # the activity penalty included
    for ext in (".keras", ".h5"):
        net.save(tmp_path / ("m" + ext))
        k = keras.models.load_model(str(tmp_path / ("m" + ext)))
        kinds = [type(layer).__name__ for layer in k.layers]
        assert kinds == [type(layer).__name__ for layer in net.layers]
        assert (k.layers[2].stddev, k.layers[3].seed, k.layers[6].rate, k.layers[7].dims, k.layers[5].n) == \
               (0.1, 4, 0.2, (2, 1), 3)
        np.testing.assert_allclose(np.asarray(k.predict(x, verbose=0)), net.predict(x, verbose=0), atol=1e-6)
        assert k.evaluate(x, y, batch_size=45, verbose=0)[0] == pytest.approx(want_loss, rel=1e-5)


def test_gpunet_loads_keras3s_files(tmp_path):
    from keras_support import keras_on_torch
    keras = keras_on_torch()
    L = keras.layers
    k = keras.Sequential([keras.Input((12,)), L.Dense(6, activation="tanh"), L.ActivityRegularization(l1=0.02),
                          L.GaussianNoise(0.1, seed=2), L.GaussianDropout(0.2),
                          L.AlphaDropout(0.1, noise_shape=(None, 6)), L.RepeatVector(3), L.SpatialDropout1D(0.2),
                          L.Permute((2, 1)), L.Flatten(), L.Dense(1, activation="sigmoid")])
    k.compile(optimizer="adam", loss="binary_crossentropy")
    x, y = X.astype("float32"), Y.astype("float32")
    k.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for ext in (".keras", ".h5"):
        k.save(str(tmp_path / ("k" + ext)))
        net = load_model(tmp_path / ("k" + ext))
        assert [type(layer).__name__ for layer in net.layers] == [type(layer).__name__ for layer in k.layers]
        regs, noise, _, alpha, repeat, spatial, permute = net.layers[1:8]
        assert (regs.l1, noise.seed, alpha.noise_shape, repeat.n, spatial.rate, permute.dims) == \
               (0.02, 2, (None, 6), 3, 0.2, (2, 1))
        np.testing.assert_allclose(net.predict(x, verbose=0), np.asarray(k.predict(x, verbose=0)), atol=1e-6)
        assert net.evaluate(x, y, batch_size=45, verbose=0) == \
               pytest.approx(k.evaluate(x, y, batch_size=45, verbose=0), rel=1e-5)
        net.fit(x, y, epochs=1, batch_size=16, verbose=0)  # and it trains on


def test_gpu_predict_and_evaluate_leave_the_noise_layers_out(emulator, f64):
    """On the GPU predict and evaluate run the Dense stack's forward plan, the noise and dropout
    layers left out, as the layer path computes them; a subclass of a noise layer keeps the
    layer path (it may do more in inference)."""
    class LoudNoise(GaussianNoise):
        pass

    ops = EmulatedCupyBackend(emulator)
    middle = lambda: [GaussianNoise(0.2), GaussianDropout(0.3), Dense(5, activation="relu"),  # noqa: E731
                      AlphaDropout(0.1), Dropout(0.4)]
    net, ref = _net(ops, middle()), _net(B.resolve("numpy"), middle())
    _train(net, ops)
    ref.set_weights(net.get_weights())
    emulator.launches.clear()
    with B.use_backend(ops):
        pred, scores = net.predict(X, verbose=0), net.evaluate(X, Y, verbose=0)
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    assert kernels == {"mlp_forward"} and net._gpu_forward  # (a model this small: one launch for all the rows)
    np.testing.assert_allclose(pred, ref.predict(X, verbose=0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(scores, ref.evaluate(X, Y, verbose=0), rtol=1e-12)
    loud = _net(ops, [LoudNoise(0.2)])
    with B.use_backend(ops):
        loud.predict(X, verbose=0)
    assert loud._gpu_forward is False
