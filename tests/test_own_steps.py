"""A model of yours that overrides Keras's step methods (``train_step``, ``test_step``, ``predict_step``,
``compute_loss``, ...): gpunet's loops never call them, so each loop that Keras would have them run in refuses
the model by name, and the loops that would not still run (tf.keras 2.21 and Keras 3 call them there)."""
import numpy as np
import pytest

import gpunet

X = np.random.default_rng(3).normal(size=(20, 4)).astype("float32")
Y = X[:, :1] * 2.0


def _model(base, method):
    """A functional (or Sequential) model whose class defines ``method``, compiled."""
    def own(self, *args, **kwargs):
        raise AssertionError("gpunet called the user's method, which it cannot run")
    cls = type("MyModel", (base,), {method: own})
    if base is gpunet.Sequential:
        model = cls([gpunet.Input((4,)), gpunet.layers.Dense(1)])
    else:
        inputs = gpunet.Input((4,))
        model = cls(inputs, gpunet.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    return model


LOOPS = {"fit": lambda m: m.fit(X, Y, verbose=0), "train_on_batch": lambda m: m.train_on_batch(X, Y),
         "evaluate": lambda m: m.evaluate(X, Y, verbose=0), "test_on_batch": lambda m: m.test_on_batch(X, Y),
         "predict": lambda m: m.predict(X, verbose=0), "predict_on_batch": lambda m: m.predict_on_batch(X)}
REFUSED = {"train_step": {"fit", "train_on_batch"}, "test_step": {"fit", "evaluate", "test_on_batch"},
           "predict_step": {"predict", "predict_on_batch"},
           "compute_loss": {"fit", "train_on_batch", "evaluate", "test_on_batch"},
           "compute_metrics": {"fit", "train_on_batch", "evaluate", "test_on_batch"}}


@pytest.mark.parametrize("base", [gpunet.Model, gpunet.Sequential], ids=["functional", "sequential"])
@pytest.mark.parametrize("method", sorted(REFUSED))
def test_each_loop_refuses_a_model_overriding_a_step_it_would_call(base, method):
    for loop, run in LOOPS.items():
        model = _model(base, method)
        before = [w.copy() for w in model.get_weights()]
        if loop in REFUSED[method]:
            with pytest.raises(NotImplementedError, match=f"MyModel overrides `{method}`, which Keras's {loop} "
                                                          f"calls: gpunet's {loop} runs steps of its own"):
                run(model)
            for w, b in zip(model.get_weights(), before):  # (refused before any step: nothing trained)
                np.testing.assert_array_equal(w, b)
        else:
            run(model)


def test_a_subclass_of_a_model_class_of_yours_is_refused_by_the_class_that_overrides():
    class Base(gpunet.Model):
        def train_step(self, data):
            return {}

    class Child(Base):
        pass
    inputs = gpunet.Input((4,))
    model = Child(inputs, gpunet.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    with pytest.raises(NotImplementedError, match="Base overrides `train_step`"):
        model.fit(X, Y, verbose=0)
