"""Keras 2's ``predict_classes`` and ``predict_proba`` (removed in tf.keras 2.6), kept for the
tutorials that use them; each warns with the modern idiom."""
import warnings

_CLASSES_IDIOM = ("use `np.argmax(model.predict(x), axis=-1)` for a softmax output or "
                  "`(model.predict(x) > 0.5).astype('int32')` for a single sigmoid unit")


class LegacyPredictMixin:
    def predict_classes(self, x, batch_size=32, verbose=0):
        """Class predictions (deprecated, as in Keras 2.5): int32 of shape ``(n, 1)`` (0/1 at 0.5) for
        one output unit, else the argmax over the last axis, shape ``(n,)``.

        Warns with a DeprecationWarning that shows the replacement.
        """
        warnings.warn(f"`model.predict_classes()` is deprecated and was removed from Keras in 2.6: "
                      f"{_CLASSES_IDIOM}.", DeprecationWarning, stacklevel=2)
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    def predict_proba(self, x, batch_size=32, verbose=0):
        """The same as `predict` (deprecated, as in Keras 2.5); warns with a DeprecationWarning."""
        warnings.warn("`model.predict_proba()` is deprecated and was removed from Keras in 2.6: use "
                      "`model.predict(x)`, which returns the same probabilities.", DeprecationWarning, stacklevel=2)
        return self.predict(x, batch_size=batch_size, verbose=verbose)
