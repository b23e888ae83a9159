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
    scale = max(1.0, float(numpy.abs(ref).max(initial=0.0)))
    numpy.testing.assert_allclose(got, ref, rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what)


def dense_inputs(shape, dtype, seed=0):
    """x, w, b, dy for a Dense layer of shape (M, N, K), with w scaled so the
    pre-activations are O(1) (exponential and softplus stay in range)."""
    M, N, K = shape
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((M, K))
    w = rng.standard_normal((K, N)) / numpy.sqrt(K)
    b = rng.standard_normal(N) * 0.5
    dy = rng.standard_normal((M, N))  # random, not ones: ones would hide transposition mistakes
    return tuple(guarded(a.astype(dtype)) for a in (x, w, b, dy))


# Whole models: hidden sizes off the tile grid, every activation family, every fused optimizer.
MODELS = [("relu", "tanh", "softmax"), ("gelu", "swish", "sigmoid"), ("elu", "selu", "linear"),
          ("leaky_relu", "relu6", "softplus")]
OPTIMIZERS = [{"class_name": "Adam", "config": {"learning_rate": 0.01}},
              {"class_name": "SGD", "config": {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}},
              {"class_name": "RMSprop", "config": {"learning_rate": 0.005, "momentum": 0.5, "centered": True}}]


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
