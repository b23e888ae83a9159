"""A Sequential used as a layer of another (pitfall 13): it trains like the flat model, and it
round-trips through every save path (frozen and parameter-free layers included) in Keras's
file layouts; mismatches name the layers that differ."""
import io
import json

import h5py
import numpy as np
import pytest

import gpunet
from gpunet.layers import Activation, BatchNormalization, Dense, Dropout
from gpunet.layers.naming import reset_names
from gpunet.models import Sequential, load_model, model_from_json, model_from_yaml
from gpunet.saving import hdf5_legacy as h5l
from resume_check import straight_and_resumed

RNG = np.random.RandomState(4)
X = RNG.rand(40, 3).astype("float32")
Y = RNG.rand(40, 2).astype("float32")


def nested(frozen=True, deep_units=5):
    """outer = [inner = [d1 (frozen), bn, drop, deeper = [deep, act]], d2]."""
    deeper = Sequential([Dense(deep_units, name="deep"), Activation("tanh", name="act")], name="deeper")
    inner = Sequential([Dense(4, activation="relu", input_dim=3, name="d1"), BatchNormalization(name="bn"),
                        Dropout(0.2, seed=3, name="drop"), deeper], name="inner")
    if frozen:
        inner.layers[0].trainable = False
    outer = Sequential([inner, Dense(2, name="d2")], name="outer")
    outer.compile(loss="mse", optimizer="adam")
    return outer


def flat(frozen=True):
    model = Sequential([Dense(4, activation="relu", input_dim=3, name="d1"), BatchNormalization(name="bn"),
                        Dropout(0.2, seed=3, name="drop"), Dense(5, name="deep"), Activation("tanh", name="act"),
                        Dense(2, name="d2")])
    model.layers[0].trainable = not frozen
    model.compile(loss="mse", optimizer="adam")
    return model


def trained():
    model = nested()
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    return model


def _same_weights(a, b):
    return [w.path for w in a.weights] == [w.path for w in b.weights] and all(
        x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def test_nested_model_trains_exactly_like_the_flat_one():
    """On NumPy: on a GPU the flat model's Dropout is the step's kernel, whose masks are its own, while the
    nested model's runs inside the nested model's own code (the layer path's masks)."""
    with gpunet.backend.use_backend("numpy"):
        gpunet.utils.set_random_seed(7)
        a = nested()
        history_a = a.fit(X, Y, epochs=3, batch_size=8, verbose=0)
        gpunet.utils.set_random_seed(7)
        b = flat()
        history_b = b.fit(X, Y, epochs=3, batch_size=8, verbose=0)
    assert history_a.history["loss"] == history_b.history["loss"]
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))
    assert [w.path for w in a.trainable_weights] == ["bn/gamma", "bn/beta", "deep/kernel", "deep/bias",
                                                     "d2/kernel", "d2/bias"]
    assert a.layers[0].output_shape == (None, 5) and a.count_params() == b.count_params()


def _load_weights_into(builder, path, **kwargs):
    def load(model, tmp):
        fresh = builder(model)
        report = fresh.load_weights(tmp / path, **kwargs)
        assert report.complete and len(report.loaded) == len(model.weights)
        return fresh
    return load


SAVE_PATHS = {
    "save-h5": ("m.h5", True, lambda m, tmp: load_model(tmp / "m.h5")),
    "save-keras": ("m.keras", True, lambda m, tmp: load_model(tmp / "m.keras")),
    "weights-h5": ("w.h5", False, _load_weights_into(lambda m: nested(), "w.h5")),
    "weights-keras3": ("w.weights.h5", False, _load_weights_into(lambda m: nested(), "w.weights.h5")),
    "json+weights": ("w.h5", False, _load_weights_into(lambda m: model_from_json(m.to_json()), "w.h5")),
    "yaml+weights-by-name": ("w.weights.h5", False,
                             _load_weights_into(lambda m: model_from_yaml(m.to_yaml()), "w.weights.h5",
                                                by_name=True)),
}


@pytest.mark.parametrize("how", sorted(SAVE_PATHS))
def test_nested_model_round_trips_through_every_save_path(tmp_path, how):
    model = trained()
    name, whole, load = SAVE_PATHS[how]
    (model.save if whole else model.save_weights)(tmp_path / name)
    loaded = load(model, tmp_path)
    inner = loaded.get_layer("inner")
    assert isinstance(inner, Sequential) and [l.name for l in inner.layers] == ["d1", "bn", "drop", "deeper"]
    assert inner.layers[0].trainable is False and inner.get_layer("deeper").get_layer("act").weights == []
    assert _same_weights(model, loaded)  # BN moving statistics and the frozen layer included
    assert np.array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


@pytest.mark.parametrize("ext", [".h5", ".keras"])
def test_resuming_a_nested_model_is_bit_identical(tmp_path, ext):
    straight, _, resumed, _ = straight_and_resumed(nested, X, Y, tmp_path / ("m" + ext), epochs=4, split=2,
                                                   batch_size=8, seed=11)
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 20
    assert _same_weights(straight, resumed)


def test_files_use_keras_layouts_for_nested_models(tmp_path):
    model = trained()
    model.save(tmp_path / "m.h5")
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:  # tf.keras 2's layout: one group per top-level layer
        group = f["model_weights"]
        assert h5l.load_attributes(group, "layer_names") == ["inner", "d2"]
        # Trainable weights first, then the others (frozen d1, BN statistics), named after their layer.
        assert h5l.load_attributes(group["inner"], "weight_names") == [
            "bn/gamma:0", "bn/beta:0", "deep/kernel:0", "deep/bias:0", "d1/kernel:0", "d1/bias:0",
            "bn/moving_mean:0", "bn/moving_variance:0"]
        assert np.array_equal(group["inner/d1/kernel:0"][()], model.get_layer("inner").layers[0].get_weights()[0])
        config = json.loads(f.attrs["model_config"])
        entry = config["config"]["layers"][1]
        assert (entry["class_name"], entry["module"]) == ("Sequential", "keras")
        assert [e["config"]["name"] for e in entry["config"]["layers"]] == ["d1_input", "d1", "bn", "drop", "deeper"]
        assert "Adam/deep/kernel/m:0" in h5l.load_attributes(f["optimizer_weights"], "weight_names")
    with h5py.File(tmp_path / "w.weights.h5", "r") as f:  # Keras 3's layout: nested "layers" groups
        assert f["layers/sequential/vars"].attrs["name"] == "inner" and len(f["layers/sequential/vars"]) == 0
        assert f["layers/sequential/layers/dense/vars"].attrs["name"] == "d1"
        assert f["layers/sequential/layers/sequential/layers/dense/vars/0"].shape == (4, 5)
        assert f["layers/dense/vars"].attrs["name"] == "d2"


def test_a_nested_model_frozen_differently_still_loads_its_weights_by_name(tmp_path):
    model = trained()
    model.save_weights(tmp_path / "w.h5")  # d1 frozen: its weights come after the trainable ones
    fresh = nested(frozen=False)  # positions differ; the names in the file say which is which
    fresh.load_weights(tmp_path / "w.h5")
    assert _same_weights(model, fresh)


def test_real_mismatch_names_the_layers_that_differ(tmp_path):
    trained().save_weights(tmp_path / "w.h5")
    other = Sequential([Sequential([Dense(4, input_dim=3, name="a1"), Dense(5, name="a2")], name="inner"),
                        Dense(2, name="d2")])
    with pytest.raises(ValueError) as err:
        other.load_weights(tmp_path / "w.h5")
    message = str(err.value)
    assert "Layer 'inner' has 4 weights ['a1/kernel', 'a1/bias', 'a2/kernel', 'a2/bias']" in message
    assert "'bn/gamma:0'" in message and "8" in message
    trained().save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match=r"does not fit model 'inner'.*\['batch_normalization'"):
        other.load_weights(tmp_path / "w.weights.h5")


def test_layer_names_are_unique_across_nested_models():
    inner = Sequential([Dense(2, input_dim=3, name="a"), Dense(2, name="b")], name="inner")
    with pytest.raises(ValueError, match=r"nested model 'inner' has layer\(s\) \['a'\], which model 'outer'"):
        Sequential([Dense(3, input_dim=3, name="a"), inner], name="outer")
    outer = Sequential([inner, Dense(1, name="c")], name="outer")
    with pytest.raises(ValueError, match="already has a layer named 'b'"):
        outer.add(Dense(1, name="b"))
    with pytest.raises(ValueError, match="Cannot add model 'outer' to itself"):
        inner.add(outer)
    with pytest.raises(ValueError, match="empty Sequential 'empty'"):
        outer.add(Sequential(name="empty"))
    outer.pop()
    outer.add(Dense(1, name="c"))  # popping frees the names again
    inner.add(Dense(1, name="c"))  # changed after nesting: a save refuses to mix two weights up
    with pytest.raises(ValueError, match=r"several weights named \['c/bias', 'c/kernel'\]"):
        outer.save_weights(io.BytesIO())


def test_new_layers_can_join_a_loaded_model_without_a_name_clash(tmp_path):
    trained().save(tmp_path / "m.h5")
    reset_names()  # as in a new process: generated names start again at "dense"
    base = load_model(tmp_path / "m.h5")
    base.trainable = False
    head = Dense(2)
    assert head.name not in {l.name for l in base.get_layer("inner").layers} | {"d2", "inner"}
    model = Sequential([base, head])
    model.compile(loss="mse", optimizer="sgd")
    before = base.get_weights()
    model.fit(X, Y, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, base.get_weights()))  # frozen base stays put
    assert model.trainable_weights == head.trainable_weights


def test_a_nested_model_trained_on_its_own_keeps_the_outer_model_correct(tmp_path):
    inner = Sequential([Dense(4, input_dim=3, name="i1"), Dense(2, name="i2")], name="inner")
    inner.compile(loss="mse", optimizer="sgd")
    outer = Sequential([inner, Dense(2, name="o")])
    outer.compile(loss="mse", optimizer="sgd")
    outer.fit(X, Y, epochs=1, verbose=0)
    before = inner.get_weights()
    inner.fit(X, Y, epochs=1, verbose=0)  # packs the shared weights into the inner model's buffer
    trained_inner = inner.get_weights()
    assert not np.array_equal(before[0], trained_inner[0])  # it trained the weights the models share
    outer.save(tmp_path / "m.h5")  # saves the current values, not the outer buffer's stale copy
    assert all(np.array_equal(a, b) for a, b in zip(trained_inner, load_model(tmp_path / "m.h5").get_weights()))
    outer.fit(X, Y, epochs=1, verbose=0)  # trains the current values
    assert not np.array_equal(inner.get_weights()[0], trained_inner[0])
    assert outer.get_layer("inner").layers[0].kernel.value is inner.layers[0].kernel.value


def test_activity_regularizers_inside_a_nested_model_count_like_in_the_flat_model():
    def layers():
        return [Dense(4, input_dim=3, name="r", activity_regularizer=gpunet.regularizers.l2(0.1)), Dense(2, name="s")]
    gpunet.utils.set_random_seed(2)
    a = Sequential([Sequential(layers(), name="inner")])
    a.compile(loss="mse", optimizer="sgd")
    loss_a = a.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    gpunet.utils.set_random_seed(2)
    b = Sequential(layers())
    b.compile(loss="mse", optimizer="sgd")
    loss_b = b.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-6)
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a.evaluate(X, Y, verbose=0), b.evaluate(X, Y, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(a.predict(X, verbose=0), b.predict(X, verbose=0), rtol=1e-6)


def test_a_shape_mismatch_inside_a_nested_model_names_the_inner_layer(tmp_path):
    trained().save_weights(tmp_path / "w.h5")
    other = nested(deep_units=6)
    with pytest.raises(ValueError, match=r"layer 'deep' \(in nested model 'inner'\) for weight 'kernel'.*"
                                         r"\(4, 6\).*\(4, 5\)"):
        other.load_weights(tmp_path / "w.h5")
