"""Keras 2's scikit-learn wrappers (``keras.wrappers.scikit_learn``): a model-building function
becomes an estimator for ``cross_val_score``, ``Pipeline`` and ``GridSearchCV``.

    from gpunet.wrappers.scikit_learn import KerasClassifier
    estimator = KerasClassifier(build_fn=create_model, epochs=150, batch_size=10, verbose=0)
    results = cross_val_score(estimator, X, Y, cv=StratifiedKFold(n_splits=10, shuffle=True))

``sk_params`` holds both ``build_fn``'s arguments and those of ``fit``, ``predict`` and
``evaluate`` (``epochs``, ``batch_size``, ``verbose``, ...); each call takes the ones it has,
arguments passed to the call itself win. Every ``fit`` builds a fresh model.

Where gpunet does better than Keras 2's wrappers (which keep their behaviour otherwise):
``get_params`` returns the values themselves (Keras 2 deep-copied them, so ``sklearn.clone``
refused any list or dict parameter); Keras 1's ``nb_epoch`` is refused with a message (tf.keras
accepted it and then trained one epoch); a binary classifier's ``predict`` gives ``(n,)``, as
scikit-learn expects, and a regressor's ``predict`` of one sample stays an array; a
``CategoricalCrossentropy`` instance gets one-hot labels as the string does. With scikit-learn
installed the wrappers are its estimators (tags, ``clone``, stratified folds for the classifier);
gpunet itself does not need it.
"""
import copy
import inspect
import types

import numpy

from ..models import Sequential
from ..utils import to_categorical

try:  # scikit-learn's estimator machinery (tags: classifier or regressor), when it is installed
    from sklearn.base import BaseEstimator as _Estimator
    from sklearn.base import ClassifierMixin as _Classifier
    from sklearn.base import RegressorMixin as _Regressor
except ImportError:  # the wrappers then work as Keras 2's did: duck-typed estimators
    _Estimator, _Classifier, _Regressor = object, type("_Classifier", (), {}), type("_Regressor", (), {})

__all__ = ["KerasClassifier", "KerasRegressor"]


def _takes(fn, name):
    """Whether ``fn`` names ``name`` among its parameters (``**kwargs`` does not count: Keras's has_arg)."""
    param = inspect.signature(fn).parameters.get(name)
    return param is not None and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)


class BaseWrapper(_Estimator):
    """Base class of `KerasClassifier` and `KerasRegressor` (use those).

    ``build_fn``: a function or callable object that builds and compiles a model, or None for a
    subclass whose ``__call__`` does it. ``**sk_params``: its arguments and those of fit/predict/
    evaluate; a name none of them takes raises ValueError.
    """

    def __init__(self, build_fn=None, **sk_params):
        self.build_fn = build_fn
        self.sk_params = sk_params
        self.check_params(sk_params)

    def _builder(self):
        if self.build_fn is None:
            return self.__call__
        if isinstance(self.build_fn, (types.FunctionType, types.MethodType)):
            return self.build_fn
        return self.build_fn.__call__

    def check_params(self, params):
        """Raises ValueError for a name in ``params`` that neither the model-building function nor
        fit, predict or evaluate takes (a typo would otherwise be ignored)."""
        legal = (Sequential.fit, Sequential.predict, Sequential.evaluate, self._builder())
        for name in params:
            if name == "nb_epoch":
                raise ValueError("nb_epoch is Keras 1's name for the number of epochs; pass epochs= instead")
            if not any(_takes(fn, name) for fn in legal):
                raise ValueError(f"{name} is not a legal parameter: it is no argument of the model-building "
                                 f"function, fit, predict or evaluate")

    def get_params(self, deep=True, **params):
        """The estimator's parameters: ``build_fn`` and every ``sk_params`` entry."""
        return {**self.sk_params, "build_fn": self.build_fn}

    def set_params(self, **params):
        """Update ``sk_params`` (checked as in the constructor); returns self."""
        params = dict(params)
        if "build_fn" in params:
            self.build_fn = params.pop("build_fn")
        self.check_params(params)
        self.sk_params.update(params)
        return self

    def __sklearn_is_fitted__(self):
        # scikit-learn's check_is_fitted (run by Pipeline.predict and .score since 1.6) otherwise
        # looks for a trailing-underscore attribute, which KerasRegressor never sets.
        return hasattr(self, "model")

    def filter_sk_params(self, fn, override=None):
        """The ``sk_params`` entries ``fn`` takes, updated with ``override``."""
        res = {name: value for name, value in self.sk_params.items() if _takes(fn, name)}
        res.update(override or {})
        return res

    def fit(self, x, y, **kwargs):
        """Build a new model with ``build_fn`` and fit it to ``(x, y)``; returns its `History`.
        ``kwargs``: more arguments of `Sequential.fit` (they win over ``sk_params``)."""
        builder = self._builder()
        self.model = builder(**self.filter_sk_params(builder))
        y = self._one_hot_if_needed(numpy.asarray(y))
        # Copied: each fit gets callbacks in their initial state (EarlyStopping's best, ...).
        fit_args = copy.deepcopy(self.filter_sk_params(Sequential.fit))
        fit_args.update(kwargs)
        return self.model.fit(x, y, **fit_args)

    def _one_hot_if_needed(self, y):
        """Class indices made one-hot for a categorical cross-entropy model, over every class seen
        in fit (a test fold may lack some)."""
        loss = getattr(self.model, "loss", None)
        name = loss if isinstance(loss, str) else getattr(loss, "__name__", type(loss).__name__)
        if name in ("categorical_crossentropy", "CategoricalCrossentropy") and y.ndim != 2:
            return to_categorical(y, getattr(self, "n_classes_", None))
        return y


class KerasClassifier(_Classifier, BaseWrapper):
    """scikit-learn's classifier API over a Keras-style model (``keras.wrappers.scikit_learn``).

    Labels may be any values scikit-learn allows: 1-D labels (or one column) are mapped to class
    indices 0..n-1 (``classes_``), one-hot labels (several columns) are used as given.
    """

    def fit(self, x, y, sample_weight=None, **kwargs):
        """Build a new model and fit it; returns its `History` (as Keras 2's wrapper does)."""
        y = numpy.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = numpy.arange(y.shape[1])
        elif y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            self.classes_ = numpy.unique(y)
            y = numpy.searchsorted(self.classes_, y)
        else:
            raise ValueError(f"KerasClassifier expects labels of shape (n_samples,) or (n_samples, n_classes), "
                             f"received {y.shape}")
        self.n_classes_ = len(self.classes_)
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return super().fit(x, y, **kwargs)

    def predict(self, x, **kwargs):
        """The predicted class of each sample, as one of ``classes_``: shape ``(n_samples,)``."""
        proba = self.model.predict(x, **self.filter_sk_params(Sequential.predict, kwargs))
        if proba.shape[-1] > 1:
            classes = proba.argmax(axis=-1)
        else:
            classes = (proba[..., 0] > 0.5).astype("int32")
        return self.classes_[classes]

    def predict_proba(self, x, **kwargs):
        """Class probabilities, shape ``(n_samples, n_classes)``; a one-unit sigmoid output gives
        two columns (class 0, class 1), as scikit-learn expects."""
        probs = self.model.predict(x, **self.filter_sk_params(Sequential.predict, kwargs))
        if probs.shape[1] == 1:
            probs = numpy.hstack([1 - probs, probs])
        return probs

    def score(self, x, y, **kwargs):
        """The model's accuracy on ``(x, y)`` from `Sequential.evaluate`; the model must be
        compiled with ``metrics=['accuracy']`` (or ``'acc'``)."""
        y = numpy.searchsorted(self.classes_, numpy.asarray(y))
        y = self._one_hot_if_needed(y)
        outputs = self.model.evaluate(x, y, **self.filter_sk_params(Sequential.evaluate, kwargs))
        outputs = outputs if isinstance(outputs, list) else [outputs]
        for name, value in zip(self.model.metrics_names, outputs):
            if name in ("accuracy", "acc"):
                return value
        raise ValueError(f"KerasClassifier.score needs the model's accuracy, but it computes only "
                         f"{self.model.metrics_names}: pass metrics=['accuracy'] to model.compile()")


class KerasRegressor(_Regressor, BaseWrapper):
    """scikit-learn's regressor API over a Keras-style model (``keras.wrappers.scikit_learn``)."""

    def predict(self, x, **kwargs):
        """The predictions; a one-unit output gives shape ``(n_samples,)``."""
        preds = self.model.predict(x, **self.filter_sk_params(Sequential.predict, kwargs))
        return preds[:, 0] if preds.ndim == 2 and preds.shape[1] == 1 else preds

    def score(self, x, y, **kwargs):
        """Minus the model's loss on ``(x, y)`` (scikit-learn maximizes scores)."""
        loss = self.model.evaluate(x, y, **self.filter_sk_params(Sequential.evaluate, kwargs))
        return -(loss[0] if isinstance(loss, list) else loss)
