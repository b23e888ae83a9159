"""``model.summary``'s later tf.keras 2 options in Keras 2's layout: ``show_trainable`` (a Trainable column, Y or
N, a frozen nested model's layers N), ``expand_nested`` (a nested model's rows inside a border under its own),
``layer_range`` (the rows from one layer to another); the Keras 3 transfer-learning guide calls
``model.summary(show_trainable=True)``, which raised TypeError."""
import pytest

import gpunet
from gpunet.layers import Add, Dense, Input
from gpunet.models import Model, Sequential


def _nested():
    inner = Sequential([Dense(3, input_shape=(4,), name="d1"), Dense(2, name="d2")], name="inner")
    inner.layers[1].trainable = False
    return Sequential([Dense(4, input_shape=(5,), name="first"), inner, Dense(1, name="last")], name="outer")


def _lines(model, **kwargs):
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    return lines


def test_show_trainable_adds_the_column_and_expand_nested_the_inner_rows():
    lines = _lines(_nested(), show_trainable=True, expand_nested=True)
    assert all(len(line) == 76 for line in lines[1:] if not line.startswith(("Total", "Trainable", "Non-")))
    assert lines[2].rstrip() == "Layer (type)                 Output Shape              Param #   Trainable"
    assert lines[4].rstrip() == "first (Dense)                (None, 4)                 24        Y"
    assert lines[7] == "|" + "¯" * 74 + "|"
    assert lines[8] == "| d1 (Dense)                 (None, 3)                 15        Y         |"
    assert lines[10] == "| d2 (Dense)                 (None, 2)                 8         N         |"
    assert lines[11] == "¯" * 76 and lines[-4:-1] == ["Total params: 50", "Trainable params: 42",
                                                       "Non-trainable params: 8"]


def test_a_frozen_nested_model_shows_its_layers_not_trainable():
    model = _nested()
    model.layers[1].trainable = False
    rows = [line.rstrip() for line in _lines(model, show_trainable=True, expand_nested=True)]
    assert "| d1 (Dense)                 (None, 3)                 15        N         |" in rows
    assert "inner (Sequential)           (None, 2)                 23        N" in rows


def test_layer_range_prints_the_rows_between_two_layers():
    rows = [line.split(" ")[0] for line in _lines(_nested(), layer_range=["inner", "last"]) if "(" in line]
    assert rows == ["Layer", "inner", "last"]
    with pytest.raises(ValueError, match=r"layer_range \['last', 'first'\] matches no run of the model's layers"):
        _nested().summary(layer_range=["last", "first"])
    with pytest.raises(ValueError, match="layer_range must be a list or tuple of two layer names"):
        _nested().summary(layer_range="first")


def test_a_functional_summary_keeps_connected_to_beside_the_trainable_column():
    i = Input((5,), name="in")
    o = Dense(2, name="dd")(i)
    lines = _lines(Model(i, Add(name="add")([o, o]), name="fun"), show_trainable=True)
    assert lines[2].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#", "Connected", "to", "Trainable"]
    assert lines[8].split() == ["add", "(Add)", "(None,", "2)", "0", "dd[0][0]", "Y"]
    assert lines[9].split() == ["dd[0][0]"]
    lines = []
    gpunet.utils.layer_utils.print_summary(_nested(), print_fn=lines.append, show_trainable=True)
    assert lines[2].rstrip().endswith("Trainable")
