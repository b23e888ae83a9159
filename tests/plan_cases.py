"""Models, data and checks shared by the tests of the GPU step plan (emulated and on a GPU)."""
import numpy

import gpunet
from gpunet import backend as B
from gpunet.layers import Dense, Dropout
from gpunet.models import Sequential

# name: (layer sizes, activations, loss, metrics, input width, batch, weighted)
CASES = {
    "pima": ((12, 8, 1), ("relu", "relu", "sigmoid"), "binary_crossentropy", ["accuracy"], 8, 10, False),
    "wide-reduced": ((48, 40, 10), ("relu", "relu", "softmax"), "categorical_crossentropy", ["accuracy"], 78, 32,
                     False),
    "softmax-sparse": ((20, 5), ("tanh", "softmax"), "sparse_categorical_crossentropy", ["accuracy"], 6, 16, True),
    "mse": ((17, 3), ("gelu", "linear"), "mse", ["mae"], 5, 9, False),
    "mae-relu-out": ((9, 2), ("elu", "relu"), "mae", [], 4, 8, True),
    "logits": ((11, 4), ("swish", "linear"), gpunet.losses.CategoricalCrossentropy(from_logits=True), ["accuracy"],
               5, 12, False),
    "hinge": ((10, 1), ("elu", "tanh"), "hinge", ["accuracy"], 6, 10, False),
    "softmax-kld": ((12, 8, 3), ("softmax", "tanh", "softmax"), "kld", ["accuracy"], 5, 16, True),
}
ONE_HOT = ("kld", "categorical_hinge", "cosine_similarity")  # besides the categorical cross-entropies
N_SAMPLES = 101  # not a multiple of any batch size: every epoch ends with a short batch


def data(case):
    sizes, acts, loss, _, width, _, weighted = CASES[case]
    rng = numpy.random.default_rng(7)
    x = rng.standard_normal((N_SAMPLES, width))
    units = sizes[-1]
    name = loss if isinstance(loss, str) else loss.name
    if name == "sparse_categorical_crossentropy":
        y = rng.integers(0, units, N_SAMPLES)
    elif name in ONE_HOT or ("crossentropy" in name and units > 1):
        y = numpy.eye(units)[rng.integers(0, units, N_SAMPLES)]
    elif "crossentropy" in name or name == "hinge":
        y = (x[:, :1] + 0.3 * rng.standard_normal((N_SAMPLES, 1)) > 0).astype(float)
    else:
        y = rng.standard_normal((N_SAMPLES, units))
    sw = rng.uniform(0.2, 2.0, N_SAMPLES) if weighted else None
    return x, y, sw


def model(case, ops):
    sizes, acts, loss, metrics, width, _, _ = CASES[case]
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(5)
        layers = [Dense(sizes[0], input_dim=width, activation=acts[0])]
        layers += [Dense(n, activation=a) for n, a in zip(sizes[1:], acts[1:])]
        net = Sequential(layers)
        net.compile(optimizer=gpunet.optimizers.Adam(learning_rate=0.01), loss=loss, metrics=list(metrics))
    return net


def fit(case, ops, epochs=3, callbacks=None):
    x, y, sw = data(case)
    net = model(case, ops)
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(9)  # the same shuffles on both backends
        history = net.fit(x, y, sample_weight=sw, batch_size=CASES[case][5], epochs=epochs, verbose=0,
                            callbacks=callbacks)
    return net, history.history


def assert_close(got, ref, floatx):
    tol = 1e-10 if floatx == "float64" else 1e-5
    (gm, gh), (rm, rh) = got, ref
    assert gh.keys() == rh.keys()
    for key in rh:
        numpy.testing.assert_allclose(gh[key], rh[key], rtol=tol, atol=tol, err_msg=key)
    for g, r in zip(gm.get_weights(), rm.get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol * 10, err_msg="weights")


def dropout_net(ops, layers=None):
    """A small binary classifier with Dropout in front of its first layer and between layers
    (small enough for the one-launch step), seeded."""
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(4)
        net = Sequential(layers or [Dropout(0.2, input_shape=(6,)), Dense(16, activation="relu"), Dropout(0.5),
                                    Dense(8, activation="tanh"), Dropout(0.25), Dense(1, activation="sigmoid")])
        net.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return net


def dropout_data():
    rng = numpy.random.default_rng(0)
    return rng.standard_normal((45, 6)), (rng.random((45, 1)) > 0.5).astype(float)


def fit_on_every_path(emulator, net, optimizer, x, y):
    """``[(loss history, weights)]`` of ``net(gpunet)`` compiled with ``optimizer()`` and mse, fit on ``x, y`` on the
    NumPy plan, the layer path and the emulated GPU step plan from the same seed (the same start)."""
    from cuda_emulator import EmulatedCupyBackend
    finals = []
    for path in ("numpy-plan", "layer-path", "emulated-gpu-plan"):
        ops = EmulatedCupyBackend(emulator) if path == "emulated-gpu-plan" else B.resolve("numpy")
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(1)
            trained = net(gpunet)
            trained.compile(optimizer(), "mse")
            if path == "layer-path":
                trained._train_plan = lambda: None
            loss = trained.fit(x, y, epochs=2, batch_size=16, verbose=0).history["loss"]
            finals.append((loss, trained.get_weights()))
    return finals
