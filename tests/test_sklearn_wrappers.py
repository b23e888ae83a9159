"""gpunet.wrappers.scikit_learn (Keras 2's keras.wrappers.scikit_learn) inside real scikit-learn:
cross_val_score, Pipeline, GridSearchCV, clone, as the iris/sonar tutorials use them."""
import os
import pickle

import numpy as np
import pytest

from gpunet.callbacks import EarlyStopping
from gpunet.layers import Dense
from gpunet.models import Sequential
from gpunet.utils import set_random_seed, to_categorical
from gpunet.wrappers.scikit_learn import KerasClassifier, KerasRegressor

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed (the test extra installs it)")
from sklearn.base import clone, is_classifier, is_regressor  # noqa: E402
from sklearn.model_selection import (GridSearchCV, KFold, StratifiedKFold, check_cv,  # noqa: E402
                                     cross_val_score)
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def _csv(name):
    path = os.path.join(os.environ.get("GPUNET_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared")),
                        "data", name)
    if not os.path.exists(path):
        pytest.skip(f"{path} is missing (../shared beside the clone, or GPUNET_SHARED)")
    rows = np.genfromtxt(path, delimiter=",", dtype=str)
    return rows[:, :-1].astype("float32"), rows[:, -1]


@pytest.fixture(autouse=True)
def _seed():
    set_random_seed(7)


def iris_model(units=8, loss="categorical_crossentropy"):
    model = Sequential([Dense(units, input_dim=4, activation="relu"), Dense(3, activation="softmax")])
    model.compile(loss=loss, optimizer="adam", metrics=["accuracy"])
    return model


def sonar_model(units=20, metrics=("accuracy",)):
    model = Sequential([Dense(units, input_dim=60, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=list(metrics))
    return model


def regression_model():
    model = Sequential([Dense(8, input_dim=4, activation="relu"), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    return model


@pytest.mark.parametrize("labels", ["strings", "one-hot"])
def test_iris_tutorial_cross_validation_scores_are_the_folds_accuracies(labels):
    x, names = _csv("iris.csv")
    y = names if labels == "strings" else to_categorical(np.unique(names, return_inverse=True)[1])
    estimator = KerasClassifier(build_fn=iris_model, epochs=30, batch_size=5, verbose=0)
    assert is_classifier(estimator)
    folds = list(KFold(n_splits=3, shuffle=True, random_state=7).split(x))
    scores = cross_val_score(estimator, x, y, cv=folds)
    assert scores.shape == (3,)
    truth = np.unique(names, return_inverse=True)[1]
    for score, (train, test) in zip(scores, folds):  # each fold's score = its model's accuracy, refit here
        set_random_seed(7)
        estimator.fit(x[train], y[train])
        predicted = estimator.predict(x[test])
        if labels == "strings":
            assert predicted.dtype.kind == "U" and set(predicted) <= set(names)
            predicted = np.unique(names, return_inverse=True)[1][[list(names).index(p) for p in predicted]]
        assert 0.0 < score <= 1.0
        assert estimator.score(x[test], y[test]) == pytest.approx(np.mean(predicted == truth[test]), abs=1e-6)


def test_binary_labels_keep_their_values_and_probabilities_have_two_columns():
    x, names = _csv("sonar.csv")  # labels 'R' / 'M', given as they are
    estimator = KerasClassifier(build_fn=sonar_model, epochs=5, batch_size=10, verbose=0)
    history = estimator.fit(x, names)
    assert list(estimator.classes_) == ["M", "R"] and estimator.n_classes_ == 2
    assert len(history.history["loss"]) == 5
    proba = estimator.predict_proba(x[:7])
    predicted = estimator.predict(x[:7])
    sigmoid = estimator.model.predict(x[:7], verbose=0)[:, 0]
    assert proba.shape == (7, 2) and predicted.shape == (7,)
    np.testing.assert_allclose(proba[:, 1], sigmoid, rtol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert list(predicted) == ["R" if p > 0.5 else "M" for p in sigmoid]


def test_sonar_pipeline_with_stratified_folds():
    x, names = _csv("sonar.csv")
    y = (names == "M").astype("int64")
    pipeline = Pipeline([("standardize", StandardScaler()),
                         ("mlp", KerasClassifier(build_fn=sonar_model, epochs=20, batch_size=5, verbose=0))])
    scores = cross_val_score(pipeline, x, y, cv=StratifiedKFold(n_splits=3, shuffle=True, random_state=7))
    assert scores.shape == (3,) and scores.mean() > 0.6  # well above chance (0.53) after standardizing
    # cv=3 on a classifier means stratified folds, as for scikit-learn's own classifiers
    assert isinstance(check_cv(3, y, classifier=is_classifier(pipeline)), StratifiedKFold)


def test_grid_search_tunes_build_and_fit_parameters():
    x, names = _csv("sonar.csv")
    grid = GridSearchCV(KerasClassifier(build_fn=sonar_model, verbose=0),
                        {"units": [4, 16], "epochs": [1, 3], "batch_size": [20]}, cv=2)
    result = grid.fit(x, names)
    assert len(result.cv_results_["mean_test_score"]) == 4
    best = result.best_estimator_
    assert best.model.layers[0].units == result.best_params_["units"]
    assert best.get_params()["epochs"] == result.best_params_["epochs"]
    assert result.score(x, names) == best.score(x, names)


def test_params_clone_pickle_and_errors():
    callbacks = [EarlyStopping(monitor="loss", patience=1)]
    estimator = KerasClassifier(build_fn=sonar_model, units=[3], epochs=2, callbacks=callbacks)
    twin = clone(estimator)  # Keras 2's wrapper failed here: its get_params deep-copied the list
    params = twin.get_params()
    assert sorted(params) == ["build_fn", "callbacks", "epochs", "units"]
    assert (params["units"], params["epochs"], params["build_fn"]) == ([3], 2, sonar_model)
    assert estimator.get_params()["callbacks"] is callbacks  # clone copies it, get_params does not
    restored = pickle.loads(pickle.dumps(KerasClassifier(build_fn=sonar_model, epochs=2)))
    assert restored.get_params() == {"epochs": 2, "build_fn": sonar_model}
    assert estimator.set_params(units=5, build_fn=iris_model) is estimator
    assert estimator.build_fn is iris_model and estimator.sk_params["units"] == 5
    with pytest.raises(ValueError, match="epoch is not a legal parameter"):
        KerasClassifier(build_fn=sonar_model, epoch=3)
    with pytest.raises(ValueError, match="nb_epoch is Keras 1's name"):
        estimator.set_params(nb_epoch=3)
    with pytest.raises(ValueError, match=r"shape \(n_samples,\) or \(n_samples, n_classes\), received \(2, 1, 1\)"):
        KerasClassifier(build_fn=sonar_model).fit(np.zeros((2, 60)), np.zeros((2, 1, 1)))
    x, names = _csv("sonar.csv")
    estimator = KerasClassifier(build_fn=sonar_model, metrics=(), epochs=1, verbose=0)
    estimator.fit(x, names)
    with pytest.raises(ValueError, match=r"computes only \['loss'\]: pass metrics=\['accuracy'\]"):
        estimator.score(x, names)


def test_sk_params_reach_build_fit_and_predict_and_call_arguments_win():
    x, names = _csv("iris.csv")
    estimator = KerasClassifier(build_fn=iris_model, units=5, epochs=3, batch_size=150, verbose=0,
                                callbacks=[EarlyStopping(monitor="loss", patience=0, min_delta=10.0)])
    history = estimator.fit(x, names, epochs=4)  # patience 0 and a huge min_delta: stops after 2 epochs
    assert estimator.model.layers[0].units == 5
    assert len(history.history["loss"]) == 2
    assert estimator.sk_params["callbacks"][0].model is None  # each fit trains with a copy
    assert len(KerasClassifier(build_fn=iris_model, epochs=3, verbose=0).fit(x, names).history["loss"]) == 3


def test_categorical_score_on_a_fold_missing_a_class():
    x, names = _csv("iris.csv")
    estimator = KerasClassifier(build_fn=iris_model, epochs=2, verbose=0)
    estimator.fit(x, names)
    first_two = names != "Iris-virginica"  # Keras 2's wrapper one-hot encoded these to 2 columns and failed
    expected = np.mean(estimator.predict(x[first_two]) == names[first_two])
    assert estimator.score(x[first_two], names[first_two]) == pytest.approx(expected, abs=1e-6)


class _Builder:
    def __call__(self, units=6):
        return iris_model(units, loss="sparse_categorical_crossentropy")


class _SelfBuilding(KerasClassifier):
    def __call__(self, units=7):
        return iris_model(units, loss="sparse_categorical_crossentropy")


@pytest.mark.parametrize("make", [lambda: KerasClassifier(build_fn=_Builder(), units=9, epochs=1, verbose=0),
                                  lambda: _SelfBuilding(units=9, epochs=1, verbose=0)],
                         ids=["callable object", "subclass __call__"])
def test_build_fn_as_callable_object_or_subclass(make):
    x, names = _csv("iris.csv")
    estimator = make()
    estimator.fit(x, names)
    assert estimator.model.layers[0].units == 9
    assert estimator.predict(x[:4]).shape == (4,)


def test_regressor_scores_minus_the_loss():
    x, _ = _csv("iris.csv")
    features, target = x[:, :3], x[:, 3]
    features = np.hstack([features, features[:, :1]])
    estimator = KerasRegressor(build_fn=regression_model, epochs=3, batch_size=10, verbose=0)
    assert is_regressor(estimator)
    scores = cross_val_score(estimator, features, target, cv=KFold(3, shuffle=True, random_state=1))
    assert scores.shape == (3,) and (scores < 0).all()
    estimator.fit(features, target)
    assert estimator.score(features, target) == pytest.approx(-estimator.model.evaluate(features, target, verbose=0))
    assert estimator.predict(features).shape == (150,) and estimator.predict(features[:1]).shape == (1,)


def test_regressor_in_a_standardized_pipeline():
    # the regression tutorial: Pipeline([StandardScaler, KerasRegressor]) under cross_val_score;
    # scikit-learn >= 1.6 asks the pipeline whether its last step is fitted before scoring
    x, _ = _csv("iris.csv")
    features, target = np.hstack([x[:, :3], x[:, :1]]), x[:, 3]
    pipeline = Pipeline([("standardize", StandardScaler()),
                         ("mlp", KerasRegressor(build_fn=regression_model, epochs=3, batch_size=10, verbose=0))])
    scores = cross_val_score(pipeline, features, target, cv=KFold(3, shuffle=True, random_state=7))
    assert scores.shape == (3,) and np.isfinite(scores).all() and (scores < 0).all()
    pipeline.fit(features, target)
    assert pipeline.predict(features[:3]).shape == (3,)
    assert pipeline.score(features, target) == pytest.approx(
        -pipeline.named_steps["mlp"].model.evaluate(StandardScaler().fit_transform(features), target, verbose=0),
        rel=1e-5)
