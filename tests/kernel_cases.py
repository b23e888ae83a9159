"""Cases and helpers shared by the tests of the CUDA kernels under emulation."""
import numpy

# (name, params) as a Dense layer passes them; every kernel code at least once,
# relu with each of its parameters.
ACTIVATIONS = [
    ("linear", {}), ("relu", {}), ("relu", {"alpha": 0.1, "max_value": 1.5, "threshold": 0.25}),
    ("relu", {"alpha": 0.3, "threshold": -0.5}), ("relu", {"max_value": 6.0}), ("sigmoid", {}),
    ("hard_sigmoid", {}), ("tanh", {}), ("elu", {}), ("elu", {"alpha": 0.7}), ("selu", {}), ("softplus", {}),
    ("softsign", {}), ("swish", {}), ("gelu", {}), ("gelu", {"approximate": True}), ("leaky_relu", {}),
    ("leaky_relu", {"alpha": 0.05}), ("relu6", {}), ("exponential", {}), ("mish", {}), ("softmax", {}),
]

WAVE_BLOCKS = 132 * 8  # an H100 wave: 132 SMs, at most 8 resident blocks of 256 threads each
# (M, N, K): odd sizes around the 64 x 64 x 16 tiles, M = N = K = 1, and a batch whose
# forward grid (ceil(M / 64) blocks for N <= 64) is larger than a wave, with more
# outputs (M N) than a wave has threads, so the grid-stride kernels loop too.
SHAPES = [(1, 1, 1), (7, 13, 5), (65, 129, 33), (257, 70, 3), (64 * WAVE_BLOCKS + 5, 5, 2)]
DTYPES = [numpy.float32, numpy.float64]
TOL = {numpy.float32: 3e-5, numpy.float64: 1e-12}


def act_id(case):
    name, params = case
    return name + "".join(f"-{k}={v}" for k, v in params.items())


def shape_id(shape):
    return "x".join(map(str, shape))


def guarded(values, pad=64):
    """A copy of ``values`` inside a larger buffer padded with NaN on both sides:
    a kernel that reads past either end gets NaN into its result, and one that
    writes there breaks `intact`."""
    values = numpy.asarray(values)
    buf = numpy.full(values.size + 2 * pad, numpy.nan, dtype=values.dtype) if values.dtype.kind == "f" \
        else numpy.full(values.size + 2 * pad, 0xAB, dtype=values.dtype)
    view = buf[pad:pad + values.size].reshape(values.shape)
    view[...] = values
    return view


def intact(view, pad=64):
    buf = view.base
    while buf.base is not None:
        buf = buf.base
    edges = numpy.concatenate([buf[:pad], buf[-pad:]])
    return bool(numpy.isnan(edges).all()) if buf.dtype.kind == "f" else bool((edges == 0xAB).all())


def assert_close(got, ref, dtype, what):
    """Elementwise agreement to TOL relative to the result's scale: GEMMs sum in
    another order than NumPy, so the error grows with the magnitude of the sums."""
    got, ref = numpy.asarray(got), numpy.asarray(ref)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    assert got.dtype == ref.dtype, f"{what}: dtype {got.dtype} != {ref.dtype}"
    # NaN where the reference has NaN and nowhere else, the same infinities (assert_allclose
    # checks both); the scale from the finite values only
    scale = max(1.0, float(numpy.abs(ref[numpy.isfinite(ref)]).max(initial=0.0)))
    numpy.testing.assert_allclose(got, ref, rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what)


def dense_inputs(shape, dtype, seed=0, nonfinite=False):
    """x, w, b, dy for a Dense layer of shape (M, N, K), with w scaled so the
    pre-activations are O(1) (exponential and softplus stay in range).
    ``nonfinite``: x[0, 0] = NaN, x[-1, -1] = inf and dy[-1, 0] = -inf (where
    the shape has room), so NaN and inf reach every kernel's inputs."""
    M, N, K = shape
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((M, K))
    w = rng.standard_normal((K, N)) / numpy.sqrt(K)
    b = rng.standard_normal(N) * 0.5
    dy = rng.standard_normal((M, N))  # random, not ones: ones would hide transposition mistakes
    if nonfinite:
        x[0, 0] = numpy.nan
        if M * K > 1:
            x[-1, -1] = numpy.inf
        if M > 1:
            dy[-1, 0] = -numpy.inf
    return tuple(guarded(a.astype(dtype)) for a in (x, w, b, dy))


# Pre-activations each activation treats specially (NaN, the infinities, 0, relu's
# threshold 0.25 and max_value 1.5 of ACTIVATIONS, relu6's 6, both sides of each),
# crossed with upstream gradients finite and not: elementwise_inputs.
SPECIAL_Z = [numpy.nan, numpy.inf, -numpy.inf, 0.0, -0.5, 0.25, 0.3, 1.5, 1.7, 6.0, 7.0, -3.0, -40.0, 40.0]
SPECIAL_DY = [1.3, -0.7, numpy.inf, -numpy.inf, numpy.nan]


def elementwise_inputs(dtype):
    """x, w, b, dy for a Dense layer whose pre-activation z = x w + b is exactly x
    (K = N = 1, w = 1, b = 0), so dX = dZ: every (z, dy) pair of SPECIAL_Z x
    SPECIAL_DY checks act and act' elementwise, through the real Dense launches."""
    z, g = numpy.meshgrid(SPECIAL_Z, SPECIAL_DY, indexing="ij")
    x, dy = z.reshape(-1, 1), g.reshape(-1, 1)
    return tuple(guarded(a.astype(dtype)) for a in (x, numpy.ones((1, 1)), numpy.zeros(1), dy))


# Whole models: hidden sizes off the tile grid, every activation family, every fused optimizer.
MODELS = [("relu", "tanh", "softmax"), ("gelu", "swish", "sigmoid"), ("elu", "selu", "linear"),
          ("leaky_relu", "relu6", "softplus")]
OPTIMIZERS = [{"class_name": "Adam", "config": {"learning_rate": 0.01}},
              {"class_name": "SGD", "config": {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}},
              {"class_name": "RMSprop", "config": {"learning_rate": 0.005, "momentum": 0.5, "centered": True}},
              {"class_name": "Adagrad", "config": {"learning_rate": 0.05}},
              {"class_name": "Adamax", "config": {"learning_rate": 0.01}},
              {"class_name": "Nadam", "config": {"learning_rate": 0.01}}]


def train(ops, activations, optimizer, epochs=3):
    """Trains a 7-33-65-3 MLP on ``ops`` from seeded weights and data (floatx as
    set); returns the loss history and the final weights as NumPy arrays."""
    import gpunet
    from gpunet import backend as B
    from gpunet.layers import Dense
    from gpunet.models import Sequential

    rng = numpy.random.default_rng(3)
    x = rng.standard_normal((300, 7))
    y = numpy.eye(3)[rng.integers(0, 3, 300)] if activations[-1] == "softmax" else rng.random((300, 3))
    loss = "categorical_crossentropy" if activations[-1] == "softmax" else "mse"
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(11)
        model = Sequential([Dense(33, input_dim=7, activation=activations[0]), Dense(65, activation=activations[1]),
                            Dense(3, activation=activations[2])])
        model.compile(optimizer=gpunet.optimizers.get(optimizer), loss=loss)
        history = model.fit(x, y, batch_size=32, epochs=epochs, shuffle=False, verbose=0)
        return history.history["loss"], model.get_weights()


def assert_same_training(got, ref, floatx):
    """float64 agrees to rounding; float32 to what three epochs of differently
    ordered float32 sums allow (Adam's normalized steps magnify rounding of tiny gradients)."""
    tol = 1e-9 if floatx == "float64" else 5e-3
    numpy.testing.assert_allclose(got[0], ref[0], rtol=tol, err_msg="loss history")
    assert len(got[1]) == len(ref[1])
    for g, r in zip(got[1], ref[1]):
        numpy.testing.assert_allclose(g, r, rtol=tol, atol=tol, err_msg="weights")


def assert_same_fit(got, ref, tol):
    """``(model, History dict, evaluate's logs dict, ...)`` of a run against the reference run's: the same
    History keys, every History and logs value within ``tol``, every weight within 10 ``tol``."""
    (net, history, logs), (ref_net, ref_history, ref_logs) = got[:3], ref[:3]
    assert history.keys() == ref_history.keys()
    for key in ref_history:
        numpy.testing.assert_allclose(history[key], ref_history[key], rtol=tol, atol=tol, err_msg=key)
    for key in ref_logs:
        numpy.testing.assert_allclose(logs[key], ref_logs[key], rtol=tol, atol=tol, err_msg=key)
    for a, b in zip(net.get_weights(), ref_net.get_weights()):
        numpy.testing.assert_allclose(a, b, rtol=tol * 10, atol=tol * 10, err_msg="weights")
