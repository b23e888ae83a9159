"""What every framework is asked to do: sizes, data, networks, initial weights, targets.

Everything here is plain NumPy and deterministic, so each framework gets the
same data and the very same initial weights (Glorot-uniform kernels, zero
biases), and the same Adam settings (Keras's defaults, written out).
"""
import os
from dataclasses import dataclass

import numpy

SMOKE_ENV = "GPUNET_BENCH_SMOKE"

# Adam as Keras defines its defaults; every framework is given exactly these.
ADAM = {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}


def smoke_from_env():
    return os.environ.get(SMOKE_ENV, "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class Sizes:
    """How big each suite is. `smoke` shrinks everything and runs each benchmark once."""

    smoke: bool
    seed_rows: int = 768           # the Pima data set has 768 rows
    seed_epochs: int = 5
    seed_rounds: int = 5
    wide_samples: int = 16384      # 128 batches of 128 per round
    wide_rounds: int = 3
    cnn_samples: int = 2048        # 16 batches of 128 per round
    cnn_rounds: int = 3
    rnn_samples: int = 2048        # 64 batches of 32 per round
    rnn_rounds: int = 3
    predict_rows: int = 60000
    predict_rounds: int = 3
    opt_sizes: tuple = (1_000_000, 10_000_000)
    save_width: int = 4096         # 3 Dense(4096) layers on 4096 inputs: 50.3M parameters
    save_rounds: int = 3
    gpu_wide_samples: int = 16384
    # the GPU workloads of issue 8 (gpu_workloads.py), as the H200 measurements ran them
    gpu_seed_epochs: int = 3
    gpu_wide_b128_rows: int = 16384
    gpu_wide_b1024_rows: int = 65536
    gpu_big_rows: int = 32768
    gpu_epochs: int = 2
    gpu_rounds: int = 3

    @classmethod
    def get(cls, smoke):
        if not smoke:
            return cls(smoke=False)
        return cls(smoke=True, seed_epochs=1, seed_rounds=1, wide_samples=512, wide_rounds=1,
                   cnn_samples=256, cnn_rounds=1, rnn_samples=64, rnn_rounds=1,
                   predict_rows=2048, predict_rounds=1, opt_sizes=(10_000,), save_width=128, save_rounds=1,
                   gpu_wide_samples=512, gpu_seed_epochs=1, gpu_wide_b128_rows=512, gpu_wide_b1024_rows=2048,
                   gpu_big_rows=4096, gpu_epochs=1, gpu_rounds=1)


@dataclass(frozen=True)
class MLP:
    """A Dense stack: ``input_dim`` then ``(units, activation)`` per layer, and its loss."""

    name: str
    input_dim: int
    layers: tuple
    loss: str

    @property
    def shapes(self):
        """Kernel and bias shapes, in Keras's weight order."""
        out, width = [], self.input_dim
        for units, _ in self.layers:
            out += [(width, units), (units,)]
            width = units
        return out

    @property
    def n_params(self):
        return sum(int(numpy.prod(s)) for s in self.shapes)


PIMA = MLP("pima 8-12-8-1", 8, ((12, "relu"), (8, "relu"), (1, "sigmoid")), "binary_crossentropy")
# the seed's data through a functional graph: the two hidden layers' outputs added (benchmarks/residual.py)
RESIDUAL = MLP("residual 8-12-12-1 (Add)", 8, ((12, "relu"), (12, "relu"), (1, "sigmoid")), "binary_crossentropy")
WIDE = MLP("wide 784-512-512-10", 784, ((512, "relu"), (512, "relu"), (10, "softmax")),
           "categorical_crossentropy")


def save_mlp(width, name="save"):
    """The save/load network: 3 Dense(width) layers on ``width`` inputs (50.3M parameters at 4096)."""
    return MLP(f"{name} {width}x3", width, ((width, "relu"), (width, "relu"), (width, "linear")), "mse")


BIG = save_mlp(4096, "mlp")  # the GPU's arithmetic-bound workload: 6 * 50.3M FLOPs per sample trained


def initial_weights(mlp, seed=0):
    """Glorot-uniform kernels and zero biases, float32, in Keras's order (kernel, bias, ...)."""
    rng = numpy.random.default_rng(seed)
    arrays = []
    for shape in mlp.shapes:
        if len(shape) == 2:
            limit = numpy.sqrt(6.0 / (shape[0] + shape[1]))
            arrays.append(rng.uniform(-limit, limit, size=shape).astype(numpy.float32))
        else:
            arrays.append(numpy.zeros(shape, numpy.float32))
    return arrays


def pima_data(rows=768, seed=0):
    """Synthetic Pima-shaped data: 8 standardized features, 0/1 labels from a noisy linear rule."""
    rng = numpy.random.default_rng(seed)
    x = rng.standard_normal((rows, 8)).astype(numpy.float32)
    w = rng.standard_normal(8)
    y = ((x @ w + 0.5 * rng.standard_normal(rows)) > 0).astype(numpy.float32).reshape(-1, 1)
    return x, y


def mnist_like(rows, seed=1):
    """MNIST-shaped data: ``rows`` x 784 pixels in [0, 1) and one-hot labels over 10 classes."""
    rng = numpy.random.default_rng(seed)
    x = rng.random((rows, 784), dtype=numpy.float32)
    labels = rng.integers(0, 10, size=rows)
    y = numpy.zeros((rows, 10), numpy.float32)
    y[numpy.arange(rows), labels] = 1.0
    return x, y


def adam_shapes(n_params):
    """Parameter tensors for the optimizer-step suite: 221 = the Pima net's 6 tensors, else
    a kernel of about ``n_params`` values and its bias."""
    if n_params == PIMA.n_params:
        return PIMA.shapes
    cols = 1000
    return [(n_params // cols, cols), (cols,)]


def gradients(shapes, seed=2):
    rng = numpy.random.default_rng(seed)
    return [(rng.standard_normal(s) * 0.01).astype(numpy.float32) for s in shapes]


# ---- targets (issue 5), checked by the report on ratios measured in one run ----------------

@dataclass(frozen=True)
class Target:
    suite: str
    case: str
    peer: str            # a peer's name, or "" for an absolute target on gpunet's own value
    min_speedup: float = None
    max_value: float = None
    text: str = ""
    subject: str = "gpunet"  # whose result the target is about


TARGETS = (
    Target("seed", PIMA.name, "torch", min_speedup=10.0, text="seed workload: gpunet time <= 0.1x PyTorch eager"),
    Target("wide", WIDE.name, "tf_keras", min_speedup=2.5, text="wide MLP: gpunet samples/s >= 2.5x tf.keras"),
    Target("wide", WIDE.name, "torch", min_speedup=2.5, text="wide MLP: gpunet samples/s >= 2.5x PyTorch"),
    Target("predict", WIDE.name, "tf_keras", min_speedup=2.0, text="predict: gpunet samples/s >= 2x tf.keras"),
    Target("optimizer", "adam 221 params in 6 tensors", "", max_value=15.0,
           text="Adam over 221 parameters in 6 tensors: <= 15 us/step"),
    Target("save_load", "", "h5py", min_speedup=1 / 1.5, text="save + load_model: <= 1.5x raw h5py"),
)


# ---- GPU targets (issue 8; H200 or similar), on the "gpu workloads" suite (gpu_workloads.py) ----------

GPU_SUITE = "gpu workloads"
GPU_CASES = {"seed": f"{PIMA.name} batch 10", "wide_b128": f"{WIDE.name} batch 128",
             "wide_b1024": f"{WIDE.name} batch 1024", "big": f"{BIG.name} batch 4096 fp32",
             "predict_first": "predict 60k x 784 batch 1024, first call",
             "predict_warm": "predict 60k x 784 batch 1024, warm", "residual": f"{RESIDUAL.name} batch 10"}


def _gpu(key, peer, text, min_speedup=None, max_value=None, subject="gpunet cupy"):
    return Target(GPU_SUITE, GPU_CASES[key], peer, min_speedup, max_value, text, subject)


GPU_TARGETS = (
    _gpu("seed", "", "Pima, batch 10: <= 40 us/step with CUDA graphs", max_value=40.0),
    _gpu("seed", "", "Pima, batch 10: <= 100 us/step eager", max_value=100.0, subject="gpunet cupy eager"),
    _gpu("seed", "torch cuda", "Pima, batch 10: >= 40x PyTorch eager on CUDA", 40.0),
    _gpu("seed", "torch cuda graph", "Pima, batch 10: >= 2x PyTorch's CUDA-graph replay", 2.0),
    _gpu("wide_b128", "torch cuda", "wide, batch 128: >= 4x PyTorch eager", 4.0),
    _gpu("wide_b1024", "torch cuda", "wide, batch 1024: >= 3x PyTorch eager", 3.0),
    _gpu("big", "torch cuda", "4096x3 fp32, batch 4096: >= 0.95x PyTorch, upload included", 0.95),
    _gpu("predict_first", "torch cuda", "predict, first call: >= 1.5x PyTorch", 1.5),
    _gpu("predict_warm", "torch cuda", "predict, warm: >= 1.5x PyTorch", 1.5),
)


def model_for(framework, keras_like, torch_model):
    """A suite's network for ``framework`` (a peers.py adapter): ``torch_model(framework)`` for PyTorch, else
    ``keras_like(K)`` with gpunet (on the adapter's backend) or Keras as ``K``."""
    if framework.name.startswith("torch"):
        return torch_model(framework)
    if framework.name == "gpunet":
        with framework.B.use_backend(framework.backend):
            return keras_like(framework.gpunet)
    return keras_like(framework.keras)
