"""Keras 2's module paths that user code imports from (``keras.engine.topology``,
``keras.utils.generic_utils``, ...) and `InputSpec`, as Keras 2.0's "Writing your own Keras
layers" guide uses them."""
import numpy as np
import pytest

import gpunet
from gpunet import backend as K
from gpunet.layers import Dense, Activation
from gpunet.models import Sequential, Model, model_from_json


def test_engine_paths_are_gpunets_classes():
    from gpunet.engine import topology, base_layer, input_layer, training, sequential, network
    import gpunet.engine as engine
    assert topology.Layer is base_layer.Layer is engine.Layer is gpunet.layers.Layer
    assert topology.InputSpec is engine.InputSpec is gpunet.layers.InputSpec
    assert topology.Input is input_layer.Input is gpunet.layers.Input
    assert training.Model is network.Network is topology.Container is Model
    assert sequential.Sequential is Sequential
    a, b = gpunet.layers.Input((3,)), gpunet.layers.Input((2,))
    out = Dense(1)(gpunet.layers.concatenate([Dense(4)(a), b]))
    assert engine.get_source_inputs(out) == [a, b]
    with pytest.raises(TypeError, match="expects a symbolic tensor"):
        engine.get_source_inputs(np.ones(3))


def _guide_layer():
    """Keras 2.0's guide's ``MyLayer``, as written there (plus get_config and an InputSpec)."""
    from gpunet.engine.topology import Layer, InputSpec

    class MyLayer(Layer):
        def __init__(self, output_dim, **kwargs):
            self.output_dim = output_dim
            super(MyLayer, self).__init__(**kwargs)
            self.input_spec = InputSpec(min_ndim=2)

        def build(self, input_shape):
            self.kernel = self.add_weight(name='kernel', shape=(input_shape[1], self.output_dim),
                                          initializer='uniform', trainable=True)
            self.input_spec = InputSpec(min_ndim=2, axes={-1: input_shape[-1]})
            super(MyLayer, self).build(input_shape)

        def call(self, x):
            return K.dot(x, self.kernel)

        def compute_output_shape(self, input_shape):
            return (input_shape[0], self.output_dim)

        def get_config(self):
            config = super(MyLayer, self).get_config()
            config["output_dim"] = self.output_dim
            return config

    return MyLayer


def test_the_keras_2_0_guide_layer_trains_saves_and_checks_its_input_spec(tmp_path):
    from gpunet.utils.generic_utils import CustomObjectScope
    MyLayer = _guide_layer()
    x = np.random.default_rng(0).standard_normal((32, 3)).astype("float32")
    y = x[:, :1] * 2
    model = Sequential([MyLayer(4, input_shape=(3,)), Dense(1)])
    model.compile("adam", "mse")
    history = model.fit(x, y, epochs=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    with CustomObjectScope({"MyLayer": MyLayer}):
        again = model_from_json(model.to_json())
    assert type(again.layers[0]) is MyLayer and again.layers[0].output_dim == 4
    with pytest.raises(ValueError, match=r'Input 0 of layer "my_layer" is incompatible with the layer: expected '
                                         r"axis -1 of input shape to have value 3, but received input with shape \(2, 5\)"):
        model.layers[0](np.ones((2, 5), "float32"))
    with pytest.raises(ValueError, match="expected min_ndim=2, found ndim=1"):
        MyLayer(2)(np.ones(3, "float32"))
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 3.*\(None, 5\)"):
        model.layers[0](gpunet.layers.Input((5,)))  # the built layer, called in the functional API


@pytest.mark.parametrize("spec, shape, message", [
    (dict(ndim=2), (None, 3, 4), "expected ndim=2, found ndim=3"),
    (dict(max_ndim=2), (None, 3, 4), "expected max_ndim=2, found ndim=3"),
    (dict(shape=(None, 3)), (None, 4), r"expected shape=\(None, 3\), found shape=\(None, 4\)"),
    (dict(ndim=2, axes={1: 3}), (None, 4), "expected axis 1 of input shape to have value 3"),
])
def test_input_spec_checks_in_the_functional_api_and_sequential_build(spec, shape, message):
    from gpunet.layers import InputSpec

    class Spec(Dense):
        def __init__(self, **kwargs):
            super().__init__(2, **kwargs)
            self.input_spec = InputSpec(**spec)

    with pytest.raises(ValueError, match=message):
        Spec()(gpunet.layers.Input(shape[1:]))
    with pytest.raises(ValueError, match=message):
        Sequential([Spec(input_shape=shape[1:])])
    Spec()(gpunet.layers.Input((3,)))  # what the spec allows is accepted


def test_input_spec_counts_inputs_and_checks_its_arguments():
    from gpunet.layers import InputSpec
    layer = Dense(2)
    layer.input_spec = [InputSpec(ndim=2), InputSpec(ndim=2)]
    with pytest.raises(ValueError, match=r'Layer "dense" expects 2 input\(s\), but it received 1 input tensors'):
        layer(np.ones((1, 3), "float32"))
    with pytest.raises(ValueError, match="Axis 2 is greater than the maximum allowed value: 1"):
        InputSpec(ndim=2, axes={2: 3})
    assert InputSpec(shape=(None, 3)).ndim == 2
    assert repr(InputSpec(min_ndim=2, axes={-1: 8})) == "InputSpec(min_ndim=2, axes={-1: 8})"
    assert InputSpec.from_config(InputSpec(ndim=3).get_config()).ndim == 3


def test_generic_utils_custom_objects_and_serialization(capsys):
    from gpunet.utils import generic_utils, layer_utils, vis_utils

    def custom_activation(x):
        return K.sigmoid(x) * 5 - 1

    generic_utils.get_custom_objects().update({"custom_activation": Activation(custom_activation)})
    try:
        model = Sequential([Dense(4, input_shape=(3,), activation="custom_activation"), Dense(1)])
        x = np.ones((2, 3), "float32")
        hidden = Model(model.inputs, model.layers[0].output).predict(x, verbose=0)
        kernel, bias = model.layers[0].get_weights()
        z = x @ kernel + bias
        np.testing.assert_allclose(hidden, 5 / (1 + np.exp(-z)) - 1, rtol=1e-5)
    finally:
        del generic_utils.get_custom_objects()["custom_activation"]
    reg = gpunet.regularizers.l1_l2(l1=0.25, l2=0.5)
    config = generic_utils.serialize_keras_object(reg)
    assert config == {"class_name": "L1L2", "config": {"l1": 0.25, "l2": 0.5}}
    back = generic_utils.deserialize_keras_object(config, module_objects=vars(gpunet.regularizers))
    assert (back.l1, back.l2) == (0.25, 0.5)
    with pytest.raises(ValueError, match="Unknown object: 'nope'"):
        generic_utils.deserialize_keras_object("nope")
    assert gpunet.utils.CustomObjectScope is generic_utils.CustomObjectScope
    assert layer_utils.count_params(model.weights) == model.count_params() == 21
    layer_utils.print_summary(model)
    printed = capsys.readouterr().out
    model.summary()
    assert printed == capsys.readouterr().out and "Total params: 21" in printed
    with pytest.raises(ImportError, match="You must install pydot"):
        vis_utils.model_to_dot(model)
    vis_utils.plot_model(model)
    assert "You must install pydot" in capsys.readouterr().out
