"""Keras 3's scikit-learn wrappers (SKLearnClassifier, SKLearnRegressor, SKLearnTransformer): a model-making
function or a compiled model as an estimator, in cross_val_score, GridSearchCV and clone, with Keras 3's
target handling (one-hot labels of any values, 1-D targets back 1-D), and their refusals."""
import numpy as np
import pytest

import gpunet
from gpunet.layers import Dense
from gpunet.wrappers import SKLearnClassifier, SKLearnRegressor, SKLearnTransformer

sklearn = pytest.importorskip("sklearn", reason="the wrappers wrap scikit-learn's estimators")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402

RNG = np.random.default_rng(5)
X = RNG.standard_normal((90, 5))
LABELS = np.array(["cat", "dog", "eel"])[(X[:, :3] + 0.3 * RNG.standard_normal((90, 3))).argmax(1)]


def make_classifier(X, y, hidden=12):
    model = gpunet.Sequential([gpunet.Input(X.shape[1:]), Dense(hidden, activation="relu"),
                               Dense(y.shape[1], activation="softmax")])
    model.compile(gpunet.optimizers.Adam(0.05), "categorical_crossentropy")
    return model


def test_a_classifier_trains_on_labels_of_any_values_and_predicts_them():
    gpunet.utils.set_random_seed(1)
    clf = SKLearnClassifier(make_classifier, model_kwargs={"hidden": 16}, fit_kwargs={"epochs": 40, "verbose": 0})
    clf.fit(X, LABELS)
    assert list(clf.classes_) == ["cat", "dog", "eel"] and clf.model_.output_shape == (None, 3)
    scores = clf.decision_function(X)
    predicted = clf.predict(X)
    np.testing.assert_array_equal(predicted, clf.classes_[scores.argmax(1)])
    assert clf.score(X, LABELS) > 0.8 and clf.epoch_ == 40 and len(clf.history_["loss"]) == 40


def test_in_cross_val_score_grid_search_and_clone():
    gpunet.utils.set_random_seed(2)
    clf = SKLearnClassifier(make_classifier, fit_kwargs={"epochs": 15, "verbose": 0})
    scores = cross_val_score(clf, X, LABELS, cv=3)
    assert scores.shape == (3,) and ((0 <= scores) & (scores <= 1)).all()
    search = GridSearchCV(clf, {"model_kwargs": [{"hidden": 4}, {"hidden": 16}]}, cv=2).fit(X, LABELS)
    assert search.best_params_["model_kwargs"]["hidden"] in (4, 16)
    twin = clone(clf)
    assert type(twin) is SKLearnClassifier and twin.fit_kwargs == clf.fit_kwargs and not hasattr(twin, "model_")


def test_a_regressor_of_a_compiled_model_trains_a_copy_and_gives_1d_targets_back():
    gpunet.utils.set_random_seed(3)
    y = X @ np.array([1.5, -2.0, 0.5, 0.0, 1.0]) + 0.3
    base = gpunet.Sequential([gpunet.Input((5,)), Dense(1)])
    base.compile(gpunet.optimizers.Adam(0.1), "mse")
    before = [w.copy() for w in base.get_weights()]
    reg = SKLearnRegressor(base, fit_kwargs={"epochs": 60, "verbose": 0}).fit(X, y)
    assert reg.predict(X).shape == (90,) and reg.score(X, y) > 0.95
    assert reg.model_ is not base and all(np.array_equal(a, b) for a, b in zip(before, base.get_weights()))
    with pytest.raises(ValueError, match=r"Targets y have shape \(90, 2\) but the model's output has shape"):
        SKLearnRegressor(base, fit_kwargs={"verbose": 0}).fit(X, np.stack([y, -y], 1))


def test_a_transformer_gives_the_models_output():
    def encoder(X, y):
        model = gpunet.Sequential([gpunet.Input(X.shape[1:]), Dense(2, activation="tanh"), Dense(X.shape[1])])
        model.compile("adam", "mse")
        return model
    coder = SKLearnTransformer(encoder, fit_kwargs={"epochs": 2, "verbose": 0}).fit(X, X)
    assert coder.transform(X[:7]).shape == (7, 5)


@pytest.mark.parametrize("make, y, error, message", [
    (lambda: SKLearnClassifier(make_classifier, fit_kwargs={"verbose": 0}), X[:, 0], ValueError,
     "Only binary and multiclass target types are supported. Target type: continuous"),
    (lambda: SKLearnClassifier(make_classifier, fit_kwargs={"verbose": 0}), np.zeros(90), ValueError,
     "Classifier can't train when only one class is present"),
    (lambda: SKLearnRegressor(gpunet.Sequential([gpunet.Input((5,)), Dense(1)])), X[:, 0], RuntimeError,
     "Given model needs to be compiled, and have a loss and an optimizer"),
])
def test_refusals_are_keras_3s(make, y, error, message):
    with pytest.raises(error, match=message):
        make().fit(X, y)
