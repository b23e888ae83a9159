"""A model of yours that overrides Keras's step methods (``train_step``, ``test_step``, ``predict_step``,
``compute_loss``, ...): each loop that Keras would have them run in calls them (models/step_loops.py), and the
loops that would not run as before (tf.keras 2.21 and Keras 3 call them there); ``make_train_function`` and the
like (TensorFlow's compiled functions) are refused by name."""
import numpy as np
import pytest

import gpunet

X = np.random.default_rng(3).normal(size=(20, 4)).astype("float32")
Y = X[:, :1] * 2.0


class Called(Exception):
    pass


def _model(base, method):
    """A functional (or Sequential) model whose class defines ``method``, compiled."""
    def own(self, *args, **kwargs):
        raise Called(method)
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
CALLED = {"train_step": {"fit", "train_on_batch"}, "test_step": {"evaluate", "test_on_batch"},
          "predict_step": {"predict", "predict_on_batch"},
          "compute_loss": {"fit", "train_on_batch", "evaluate", "test_on_batch"},
          "compute_metrics": {"fit", "train_on_batch", "evaluate", "test_on_batch"}}


@pytest.mark.parametrize("base", [gpunet.Model, gpunet.Sequential], ids=["functional", "sequential"])
@pytest.mark.parametrize("method", sorted(CALLED))
def test_each_loop_calls_a_step_of_yours_where_keras_would(base, method):
    for loop, run in LOOPS.items():
        model = _model(base, method)
        if loop in CALLED[method]:
            with pytest.raises(Called, match=method):
                run(model)
        else:
            run(model)


@pytest.mark.parametrize("method, loop", [("make_train_function", "fit"), ("make_test_function", "evaluate"),
                                          ("make_predict_function", "predict")])
def test_tensorflows_compiled_functions_are_refused_by_name(method, loop):
    model = _model(gpunet.Model, method)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(NotImplementedError, match=f"MyModel overrides `{method}`, which Keras's {loop} calls"):
        LOOPS[loop](model)
    for w, b in zip(model.get_weights(), before):  # (refused before any step: nothing trained)
        np.testing.assert_array_equal(w, b)


def test_a_subclass_of_a_model_class_of_yours_runs_the_step_its_base_overrides():
    class Base(gpunet.Model):
        def train_step(self, data):
            return {"seen": float(len(data[0]))}

    class Child(Base):
        pass
    inputs = gpunet.Input((4,))
    model = Child(inputs, gpunet.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    history = model.fit(X, Y, batch_size=8, epochs=2, verbose=0)
    assert history.history == {"seen": [4.0, 4.0]}  # (the last batch's logs: 20 samples in batches of 8)
