"""Loss identifiers: names, aliases, config dicts, serialization and error messages."""
import numpy as np
import pytest

from gpunet import backend as B
from gpunet import losses


def test_get_names_aliases_and_forms():
    expected = {"binary_crossentropy": "BinaryCrossentropy", "bce": "BinaryCrossentropy",
                "categorical_crossentropy": "CategoricalCrossentropy",
                "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
                "mse": "MeanSquaredError", "MSE": "MeanSquaredError", "mean_squared_error": "MeanSquaredError",
                "mae": "MeanAbsoluteError", "MAE": "MeanAbsoluteError", "mape": "MeanAbsolutePercentageError",
                "MAPE": "MeanAbsolutePercentageError", "msle": "MeanSquaredLogarithmicError",
                "MSLE": "MeanSquaredLogarithmicError", "hinge": "Hinge", "squared_hinge": "SquaredHinge",
                "categorical_hinge": "CategoricalHinge", "logcosh": "LogCosh", "log_cosh": "LogCosh",
                "kl_divergence": "KLDivergence", "kld": "KLDivergence", "KLD": "KLDivergence",
                "kullback_leibler_divergence": "KLDivergence", "poisson": "Poisson",
                "cosine_similarity": "CosineSimilarity", "huber": "Huber", "huber_loss": "Huber"}
    for name, cls in expected.items():
        loss = losses.get(name)
        assert type(loss).__name__ == cls
        assert losses.serialize(loss) == name  # Keras 2 writes the spelling the user gave
    assert losses.get("mse").name == "mean_squared_error"
    assert losses.get("kld").name == "kl_divergence"
    assert losses.get("binary_crossentropy").name == "binary_crossentropy"
    assert losses.get(losses.mse).name == "mean_squared_error"
    assert losses.serialize(losses.get(losses.mse)) == "mean_squared_error"
    bce = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)
    assert losses.get(bce) is bce
    config = losses.serialize(bce)
    assert config == {"class_name": "BinaryCrossentropy",
                      "config": {"reduction": "auto", "name": "binary_crossentropy", "from_logits": True,
                                 "label_smoothing": 0.1, "axis": -1}}
    again = losses.get(config)
    assert isinstance(again, losses.BinaryCrossentropy) and again.from_logits and again.label_smoothing == 0.1
    keras3 = {"module": "keras.losses", "class_name": "CategoricalCrossentropy", "registered_name": None,
              "config": {"name": "categorical_crossentropy", "reduction": "sum_over_batch_size",
                         "from_logits": False, "label_smoothing": 0.0, "axis": -1}}
    assert isinstance(losses.get(keras3), losses.CategoricalCrossentropy)
    assert losses.get({"class_name": "function", "config": "mse"}).name == "mean_squared_error"
    assert losses.get("Huber").delta == 1.0
    assert losses.get(losses.Poisson).name == "poisson"


def test_bad_identifiers_raise_clear_errors():
    with pytest.raises(ValueError, match=r"Unknown loss 'binary_crossentrop'\. Valid names: \[.*'mse'"):
        losses.get("binary_crossentrop")
    with pytest.raises(ValueError, match="Unknown loss 'Nope'"):
        losses.get({"class_name": "Nope", "config": {}})
    with pytest.raises(TypeError, match="Could not interpret loss identifier 3"):
        losses.get(3)
    with pytest.raises(ValueError, match=r"Invalid reduction 'average'.*'sum_over_batch_size'"):
        losses.MeanSquaredError(reduction="average")
    per_class = losses.categorical_crossentropy(np.eye(3), np.full((3, 3), 1 / 3), axis=0)  # Keras reduces axis 0
    np.testing.assert_allclose(B.get_backend().to_host(per_class), [np.log(3)] * 3, rtol=1e-6)
    with pytest.raises(ValueError, match=r"axis=2 is out of range for y_pred of rank 2"):
        losses.CategoricalCrossentropy(axis=2)(np.eye(3), np.full((3, 3), 1 / 3))
    cos = losses.cosine_similarity([[1.0, 0.0]], [[2.0, 0.0]], axis=1)
    np.testing.assert_allclose(B.get_backend().to_host(cos), [-1.0])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\].*from 0 to 3"):
        losses.sparse_categorical_crossentropy([0, 3], np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="same shape"):
        losses.mean_squared_error(np.zeros((2, 3)), np.zeros((2, 2)))
