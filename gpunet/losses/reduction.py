"""`Reduction`: tf.keras 2's ``tf.keras.losses.Reduction`` (``ReductionV2``), the names of the
reductions a loss takes. gpunet's losses also take Keras 3's (`base.REDUCTIONS`)."""


class Reduction:
    """The reduction names of tf.keras 2 as constants::

        losses.BinaryFocalCrossentropy(reduction=losses.Reduction.SUM)

    ``AUTO`` is ``SUM_OVER_BATCH_SIZE`` in gpunet (there is no distribution strategy to ask);
    ``NONE`` returns the per-sample values; ``SUM`` their weighted sum; ``SUM_OVER_BATCH_SIZE``
    that sum divided by the number of values.
    """

    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"

    @classmethod
    def all(cls):
        """The four names, in tf.keras's order."""
        return (cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE)

    @classmethod
    def validate(cls, key):
        """Raise ValueError (tf.keras's message) unless ``key`` is one of `all`."""
        if key not in cls.all():
            raise ValueError(f'Invalid Reduction Key: {key}. Expected keys are "{cls.all()}"')
