"""A functional model that is not a chain (residual, wide-and-deep, several inputs, merges,
activation and dropout layers between), or a Sequential model the chain's step does not take,
trains on NumPy's fused graph step (backend/graph_plan.py) as it trains layer by layer: the same
histories, weights and predictions."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as B, layers as L
from gpunet.backend.graph_plan import GraphPlan
from gpunet.models import Model


def residual(loss="binary_crossentropy"):
    i = gpunet.Input((8,))
    h = L.Dense(12, activation="relu")(i)
    h2 = L.Dense(12, activation="tanh")(h)
    return Model(i, L.Dense(1, activation="sigmoid")(L.Add()([h, h2])))


def wide_and_deep():
    i = gpunet.Input((8,))
    d = L.Dropout(0.2)(L.Dense(12, activation="relu", kernel_regularizer="l2")(i))
    d = L.Dense(6, kernel_constraint=gpunet.constraints.MaxNorm(1.5))(d)
    d = L.LeakyReLU(0.1)(d)
    return Model(i, L.Dense(1, activation="sigmoid")(L.Concatenate()([i, d])))


def two_inputs():
    a, b = gpunet.Input((5,), name="a"), gpunet.Input((3,), name="b")
    ha, hb = L.Dense(6, activation="elu")(a), L.Dense(6, use_bias=False)(b)
    merged = L.Average()([ha, hb, L.Subtract()([ha, hb])])
    return Model([a, b], L.Dense(3, activation="softmax")(L.Activation("relu")(merged)))


def fan_out():
    """One tensor read by four calls (its gradient the sum of theirs), dropout on the input."""
    i = gpunet.Input((8,))
    x = L.Dropout(0.25)(i)
    h = L.Dense(10, activation="sigmoid")(x)
    s = L.Add()([h, L.Dense(10, activation="relu")(h), L.Dense(10)(h)])
    return Model(i, L.Dense(2)(L.Concatenate()([s, h, L.Dropout(0.0)(s)])))


def others():
    """Layers the plan runs by their own code: BatchNormalization, Multiply, a frozen Dense, a call with
    training= (Monte Carlo dropout), an Embedding over integer ids (Flatten after it)."""
    i = gpunet.Input((8,))
    h = L.BatchNormalization()(L.Dense(6, use_bias=False)(i))  # (a bias before it has a gradient of rounding
    # noise alone, which Adam scales up to full steps: no two summation orders would agree on it)
    frozen = L.Dense(6, activation="tanh", trainable=False)
    gate = L.Multiply()([L.Activation("relu")(h), frozen(i)])
    drop = L.Dropout(0.3)(gate, training=True)
    return Model(i, L.Dense(1, activation="sigmoid")(L.Concatenate()([drop, h])))


def embedded():
    i = gpunet.Input((4,))
    e = L.Flatten()(L.Embedding(12, 3)(i))
    return Model(i, L.Dense(1, activation="sigmoid")(L.Concatenate()([e, L.Dense(3, activation="relu")(e)])))


def sequential_text():
    """A Sequential the chain's step does not take: token ids through an Embedding, averaged."""
    return gpunet.Sequential([gpunet.Input((6,)), L.Embedding(20, 4), L.GlobalAveragePooling1D(),
                              L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")])


def sequential_unbuilt():
    """The same without an input shape: built at fit, its sequence length unknown (None) in its graph."""
    return gpunet.Sequential([L.Embedding(20, 4), L.GlobalAveragePooling1D(), L.Dense(8, activation="relu"),
                              L.Dense(3, activation="softmax")])


def sequential_noise():
    """GaussianNoise, a Dense without bias, a LayerNormalization first and a frozen layer."""
    frozen = L.Dense(5, activation="tanh", trainable=False)
    return gpunet.Sequential([gpunet.Input((8,)), L.LayerNormalization(), L.GaussianNoise(0.2),
                              L.Dense(10, activation="relu", use_bias=False), frozen, L.Dense(1)])


def two_outputs():
    """Two heads (one of them also read by the other) with their own losses, weights and metrics."""
    i = gpunet.Input((8,))
    h = L.Dense(10, activation="relu")(i)
    score = L.Dense(1, activation="sigmoid", name="score")(h)
    value = L.Dense(2, name="value")(L.Concatenate()([h, score]))
    return Model(i, [score, value])


def siamese():
    """One Dense layer called on both inputs and again on its own output (its weight gradients the
    sum over its three calls), their difference scored (test_gpu_graph_plan.py trains it too)."""
    a, b = gpunet.Input((4,), name="left"), gpunet.Input((4,), name="right")
    embed = L.Dense(4, activation="tanh", kernel_regularizer="l2")
    ea, eb = embed(a), embed(embed(b))
    return Model([a, b], L.Dense(1, activation="sigmoid")(L.Concatenate()([L.Subtract()([ea, eb]), ea])))


def siamese_data(x):
    """The two inputs from x's columns, and whether the first's first feature is the larger."""
    return [x[:, :4], x[:, 4:]], (x[:, :1] > x[:, 4:5]).astype(float), None


CASES = {  # model, loss (or compile's arguments), metrics, batch size
    "residual": (residual, "binary_crossentropy", ["accuracy"], 10),
    "residual-smoothed": (residual, gpunet.losses.BinaryCrossentropy(label_smoothing=0.1), ["accuracy"], 16),
    "wide-and-deep": (wide_and_deep, "binary_crossentropy", ["accuracy"], 7),
    "two-inputs": (two_inputs, "categorical_crossentropy", ["accuracy"], 12),
    "fan-out": (fan_out, "mse", ["mae"], 9),
    "others": (others, "binary_crossentropy", ["accuracy"], 10),
    "embedded": (embedded, "binary_crossentropy", ["accuracy"], 10),
    "sequential-text": (sequential_text, "sparse_categorical_crossentropy", ["accuracy"], 8),
    "sequential-noise": (sequential_noise, "mse", ["mae"], 10),
    "sequential-unbuilt": (sequential_unbuilt, "sparse_categorical_crossentropy", ["accuracy"], 8),
    "siamese": (siamese, "binary_crossentropy", ["accuracy"], 10),
    "two-outputs": (two_outputs, {"loss": {"score": "binary_crossentropy", "value": "mse"},
                                  "loss_weights": [1.0, 0.5]}, ["mae"], 9),
}


def data(case):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(61, 8))
    if case == "two-inputs":
        return [x[:, :5], x[:, 5:]], np.eye(3)[rng.integers(0, 3, 61)], None
    if case == "siamese":
        return siamese_data(x)
    if case == "two-outputs":
        return x, [(x[:, :1] > 0).astype(float), x[:, 2:4]], [rng.uniform(0.5, 2.0, 61), np.ones(61)]
    if case == "fan-out":
        return x, rng.normal(size=(61, 2)), rng.uniform(0.5, 2.0, 61)
    if case == "embedded":
        return rng.integers(0, 12, (61, 4)), (x[:, :1] > 0).astype(float), None
    if case in ("sequential-text", "sequential-unbuilt"):
        return rng.integers(0, 20, (61, 6)), rng.integers(0, 3, 61), None
    if case == "sequential-noise":
        return x, x[:, :1] * 2 - x[:, 1:2], None
    return x, (x[:, :1] + x[:, 1:2] > 0).astype(float), None


def trained(case, planned, epochs=3):
    make, loss, metrics, batch = CASES[case]
    gpunet.utils.set_random_seed(11)
    model = make()
    compiled = loss if isinstance(loss, dict) else {"loss": loss}
    model.compile(optimizer=gpunet.optimizers.Adam(0.01), metrics=list(metrics), **compiled)
    if not planned:
        model._build_plan = lambda: None  # the layer path
    x, y, sw = data(case)
    gpunet.utils.set_random_seed(12)  # (the same shuffles and dropout masks for both)
    history = model.fit(x, y, sample_weight=sw, batch_size=batch, epochs=epochs, verbose=0).history
    return model, history, model.predict(x, verbose=0)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_graph_step_trains_as_the_layer_path(case, dtype):
    B.set_floatx(dtype)
    with B.use_backend("numpy"):
        model, history, predicted = trained(case, True)
        ref, want, expected = trained(case, False)
    assert isinstance(model._plan, GraphPlan) and ref._plan is False
    tol = 2e-5 if dtype == "float32" else 1e-11
    assert sorted(history) == sorted(want)
    for key in want:
        np.testing.assert_allclose(history[key], want[key], rtol=tol, atol=tol, err_msg=key)
    for got, ref_w in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, ref_w, rtol=tol, atol=tol)
    for got, want_part in zip(predicted if isinstance(predicted, list) else [predicted],
                              expected if isinstance(expected, list) else [expected]):
        np.testing.assert_allclose(got, want_part, rtol=tol, atol=tol)


def test_train_on_batch_and_fit_take_the_same_step():
    with B.use_backend("numpy"):
        x, y, _ = data("residual")
        gpunet.utils.set_random_seed(4)
        a = residual()
        gpunet.utils.set_random_seed(4)
        b = residual()
        for m in (a, b):
            m.compile(optimizer="sgd", loss="binary_crossentropy")
        loss = a.train_on_batch(x[:20], y[:20])
        history = b.fit(x[:20], y[:20], batch_size=20, epochs=1, shuffle=False, verbose=0).history
    assert isinstance(a._plan, GraphPlan)
    assert loss == pytest.approx(history["loss"][0], rel=1e-6)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def shared_layer():
    """A shared layer other than Dense (the plan sums the gradients of shared Dense layers alone)."""
    i = gpunet.Input((8,))
    d = L.Dense(8, activation="relu")
    norm = L.BatchNormalization()
    return Model(i, L.Dense(1, activation="sigmoid")(L.Add()([norm(d(i)), norm(i)])))


class Twice(L.Layer):
    """A layer of your own holding one with an activity regularizer, which the step does not take: the layer
    path (one without, adding a loss or a metric or not, trains on the step: test_user_layer_plans.py)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.penalty = L.ActivityRegularization(l2=1e-3)

    def call(self, inputs):
        return self.penalty(2.0 * inputs)


def with_users_layer():
    """(A Lambda trains on the step: test_op_layer_plans.py.)"""
    i = gpunet.Input((8,))
    h = L.Dense(4)(i)
    return Model(i, L.Dense(1, activation="sigmoid")(L.Add()([h, Twice()(h)])))


def masked():
    """A mask into a merge (masks between calls run by their own code train on the step: test_masked_plans.py)."""
    i = gpunet.Input((5,))
    e, f = L.Embedding(10, 3, mask_zero=True)(i), L.Embedding(10, 3)(i)
    return Model(i, L.Dense(1, activation="sigmoid")(L.GlobalAveragePooling1D()(L.Add()([e, f]))))


def nested():
    """A nested model holding a layer of your own that holds an activity regularizer (one of built-in layers
    trains on the step: test_nested_plans.py)."""
    i = gpunet.Input((8,))
    inner = gpunet.Sequential([L.Dense(4, activation="relu"), Twice()])
    return Model(i, L.Dense(1, activation="sigmoid")(L.Add()([inner(i), L.Dense(4)(i)])))


@pytest.mark.parametrize("make", [shared_layer, with_users_layer, masked, nested])
def test_what_the_graph_step_does_not_take_trains_layer_by_layer(make):
    with B.use_backend("numpy"):
        model = make()
        model.compile(optimizer="adam", loss="binary_crossentropy")
        x, y, _ = data("residual")
        x = np.abs(x[:, :5] * 3).astype(int) if make is masked else x
        history = model.fit(x, y, epochs=2, verbose=0).history
    assert model._plan is False and np.isfinite(history["loss"]).all()


def test_a_chain_keeps_the_chain_plan_and_an_added_loss_the_layer_path():
    from gpunet.backend.dense_plan import DensePlan
    with B.use_backend("numpy"):
        i = gpunet.Input((8,))
        chain = Model(i, L.Dense(1, activation="sigmoid")(L.Dense(4, activation="relu")(i)))
        chain.compile(optimizer="adam", loss="binary_crossentropy")
        x, y, _ = data("residual")
        chain.fit(x, y, epochs=1, verbose=0)
        assert isinstance(chain._plan, DensePlan)
        model = residual()
        model.compile(optimizer="adam", loss="binary_crossentropy")
        model.fit(x, y, epochs=1, verbose=0)
        assert isinstance(model._plan, GraphPlan)
        model.add_loss(gpunet.ops.mean(model.layers[1].output) * 0.0)
        before = model.get_weights()
        model.fit(x, y, epochs=1, verbose=0)
        assert model._train_plan() is None  # the added loss is the layer path's
        assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_the_plan_follows_a_changed_layer():
    """An activation changed between fits, or new weight arrays (set_weights keeps them; a
    recompile packs anew), builds the plan again."""
    with B.use_backend("numpy"):
        model = residual()
        model.compile(optimizer="adam", loss="binary_crossentropy")
        x, y, _ = data("residual")
        model.fit(x, y, epochs=1, verbose=0)
        first = model._plan
        model.fit(x, y, epochs=1, verbose=0)
        assert model._plan is first
        model.layers[2].activation = gpunet.activations.get("relu")
        model.fit(x, y, epochs=1, verbose=0)
        assert model._plan is not first and model._plan.nodes[1].act == "relu"
