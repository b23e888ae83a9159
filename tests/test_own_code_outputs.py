"""A model's one output made by a layer the GPU's graph step runs by its own code (a layer of your own, a
``Multiply``, a recommender's ``Dot``): the step runs its call, then the loss kernel over its values as a
linear output's (kernels emulated on the CPU), where the whole model trained layer by layer on a GPU before;
it trains as the layer path does. NumPy's graph plan takes such an output too, where the model holds a Dense
layer of the plan's own."""
import numpy
import pytest

import gpunet
from cuda_emulator import emulator  # noqa: F401 (fixture)
from gpunet import backend as B
from gpunet import backend as K
from gpunet.layers import Dense, Dot, Embedding, Flatten, Input, Layer, Multiply
import test_op_layer_plans as op_plans
from test_masked_plans import backend as path_backend
from test_user_layer_plans import data


class SigmoidHead(Layer):
    """An output layer of your own: a kernel of its own, the sigmoid in its call."""

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(input_shape[-1], 1), initializer="random_normal")

    def call(self, x):
        return K.sigmoid(K.dot(x, self.w))


def own_output():
    """The output made by a layer of your own: its call, then the loss over its values as a linear output's."""
    i = Input((8,))
    return gpunet.Model(i, SigmoidHead()(Dense(12, activation="relu")(i)))


def gated_output():
    """The output made by a built-in layer without kernels (a Multiply of two sigmoid Dense layers)."""
    i = Input((8,))
    h = Dense(12, activation="relu")(i)
    return gpunet.Model(i, Multiply()([Dense(1, activation="sigmoid")(h), Dense(1, activation="sigmoid")(h)]))


# name: (builder, calls by their own code in the GPU step: forward entries, backward entries)
CASES = {"own-output": (own_output, (1, 1)), "gated-output": (gated_output, (1, 1))}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_output_run_by_its_own_code_trains_on_the_graph_steps_as_on_the_layer_path(emulator, case):
    op_plans.assert_graph_steps_train_as_the_layer_path(emulator, *CASES[case], data=data)


def test_a_recommenders_dot_product_output_trains_on_the_gpu_graph_step_as_on_the_layer_path(emulator):
    """Embeddings of a user and an item, their dot product the output (an MSE on ratings): every call by its own
    code, the loss kernel over the Dot's values (NumPy's graph plan wants a Dense layer: the layer path there)."""
    B.set_floatx("float64")
    rng = numpy.random.default_rng(0)
    x = [rng.integers(0, 20, (80, 1)).astype("float64"), rng.integers(0, 30, (80, 1)).astype("float64")]
    y = rng.standard_normal((80, 1))
    got = {}
    for path in ("layer-path", "emulated-gpu"):
        with B.use_backend(path_backend(path, emulator)):
            gpunet.utils.set_random_seed(1)
            users, items = Input((1,)), Input((1,))
            score = Dot(axes=1)([Flatten()(Embedding(20, 4)(users)), Flatten()(Embedding(30, 4)(items))])
            model = gpunet.Model([users, items], score)
            model.compile(optimizer="adam", loss="mse")
            if path == "layer-path":
                model._train_plan = lambda: None
            history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False).history
            got[path] = (model, history["loss"], model.evaluate(x, y, verbose=0))
    assert type(got["emulated-gpu"][0]._plan).__name__ == "GpuGraphPlan"
    numpy.testing.assert_allclose(got["emulated-gpu"][1], got["layer-path"][1], rtol=1e-10)
    numpy.testing.assert_allclose(got["emulated-gpu"][2], got["layer-path"][2], rtol=1e-10)
    for g, r in zip(got["emulated-gpu"][0].get_weights(), got["layer-path"][0].get_weights()):
        numpy.testing.assert_allclose(g, r, rtol=1e-9, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("case", sorted(CASES))
def test_on_a_gpu_an_output_run_by_its_own_code_trains_on_the_graph_step_as_on_the_layer_path(case):
    op_plans.assert_gpu_graph_step_trains_as_the_layer_path(CASES[case][0], data=data)
