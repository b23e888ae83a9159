"""``keras.utils.vis_utils`` (Keras 2): `plot_model` and `model_to_dot`, which need pydot and
Graphviz, which gpunet does not depend on (see `gpunet.utils.plot_model`)."""
from . import plot_model


def model_to_dot(model, *args, **kwargs):
    """Keras draws the graph with pydot; gpunet has no such dependency, so this raises ImportError
    as Keras does without pydot (``model.summary()`` describes the model as text)."""
    raise ImportError("You must install pydot (`pip install pydot`) and install graphviz for model_to_dot to work; "
                      "gpunet does not draw models (model.summary() describes the model as text).")

__all__ = ["plot_model", "model_to_dot"]
