"""Built-in layers without kernels inside the GPU chain step (gpunet/backend/gpu_own_layers.py): an
Embedding with a pooling or a Flatten (Keras's text classifiers), Reshape, RepeatVector, Permute,
PReLU, UnitNormalization, SpatialDropout1D and activation layers that cannot be folded between Dense
layers run their own forward and backward
between the step's kernels; kernels emulated on the CPU, the model trains through the plan as NumPy
trains it (histories, weights, evaluate; float64 and float32, a short last batch); a Sequential the
chain step does not take (a frozen layer, a lookup layer, a Dense layer over a sequence) trains on the
graph step (masks: test_masked_plans.py)."""
import numpy
import pytest

import gpunet
from cuda_emulator import EmulatedCupyBackend, emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet.backend.gpu_forward import GpuForward
from gpunet.backend.gpu_graphs import Between
from gpunet.backend.gpu_plan import GpuPlan
from gpunet.layers import (Activation, BatchNormalization, Dense, Dropout, Embedding, Flatten, GlobalAveragePooling1D,
                           GlobalMaxPooling1D, IntegerLookup, LeakyReLU, Permute, PReLU, RepeatVector, Reshape,
                           SpatialDropout1D, UnitNormalization)
from gpunet.models import Sequential

N, STEPS, VOCAB = 101, 10, 40  # (101 samples: a short last batch at any batch size used here)


def text_data(classes=2):
    rng = numpy.random.default_rng(4)
    x = rng.integers(0, VOCAB, (N, STEPS)).astype("float64")
    score = (x < VOCAB // 2).mean(axis=1)
    y = (score > 0.5).astype("float64") if classes == 2 else numpy.minimum((score * classes).astype(int), classes - 1)
    return x, y


def rows_data():
    rng = numpy.random.default_rng(5)
    x = rng.standard_normal((N, 8))
    return x, (x[:, :3].sum(1, keepdims=True) + 0.1 * rng.standard_normal((N, 1)))


# name: (layers, loss, data, how many layers run their own code)
CASES = {
    "embedding-pooling": (lambda: [Embedding(VOCAB, 8, input_length=STEPS), Dropout(0.0), GlobalAveragePooling1D(),
                                   Dense(16, activation="relu"), Dense(1, activation="sigmoid")],
                          "binary_crossentropy", text_data, 2),
    "embedding-flatten": (lambda: [Embedding(VOCAB, 4, input_length=STEPS), Flatten(), Dense(1, activation="sigmoid")],
                          "binary_crossentropy", text_data, 2),
    "embedding-maxpool-softmax": (lambda: [Embedding(VOCAB, 6, input_length=STEPS), GlobalMaxPooling1D(),
                                           Dense(3, activation="softmax")],
                                  "sparse_categorical_crossentropy", lambda: text_data(3), 2),
    "reshape-repeat-permute": (lambda: [Dense(12, input_dim=8, activation="tanh"), Reshape((3, 4)), Flatten(),
                                        Dense(6), RepeatVector(2), Permute((2, 1)), Flatten(), Dense(1)],
                               "mse", rows_data, 5),
    "prelu-unit-norm": (lambda: [Dense(12, input_dim=8), PReLU(), Dense(8, activation="relu"), UnitNormalization(),
                                 Dense(1)], "mse", rows_data, 2),
    "activations-not-folded": (lambda: [Dense(12, input_dim=8), Dropout(0.0), Activation("relu"), Dense(6),
                                        Reshape((2, 3)), LeakyReLU(0.2), Flatten(), Dense(1)], "mse", rows_data, 4),
    "spatial-dropout": (lambda: [Embedding(VOCAB, 8, input_length=STEPS), SpatialDropout1D(0.3),
                                 GlobalAveragePooling1D(), Dense(1, activation="sigmoid")],
                        "binary_crossentropy", text_data, 3),
    # weightless layers on the input: their forward only (no gradient flows back to the input)
    "weightless-first": (lambda: [Reshape((2, 4), input_shape=(8,)), Permute((2, 1)), Flatten(),
                                  Dense(6, activation="relu"), Dense(1)], "mse", rows_data, 3),
}


def fit(ops, case, batch_size=16, epochs=3):
    """``case``: a CASES name, or such an entry."""
    layers, loss, data, _ = CASES[case] if isinstance(case, str) else case
    x, y = data()
    with B.use_backend(ops):
        gpunet.utils.set_random_seed(3)
        net = Sequential(layers())
        net.compile(optimizer=gpunet.optimizers.Adam(0.01), loss=loss, metrics=["accuracy"])
        history = net.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0).history
        evaluated = net.evaluate(x, y, verbose=0)
        predicted = ops.to_host(net.predict(x, verbose=0))
    return net, history, evaluated, predicted


def assert_like_numpy(got, ref, tol):
    """``(model, History dict, evaluate's results, predictions)`` of the emulated GPU's run against NumPy's:
    History, evaluate within ``tol``; predictions and weights within 10 ``tol`` relative (``tol`` absolute)."""
    for key in ref[1]:
        numpy.testing.assert_allclose(got[1][key], ref[1][key], rtol=tol, atol=tol, err_msg=key)
    numpy.testing.assert_allclose(got[2], ref[2], rtol=tol, atol=tol)
    numpy.testing.assert_allclose(got[3], ref[3], rtol=tol * 10, atol=tol)
    for g, r in zip(got[0].get_weights(), ref[0].get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_layers_without_kernels_train_inside_the_gpu_step_as_on_numpy(emulator, case, floatx):
    """Each such layer is two `Between` entries of the step (forward, backward: its own code), the
    Dense layers, loss and optimizer the step's kernels; the results are NumPy's (SpatialDropout1D's
    draws too: the layer's own, from the same generator)."""
    B.set_floatx(floatx)
    emulator.launches.clear()
    got = fit(EmulatedCupyBackend(emulator), case)
    ref = fit(B.resolve("numpy"), case)
    plan = got[0]._plan
    assert isinstance(plan, GpuPlan), "the GPU step plan trained it"
    own = CASES[case][3]
    forwards, backwards = own, 0 if case == "weightless-first" else own
    for step in plan._steps.values():  # (the full batches' and the short last batch's)
        assert sum(isinstance(e, Between) for e in step.entries) == forwards + backwards
        assert step.capturable  # (launches between them: captured in segments, gpu_graphs.py)
    kernels = {k.split("<")[0] for k, _, _ in emulator.launches}
    assert {"batch_gather", "loss_grad", "adam_update"} <= kernels and "mlp_step" not in kernels
    # predict and evaluate: the forward plan, the layer's own forward between its launches
    assert isinstance(getattr(got[0], "_gpu_forward", None), GpuForward) and "dense_forward" in kernels
    assert_like_numpy(got, ref, 1e-10 if floatx == "float64" else 2e-5)
    assert got[1]["loss"][-1] < got[1]["loss"][0]


# name: (layers, loss, data, (the own-code layers' forward entries, their backward entries), the forward plan's kind);
# no backward runs for a layer that only the input reaches without trainable weights (a frozen Embedding, a lookup)
CHAINS_FOR_THE_GRAPH_STEP = {
    "dense-over-steps": (lambda: [Embedding(VOCAB, 8, input_length=STEPS), Dense(4, activation="tanh"),
                                  GlobalAveragePooling1D(), Dense(1, activation="sigmoid")],
                         "binary_crossentropy", text_data, (3, 3), "GpuGraphForward"),
    "frozen-embedding": (lambda: [Embedding(VOCAB, 8, input_length=STEPS, trainable=False),
                                  GlobalAveragePooling1D(), Dense(1, activation="sigmoid")],
                         "binary_crossentropy", text_data, (2, 0), "GpuForward"),
    # (a frozen Dense only the input reaches: the step's own forward kernel, inside the captured graph)
    "frozen-dense": (lambda: [Dense(12, input_dim=8, activation="relu", trainable=False), Dense(6, activation="relu"),
                              Dense(1)], "mse", rows_data, (0, 0), "GpuForward"),
    "integer-lookup": (lambda: [IntegerLookup(vocabulary=list(range(1, VOCAB)), input_shape=(STEPS,)),
                                Embedding(VOCAB + 1, 8), GlobalAveragePooling1D(), Dense(1, activation="sigmoid")],
                       "binary_crossentropy", text_data, (3, 2), "GpuGraphForward"),
    "dropout-noise-shape": (lambda: [Dense(12, input_dim=8, activation="relu"), Dropout(0.3, noise_shape=(None, 1)),
                                     Dense(1)], "mse", rows_data, (1, 1), "GpuForward"),
    "frozen-batch-norm": (lambda: [Dense(12, input_dim=8), BatchNormalization(trainable=False), Activation("relu"),
                                   Dense(1)], "mse", rows_data, (1, 1), "GpuForward"),
    "users-activation": (lambda: [Dense(12, input_dim=8, activation=half_tanh), Dense(6, activation="relu"), Dense(1)],
                         "mse", rows_data, (1, 1), "GpuGraphForward"),
}


def half_tanh(t):
    """A user's activation function (no kernel has it)."""
    return gpunet.activations.tanh(t) * 0.5


@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CHAINS_FOR_THE_GRAPH_STEP))
def test_a_sequential_the_chain_step_does_not_take_trains_on_the_graph_step_as_on_numpy(emulator, case, floatx):
    """A Dense layer over a sequence's steps, a frozen layer (transfer learning's frozen base, a frozen
    BatchNormalization: its moving statistics), a lookup layer first, a Dropout with a noise_shape (its own
    draws: NumPy's), a user's activation function: the chain step refuses them, but a Sequential's calls
    are a graph, and the graph step runs each such layer by its own code (before, the whole model trained
    layer by layer on a GPU).
    predict and evaluate: the chain's forward plan where it takes the model, else the graph's."""
    from gpunet.backend.gpu_graph_plan import GpuGraphPlan
    B.set_floatx(floatx)
    layers, loss, data, (forwards, backwards), forward = CHAINS_FOR_THE_GRAPH_STEP[case]
    got = fit(EmulatedCupyBackend(emulator), (layers, loss, data, None))
    ref = fit(B.resolve("numpy"), (layers, loss, data, None))
    assert isinstance(got[0]._plan, GpuGraphPlan), "the graph step trained it"
    assert type(got[0]._gpu_forward).__name__ == forward
    for step in got[0]._plan._steps.values():
        assert sum(isinstance(e, Between) for e in step.entries) == forwards + backwards and step.capturable
    if case == "frozen-dense":  # (NumPy's graph step likewise: a Dense node of its own, forward only)
        assert [type(n).__name__ for n in ref[0]._plan.nodes] == ["DenseNode"] * 3
    assert_like_numpy(got, ref, 1e-10 if floatx == "float64" else 2e-5)
    assert got[1]["loss"][-1] < got[1]["loss"][0]


# ---- functional graphs that are not chains (gpu_graph_plan.py, gpu_graph_step.py) -------------------------
def recommender():
    """Two ids (a user's, an item's), their embeddings, their dot product beside them, a small MLP."""
    from gpunet.layers import Concatenate, Dot, Input
    user, item = Input((1,)), Input((1,))
    eu, ei = Flatten()(Embedding(20, 6)(user)), Flatten()(Embedding(30, 6)(item))
    h = Concatenate()([eu, ei, Dot(axes=1)([eu, ei])])
    return gpunet.Model([user, item], Dense(1, activation="sigmoid")(Dense(8, activation="relu")(h)))


def text_residual():
    """A text model's pooled embedding with a residual Dense block, normalized by a BatchNormalization
    called with training=False (a frozen one's call in transfer learning)."""
    from gpunet.layers import Add, BatchNormalization, Input
    tokens = Input((STEPS,))
    pooled = GlobalAveragePooling1D()(Embedding(VOCAB, 8)(tokens))
    h = Add()([Dense(8, activation="relu")(pooled), pooled])
    return gpunet.Model(tokens, Dense(1, activation="sigmoid")(BatchNormalization()(h, training=False)))


def frozen_norm_residual():
    """A residual block normalized by a frozen BatchNormalization (its moving statistics, by its own code in the
    step), the activation after it a launch of its own."""
    from gpunet.layers import Add, Input
    i = Input((8,))
    h = Activation("relu")(BatchNormalization(trainable=False)(Dense(12)(i)))
    return gpunet.Model(i, Dense(1, activation="sigmoid")(Add()([h, Dense(12, activation="relu")(i)])))


def graph_data(name):
    rng = numpy.random.default_rng(6)
    y = rng.integers(0, 2, (N, 1)).astype("float64")
    if name == "frozen-norm-residual":
        return rng.standard_normal((N, 8)), y
    if name == "recommender":
        return [rng.integers(0, 20, (N, 1)).astype("float64"), rng.integers(0, 30, (N, 1)).astype("float64")], y
    return rng.integers(0, VOCAB, (N, STEPS)).astype("float64"), y


@pytest.mark.parametrize("floatx", ["float64", "float32"])
@pytest.mark.parametrize("name,build,own", [("recommender", recommender, 5), ("text-residual", text_residual, 3),
                                             ("frozen-norm-residual", frozen_norm_residual, 1)],
                         ids=["recommender", "text-residual", "frozen-norm-residual"])
def test_graph_layers_without_kernels_train_inside_the_gpu_graph_step_as_on_numpy(emulator, name, build, own, floatx):
    """The graph step runs each such call (Embedding, Flatten, Dot; GlobalAveragePooling1D, a call with
    training=False) by its layer's own code between its graphs, its inputs' gradients handed on as the
    merges' are; NumPy's graph step trains the same."""
    from gpunet.backend.gpu_graph_forward import GpuGraphForward
    from gpunet.backend.gpu_graph_plan import GpuGraphPlan
    B.set_floatx(floatx)
    x, y = graph_data(name)
    runs = []
    for ops in (EmulatedCupyBackend(emulator), B.resolve("numpy")):
        with B.use_backend(ops):
            gpunet.utils.set_random_seed(3)
            net = build()
            net.compile(optimizer=gpunet.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
            history = net.fit(x, y, batch_size=16, epochs=3, verbose=0).history
            runs.append((net, history, net.evaluate(x, y, verbose=0), ops.to_host(net.predict(x, verbose=0))))
    gpu = runs[0][0]
    assert isinstance(gpu._plan, GpuGraphPlan)
    # predict and evaluate: the graph's forward plan, the same layers' own forward between its launches
    assert isinstance(getattr(gpu, "_gpu_forward", None), GpuGraphForward)
    for step in gpu._plan._steps.values():
        assert sum(isinstance(e, Between) for e in step.entries) == 2 * own and step.capturable
    assert_like_numpy(*runs, 1e-10 if floatx == "float64" else 2e-5)
