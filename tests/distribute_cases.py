"""Models and data shared by tests/test_distribute.py and the ranks it launches
(tests/distribute_worker.py): the same definitions on both sides of the comparison."""
import numpy

import gpunet
from gpunet import backend as B
from gpunet.layers import Activation, ActivityRegularization, Add, BatchNormalization, Dense, Input
from gpunet.models import Sequential
from metric_cases import TotalAbsoluteError

BATCH = 4  # per rank; one process trains with 2 * BATCH


def data(n, width=8, seed=0, dtype="float64"):
    rng = numpy.random.default_rng(seed)
    x = rng.normal(size=(n, width)).astype(dtype)
    y = (x[:, :1] + 0.5 * x[:, 1:2] > 0).astype(dtype)
    return x, y


def model(kind, seed, floatx="float64"):
    """``"plan"``: Dense only (NumPy's fused plan); ``"layers"``: with regularizers, which the layer
    path trains (an ActivityRegularization layer) and whose penalties enter the loss; ``"activity-plan"``: the
    same penalties from the Dense layer's own regularizers, on NumPy's fused plan; ``"syncbn"``: a
    BatchNormalization(synchronized=True) between Dense layers; ``"residual"``: a functional graph that is
    not a chain (the graph steps: NumPy's and the GPU's)."""
    B.set_floatx(floatx)
    gpunet.utils.set_random_seed(seed)
    if kind == "plan":
        return Sequential([Dense(16, input_dim=8, activation="relu"), Dense(1, activation="sigmoid")])
    if kind == "residual":
        i = Input((8,))
        h = Dense(12, activation="relu")(i)
        return gpunet.Model(i, Dense(1, activation="sigmoid")(Add()([h, Dense(12, activation="tanh")(h)])))
    if kind in ("syncbn", "syncbn-plan"):  # the global batch's statistics on every rank
        # (without a bias before it, NumPy's graph step; with one, NumPy's fused plan of the chain)
        return Sequential([Dense(12, input_dim=8, use_bias=kind == "syncbn-plan"),
                           BatchNormalization(synchronized=True, momentum=0.8), Activation("tanh"),
                           Dense(1, activation="sigmoid")])
    if kind == "activity-plan":
        return Sequential([Dense(12, input_dim=8, activation="tanh", kernel_regularizer="l2",
                                 activity_regularizer=gpunet.regularizers.l1(1e-3)),
                           Dense(1, activation="sigmoid")])
    return Sequential([Dense(12, input_dim=8, activation="tanh", kernel_regularizer="l2"),
                       ActivityRegularization(l1=1e-3), Dense(1, activation="sigmoid")])


def optimizer(name):
    if name == "adam":
        return gpunet.optimizers.Adam(0.01)
    return gpunet.optimizers.SGD(0.05, momentum=0.9, nesterov=True)


# name: (model kind, optimizer, samples, epochs, float type). The samples leave a short last global
# batch: 3 of 8 (both ranks have some), and 1 of 8 (rank 1 has none: its padded, zero-weight step).
CASES = {
    "adam64": ("plan", "adam", 2 * BATCH * 32 + 3, 2, "float64"),
    "sgd64": ("layers", "sgd", 2 * BATCH * 32 + 1, 2, "float64"),
    "activity-plan64": ("activity-plan", "sgd", 2 * BATCH * 32 + 1, 2, "float64"),
    "adam32": ("plan", "adam", 2 * BATCH * 30, 1, "float32"),
    "syncbn-padded64": ("syncbn", "adam", 2 * BATCH * 32 + 1, 2, "float64"),
    "syncbn-uneven64": ("syncbn", "sgd", 2 * BATCH * 32 + 3, 2, "float64"),
    "syncbn-plan64": ("syncbn-plan", "adam", 2 * BATCH * 32 + 1, 2, "float64"),
    "residual64": ("residual", "adam", 2 * BATCH * 32 + 3, 2, "float64"),
}


def reference(case):
    """One process, ``batch_size=2*BATCH``: (model, History.history)."""
    kind, opt, n, epochs, floatx = CASES[case]
    x, y = data(n, dtype=floatx)
    m = model(kind, 7, floatx)
    m.compile(optimizer=optimizer(opt), loss="binary_crossentropy", metrics=["accuracy"])
    history = m.fit(x, y, batch_size=2 * BATCH, epochs=epochs, verbose=0, validation_data=data(37, seed=1,
                                                                                              dtype=floatx))
    return m, history.history


def SummedMAE():
    """A Keras-style stateful metric: its state in add_weight variables (summed over the ranks)."""
    return TotalAbsoluteError(name="summed_mae")


def extras_model(seed, norm=False):
    """A small model for the extras: with an unsynchronized BatchNormalization when ``norm``."""
    B.set_floatx("float64")
    gpunet.utils.set_random_seed(seed)
    middle = [BatchNormalization(momentum=0.7)] if norm else []
    m = Sequential([Dense(6, input_dim=8, activation="tanh")] + middle + [Dense(1, activation="sigmoid")])
    m.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy", SummedMAE()])
    return m


def per_class_metrics():
    """Metrics whose variables their first update makes, one per class (a rank without rows has none)."""
    return [gpunet.metrics.F1Score(threshold=0.5), gpunet.metrics.R2Score()]


def hinge_evaluation_data():
    """29 samples whose labels are 0/1 but for one soft label in the fourth batch of 4 (Keras converts
    0/1 hinge labels batch by batch): evaluate must batch exactly as one process does."""
    x, y = data(29, seed=3)
    y[13, 0] = 0.5
    return x, y
