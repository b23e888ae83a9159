"""Keras 3's ``.weights.h5`` for a subclassed model and for a layer of your own that holds layers: the layers
under the attributes that hold them (``encoder/vars``, ``blocks/dense_1/vars``), the model's own weights in
the root ``vars``, written and read both ways with real Keras 3 (saving/keras3_attrs.py). gpunet used to
write ``layers/<class key>`` for a subclassed model, which Keras 3 did not read, and could not read Keras 3's."""
import numpy as np
import pytest

import gpunet
from keras_support import keras_on_torch

keras = keras_on_torch()


def _classes(lib):
    class Block(lib.layers.Layer):
        """A layer of your own holding a Dense, a list of layers, and a weight of its own."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.inner = lib.layers.Dense(units, activation="tanh")
            self.parts = [lib.layers.Dense(units), lib.layers.Dropout(0.0), lib.layers.Dense(units)]

        def build(self, input_shape):
            self.gain = self.add_weight(name="gain", shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):
            h = self.inner(inputs * self.gain)
            return self.parts[2](self.parts[1](self.parts[0](h))) + h

    class Net(lib.Model):
        """Attributes public and private, a shared layer held twice, a nested Sequential, a weight of its own."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.block = Block(4)
            self.head = lib.layers.Dense(1, activation="sigmoid")
            self.also_head = self.head  # (held twice: written once, where Keras 3's walk meets it first)
            self._side = lib.Sequential([lib.layers.Dense(3), lib.layers.Dense(4)])
            self.temperature = self.add_weight(name="temperature", shape=(), initializer="ones")

        def call(self, inputs):
            return self.head((self.block(inputs) + self._side(inputs)) / self.temperature)
    return Block, Net


def _data():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(32, 5)).astype("float32")
    return x, (x[:, 0] > 0).astype("float32")


def _trained_gpunet():
    x, y = _data()
    model = _classes(gpunet)[1]()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    return model


def test_keras_3_reads_gpunet_subclassed_weights(tmp_path):
    x, _ = _data()
    model = _trained_gpunet()
    model.save_weights(str(tmp_path / "g.weights.h5"))
    ref = _classes(keras)[1]()
    ref(x[:1])
    ref.load_weights(str(tmp_path / "g.weights.h5"))
    np.testing.assert_allclose(np.asarray(ref.predict(x, verbose=0)), model.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(float(ref.temperature.numpy()), float(model.temperature.numpy()))
    np.testing.assert_allclose(ref.block.gain.numpy(), model.block.gain.numpy())


def test_gpunet_reads_keras_3_subclassed_weights_and_writes_its_layout(tmp_path):
    import h5py
    x, y = _data()
    ref = _classes(keras)[1]()
    ref.compile(optimizer="adam", loss="binary_crossentropy")
    ref.fit(x, y, epochs=2, verbose=0)
    ref.save_weights(str(tmp_path / "k.weights.h5"))
    model = _classes(gpunet)[1]()
    model.build((None, 5))
    model.load_weights(str(tmp_path / "k.weights.h5"))
    np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(ref.predict(x, verbose=0)), rtol=1e-5,
                               atol=1e-6)
    model.save_weights(str(tmp_path / "g.weights.h5"))

    def datasets(path):
        found = {}
        with h5py.File(path) as f:
            f.visititems(lambda name, obj: found.update({name: obj.shape}) if isinstance(obj, h5py.Dataset) else None)
        return {k: v for k, v in found.items() if not k.startswith("optimizer")}
    assert datasets(tmp_path / "g.weights.h5") == datasets(tmp_path / "k.weights.h5")  # (the same paths and shapes)
    assert "block/parts/dense_1/vars/0" in datasets(tmp_path / "g.weights.h5")


def test_a_layer_of_your_own_in_a_sequential_goes_both_ways(tmp_path):
    x, _ = _data()
    block = _classes(gpunet)[0](4)
    model = gpunet.Sequential([gpunet.Input((5,)), block, gpunet.layers.Dense(1)])
    model.save_weights(str(tmp_path / "g.weights.h5"))
    ref = keras.Sequential([keras.Input((5,)), _classes(keras)[0](4), keras.layers.Dense(1)])
    ref.load_weights(str(tmp_path / "g.weights.h5"))
    np.testing.assert_allclose(np.asarray(ref.predict(x, verbose=0)), model.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    back = gpunet.Sequential([gpunet.Input((5,)), _classes(gpunet)[0](4), gpunet.layers.Dense(1)])
    ref.save_weights(str(tmp_path / "k.weights.h5"))
    back.load_weights(str(tmp_path / "k.weights.h5"))
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_file_of_another_model_is_refused_naming_what_differs(tmp_path):
    model = _trained_gpunet()
    model.save_weights(str(tmp_path / "g.weights.h5"))

    class Other(gpunet.Model):
        def __init__(self):
            super().__init__()
            self.block = _classes(gpunet)[0](4)
            self.tail = gpunet.layers.Dense(1)

        def call(self, inputs):
            return self.tail(self.block(inputs))
    other = Other()
    other.build((None, 5))
    before = [w.copy() for w in other.get_weights()]
    # (Keras 3 walks a model's ``layers`` property among its attributes: "layers" comes before "tail")
    with pytest.raises(ValueError, match=r"no weights in the file: \['dense_\d+ \(layers/dense\)'\].*not the "
                                         r"model's: \['also_head', 'layers/sequential'\]"):
        other.load_weights(str(tmp_path / "g.weights.h5"))
    for a, b in zip(other.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_files_gpunet_wrote_before_still_load(tmp_path):
    """Before: a subclassed model's layers under ``layers/<class key>``, a layer of your own's sublayers' weights
    in its own ``vars``, no weights of the model's own (it had none)."""
    from gpunet.saving import files, keras_zip, model_state
    x, _ = _data()
    model = _trained_gpunet()
    model.temperature.assign(np.ones((), "float32"))  # (the old file has none: the new model's stays at 1)
    host = model_state.host_reader(model)

    def old_entry(key, layer):
        if layer is model._side:
            return key, layer.name, [], [old_entry(k, sub) for k, sub in zip(keras_zip.layer_keys(layer.layers),
                                                                              layer.layers)]
        return key, layer.name, [host(w) for w in layer.weights], None  # (the block's: its sublayers' too)
    with files.atomic_h5(str(tmp_path / "old.weights.h5"), True) as h5:
        keras_zip.write_weights(h5, model.name, [old_entry(k, layer) for k, layer in
                                                 zip(keras_zip.layer_keys(model.layers), model.layers)])
    back = _classes(gpunet)[1]()
    back.build((None, 5))
    report = back.load_weights(str(tmp_path / "old.weights.h5"), skip_mismatch=True)
    assert report.shape_mismatch == [("net_1/temperature", (), None)]  # (the one weight the file lacks)
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
