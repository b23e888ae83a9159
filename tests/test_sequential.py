import numpy as np
import pytest

import gpunet
from gpunet import backend as B
from gpunet.models import Sequential
from gpunet.layers import Dense, Dropout, BatchNormalization, InputLayer, Input, Activation
from gpunet.testing import check_gradient


def seed_model():
    model = Sequential()
    model.add(Dense(12, input_dim=8, kernel_initializer="uniform", activation="relu"))
    model.add(Dense(8, kernel_initializer="uniform", activation="relu"))
    model.add(Dense(1, kernel_initializer="uniform", activation="sigmoid"))
    return model


def toy_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("float64")
    return x, y


def test_add_builds_and_names_layers():
    model = seed_model()
    assert model.built
    assert [l.name for l in model.layers] == ["dense", "dense_1", "dense_2"]
    assert model.output_shape == (None, 1)
    assert model.count_params() == 8 * 12 + 12 + 12 * 8 + 8 + 8 + 1


def test_duplicate_name_rejected_at_add():
    model = Sequential([Dense(2, input_dim=3, name="a")])
    with pytest.raises(ValueError, match="already has a layer named 'a'"):
        model.add(Dense(2, name="a"))
    assert len(model.layers) == 1


def test_list_constructor_input_layer_pop_get_layer():
    model = Sequential([Input(shape=(4,)), Dense(3, name="h"), Dense(1, name="out")])
    assert [l.name for l in model.layers] == ["h", "out"]
    assert model.input_shape == (None, 4)
    assert model.get_layer("out").units == 1 and model.get_layer(index=0).name == "h"
    with pytest.raises(ValueError, match=r"No such layer: 'nope'. Existing layers are: \['h', 'out'\]"):
        model.get_layer("nope")
    popped = model.pop()
    assert popped.name == "out" and model.output_shape == (None, 3)
    with pytest.raises(TypeError, match="expects a gpunet Layer"):
        model.add("dense")


def test_top_level_input_and_sequential_as_keras_exports_them():
    """``keras.Sequential([keras.Input(shape=(4,)), ...])`` (the Keras 2 and 3 guides' first
    model) with ``keras`` swapped for ``gpunet``."""
    import gpunet
    model = gpunet.Sequential([gpunet.Input(shape=(4,)), gpunet.layers.Dense(2)])
    assert model.input_shape == (None, 4) and model.output_shape == (None, 2)
    assert gpunet.Input is gpunet.layers.Input


def test_deferred_build_on_first_fit():
    model = Sequential([Dense(4, activation="relu"), Dense(1, activation="sigmoid")])
    assert not model.built
    model.compile(loss="binary_crossentropy", optimizer="adam")
    x, y = toy_data()
    model.fit(x, y, epochs=1, verbose=0)
    assert model.built and model.input_shape == (None, 8)
    model2 = Sequential([Dense(2)])
    model2.build((None, 5))
    assert model2.layers[0].kernel.shape == (5, 2)


def test_summary_matches_keras_layout():
    model = seed_model()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert lines[0] == 'Model: "sequential"'
    assert "dense (Dense)                (None, 12)                108" in text
    assert "dense_2 (Dense)              (None, 1)                 9" in text
    assert "Total params: 221" in text and "Trainable params: 221" in text
    assert "Non-trainable params: 0" in text


def test_get_set_weights_and_trainable():
    model = seed_model()
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(8, 12), (12,), (12, 8), (8,), (8, 1), (1,)]
    new = [np.full(w.shape, 0.5, "float32") for w in weights]
    model.set_weights(new)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), new))
    with pytest.raises(ValueError, match="has 6 weights, received 2 arrays"):
        model.set_weights(new[:2])
    model.trainable = False
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 6


def test_tf_keras_variable_and_input_output_names():
    """tf.keras 2's other names: ``variables``/``trainable_variables``/``non_trainable_variables`` (the
    weights' lists, on models and layers) and a Sequential's ``input_names``/``output_names``."""
    model = Sequential([Dense(4, input_shape=(3,)), BatchNormalization(), Dense(1, name="out")])
    assert model.input_names == ["dense_input"] and model.output_names == ["out"]
    assert [w.shape for w in model.trainable_variables] == [(3, 4), (4,), (4,), (4,), (4, 1), (1,)]
    assert [w.shape for w in model.non_trainable_variables] == [(4,), (4,)]  # the moving statistics
    assert [id(w) for w in model.variables] == [id(w) for w in model.weights]
    bn = model.layers[1]
    assert bn.trainable_variables == bn.trainable_weights and len(bn.variables) == 4
    model.layers[0].trainable = False
    assert len(model.trainable_variables) == 4 and len(model.non_trainable_variables) == 4
    functional = gpunet.Model(model.input, model.output)
    assert functional.input_names == ["dense_input"] and functional.output_names == ["out"]


def test_fit_before_compile_says_compile():
    model = seed_model()
    x, y = toy_data()
    with pytest.raises(RuntimeError, match=r"compile your model before training.*model.compile"):
        model.fit(x, y)
    with pytest.raises(RuntimeError, match=r"compile your model before evaluating"):
        model.evaluate(x, y)
    assert model.predict(x[:3], verbose=0).shape == (3, 1)


def test_unknown_names_raise_at_compile():
    model = seed_model()
    with pytest.raises(ValueError, match="Unknown loss 'binary_crossentrop'"):
        model.compile(loss="binary_crossentrop", optimizer="adam")
    with pytest.raises(ValueError, match="Unknown optimizer 'adamm'"):
        model.compile(loss="binary_crossentropy", optimizer="adamm")


def test_wrong_input_width_names_expected_and_received():
    model = seed_model()
    model.compile(loss="binary_crossentropy", optimizer="adam")
    with pytest.raises(ValueError, match=r"expects input shape \(None, 8\), received input of shape \(10, 5\)"):
        model.fit(np.zeros((10, 5)), np.zeros(10), verbose=0)
    with pytest.raises(ValueError, match=r"expects input shape \(None, 8\), received input of shape \(2, 3\)"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"x has 10, y has 9"):
        model.fit(np.zeros((10, 8)), np.zeros(9), verbose=0)


def test_fit_returns_history_and_evaluate_forms():
    model = seed_model()
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    x, y = toy_data(100)
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, validation_split=0.2)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == [0, 1, 2] and len(history.history["loss"]) == 3
    assert model.metrics_names == ["loss", "accuracy"]
    scores = model.evaluate(x, y, verbose=0)
    assert isinstance(scores, list) and len(scores) == 2
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert as_dict == {"loss": scores[0], "accuracy": scores[1]}
    model.compile(loss="binary_crossentropy", optimizer="adam")
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_epoch_loss_is_batch_size_weighted_mean_and_evaluate_matches_manual():
    model = seed_model()
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    x, y = toy_data(50)
    loss, acc = model.evaluate(x, y, batch_size=7, verbose=0)
    p = model.predict(x, verbose=0)[:, 0].astype("float64")
    eps = 1e-7
    pc = np.clip(p, eps, 1 - eps)
    manual = -(y * np.log(pc + eps) + (1 - y) * np.log(1 - pc + eps)).mean()
    assert abs(loss - manual) < 1e-5
    assert acc == ((p > 0.5) == (y > 0.5)).mean()


def test_inputs_lists_float64_and_1d_labels():
    model = seed_model()
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["acc"])
    x, y = toy_data(20)
    model.fit(x.tolist(), y.tolist(), epochs=1, verbose=0)
    out = model.predict(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (20, 1)
    assert model.metrics_names == ["loss", "acc"]
    with pytest.raises(ValueError, match="must hold numbers"):
        model.predict([["a"] * 8])


def test_train_test_predict_on_batch():
    model = seed_model()
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    x, y = toy_data(10)
    loss, acc = model.train_on_batch(x, y)
    assert np.isfinite(loss) and 0 <= acc <= 1
    loss2, _ = model.test_on_batch(x, y)
    assert loss2 < loss + 1e-3
    np.testing.assert_array_equal(model.predict_on_batch(x), model.predict(x, verbose=0))


def test_sample_weight_zero_ignores_samples():
    x, y = toy_data(40)
    sw = np.ones(40)
    sw[20:] = 0
    gpunet.utils.set_random_seed(5)
    a = seed_model()
    a.compile(loss="binary_crossentropy", optimizer="adam")
    la = a.evaluate(x, y, sample_weight=sw, verbose=0, batch_size=40)
    lb = a.evaluate(x[:20], y[:20], verbose=0, batch_size=20)
    assert abs(la - lb / 2) < 1e-6  # Keras divides by the batch size, not the weight sum


def test_class_weight_equals_sample_weight():
    x, y = toy_data(40)
    results = []
    for kwargs in ({"class_weight": {0: 1.0, 1: 3.0}}, {"sample_weight": np.where(y > 0.5, 3.0, 1.0)}):
        gpunet.utils.set_random_seed(9)
        m = seed_model()
        m.compile(loss="binary_crossentropy", optimizer="adam")
        m.fit(x, y, epochs=2, batch_size=8, verbose=0, **kwargs)
        results.append(m.get_weights())
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_initial_epoch_counts_epochs():
    model = seed_model()
    model.compile(loss="binary_crossentropy", optimizer="adam")
    x, y = toy_data(20)
    h = model.fit(x, y, epochs=5, initial_epoch=3, verbose=0)
    assert h.epoch == [3, 4]


def test_same_seed_same_weights_bit_for_bit():
    x, y = toy_data(60)
    runs = []
    for _ in range(2):
        gpunet.utils.set_random_seed(42)
        m = Sequential([Dense(6, input_dim=8, activation="relu"), Dropout(0.3), BatchNormalization(),
                        Dense(1, activation="sigmoid")])
        m.compile(loss="binary_crossentropy", optimizer="adam")
        m.fit(x, y, epochs=3, batch_size=7, verbose=0)
        runs.append(m.get_weights())
    for a, b in zip(*runs):
        assert np.array_equal(a, b)
    gpunet.utils.set_random_seed(43)
    m = Sequential([Dense(6, input_dim=8)])
    assert not np.array_equal(m.get_weights()[0], runs[0][0])


def test_whole_sequential_gradient(ops):
    B.set_floatx("float64")
    model = Sequential([Dense(5, input_dim=4, activation="tanh"), BatchNormalization(),
                        Dense(3, activation="sigmoid"), Activation("relu"), Dense(2)])
    model.compile(loss="binary_crossentropy", optimizer="adam")
    model._ensure_ready((None, 4), train=True)
    x = np.random.default_rng(0).standard_normal((6, 4))

    def fwd(xv):
        return ops.to_host(model._forward(ops.asarray(xv), True)[0])

    def bwd(dy):
        d = ops.asarray(dy)
        for layer in reversed(model.layers):
            d = layer.backward(d)
        return ops.to_host(d)
    check_gradient(fwd, bwd, x)
    # parameter gradients of the whole stack, through the flat gradient buffer
    params = ops.to_host(model._params).copy()
    dy = np.random.default_rng(1).standard_normal((6, 2))

    def loss_of(pv):
        model._params[...] = ops.asarray(pv)
        return float((fwd(x) * dy).sum())
    loss_of(params)
    bwd(dy)
    analytic = ops.to_host(model._grads).copy()
    from gpunet.testing import numeric_gradient
    numeric = numeric_gradient(lambda: loss_of(params), params)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_model_to_cpu_is_a_no_op_and_bad_device_rejected():
    model = seed_model()
    assert model.to("cpu") is model
    with pytest.raises(ValueError, match="expects 'cpu' or 'gpu', received 'tpu'"):
        model.to("tpu")


@pytest.mark.gpu
@pytest.mark.skipif(B.cupy_unavailable_reason() is not None, reason="needs CUDA")
def test_model_to_gpu_and_back_keeps_weights_and_optimizer_state():
    model = seed_model()
    model.compile(loss="binary_crossentropy", optimizer="adam")
    x, y = toy_data(30)
    model.fit(x, y, epochs=2, verbose=0)
    weights = model.get_weights()
    slots = {k: model.ops.to_host(v).copy() for k, v in model.optimizer.slots().items()}
    model.to("gpu")
    assert model.ops.name == "cupy"
    model.to("cpu")
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    for k, v in model.optimizer.slots().items():
        assert np.array_equal(slots[k], model.ops.to_host(v))
