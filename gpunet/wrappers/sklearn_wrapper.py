"""Keras 3's scikit-learn wrappers (``keras.wrappers.SKLearnClassifier``, ``SKLearnRegressor``,
``SKLearnTransformer``): a compiled model, or a function ``model(X, y, **model_kwargs)`` that makes one,
as a scikit-learn estimator (``cross_val_score``, ``Pipeline``, ``GridSearchCV``)::

    def make(X, y, hidden=12):
        model = gpunet.Sequential([Input(X.shape[1:]), Dense(hidden, activation="relu"),
                                   Dense(y.shape[1], activation="softmax")])
        model.compile("adam", "categorical_crossentropy")
        return model
    clf = SKLearnClassifier(make, model_kwargs={"hidden": 16}, fit_kwargs={"epochs": 20, "verbose": 0})

As in Keras 3: a classifier one-hot encodes its labels (the model gets ``y`` as one column per class)
and predicts the class of the highest output; ``fit`` clones a model given as an instance, calls a
function afresh each time, and keeps the History's values in ``history_``. They need scikit-learn
(gpunet's test extra has it); without it they say so when made.
"""
import copy

import numpy as np

try:
    import sklearn
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
except ImportError:  # (the wrappers say so when made)
    sklearn = None
    BaseEstimator = ClassifierMixin = RegressorMixin = TransformerMixin = object


def _check_model(model):
    if getattr(model, "optimizer", None) is None or not getattr(model, "loss", None):
        raise RuntimeError("Given model needs to be compiled, and have a loss and an optimizer.")


class _Columns:
    """Keras 3's TargetReshaper: a 1-D target as one column, given back 1-D."""

    def fit(self, y):
        self.ndim_ = np.ndim(y)
        return self

    def transform(self, y):
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def inverse_transform(self, y):
        return np.squeeze(y, axis=1) if self.ndim_ == 1 and y.ndim == 2 else y


class SKLBase(BaseEstimator):
    """What the three wrappers share: ``model`` (a compiled model, or a function of ``X``, ``y`` and
    ``model_kwargs`` returning one), ``warm_start`` (kept for Keras's signature), ``fit_kwargs``
    (``epochs``, ``batch_size``, ... for every ``fit``)."""

    def __init__(self, model, warm_start=False, model_kwargs=None, fit_kwargs=None):
        if sklearn is None:
            raise ImportError(f"{type(self).__name__} requires `scikit-learn` to be installed. Run `pip install "
                              "scikit-learn` to install it.")
        self.model, self.warm_start = model, warm_start
        self.model_kwargs, self.fit_kwargs = model_kwargs, fit_kwargs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        return tags

    def __sklearn_clone__(self):
        model = self.model if callable(self.model) and not hasattr(self.model, "fit") else copy.deepcopy(self.model)
        return type(self)(model=model, warm_start=self.warm_start, model_kwargs=self.model_kwargs,
                          fit_kwargs=self.fit_kwargs)

    @property
    def epoch_(self):
        return len(getattr(self, "history_", {}).get("loss", []))

    def _get_model(self, X, y):
        if hasattr(self.model, "fit"):  # a model instance: a fresh, compiled copy each time (Keras 3's clone)
            from ..models import clone_model
            model = clone_model(self.model)
            if self.model.optimizer is not None:
                model.compile_from_config(self.model.get_compile_config())
            return model
        return self.model(X=X, y=y, **(self.model_kwargs or {}))

    def fit(self, X, y, **kwargs):
        from sklearn.utils.validation import validate_data
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=not isinstance(self, ClassifierMixin))
        y = self._process_target(y, reset=True)
        model = self._get_model(X, y)
        _check_model(model)
        fit_kwargs = dict(self.fit_kwargs or {})
        fit_kwargs.update(kwargs)
        self.history_ = model.fit(X, y, **fit_kwargs).history
        self.model_ = model
        return self

    def predict(self, X):
        from sklearn.utils.validation import check_is_fitted, validate_data
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self._reverse_process_target(self.model_.predict(X, verbose=0))

    def _process_target(self, y, reset=False):
        if reset:
            self._target_encoder = _Columns().fit(y)
        return self._target_encoder.transform(y)

    def _reverse_process_target(self, y):
        return self._target_encoder.inverse_transform(y)


class SKLearnClassifier(ClassifierMixin, SKLBase):
    """A classifier (binary or multiclass labels, any values: ``classes_``); the model gets them one-hot
    and must output one score per class."""

    def decision_function(self, X):
        from sklearn.utils.validation import check_is_fitted, validate_data
        check_is_fitted(self)
        return self.model_.predict(validate_data(self, X, reset=False), verbose=0)

    def _process_target(self, y, reset=False):
        from sklearn.preprocessing import OneHotEncoder
        from sklearn.utils.multiclass import type_of_target
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"Only binary and multiclass target types are supported. Target type: {kind}")
        if reset:
            self._columns = _Columns().fit(y)
            self._target_encoder = OneHotEncoder(sparse_output=False).fit(self._columns.transform(y))
            self.classes_ = np.unique(y)
            if len(self.classes_) == 1:
                raise ValueError("Classifier can't train when only one class is present.")
        return self._target_encoder.transform(self._columns.transform(y))

    def _reverse_process_target(self, y):
        return self._columns.inverse_transform(self._target_encoder.inverse_transform(y))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags


class SKLearnRegressor(RegressorMixin, SKLBase):
    """A regressor: the model's outputs are the predictions."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags


class SKLearnTransformer(TransformerMixin, SKLBase):
    """A transformer: ``transform(X)`` is the model's output (an encoder's code, say)."""

    def transform(self, X):
        from sklearn.utils.validation import check_is_fitted, validate_data
        check_is_fitted(self)
        return self.model_.predict(validate_data(self, X, reset=False), verbose=0)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []
        return tags
