"""Intersection-over-union metrics, as tf.keras 2 computes them (tf_keras/src/metrics/iou_metrics.py):
`IoU`, `MeanIoU`, `BinaryIoU`, `OneHotIoU`, `OneHotMeanIoU` (History keys ``io_u``, ``mean_io_u``, ...).

Each accumulates a confusion matrix (rows: true class, columns: predicted class) in an `add_weight`
variable (float64), so `reset_state` zeroes it and `gpunet.distribute` sums it over the ranks. Class
values are truncated toward zero, as ``tf.cast`` does (a prediction of 1.7 is class 1); a class outside
``[0, num_classes)`` is refused with its value, where tf.keras stops with an InvalidArgumentError.
"""
from .base import Metric


def _class_ids(value, what):
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, received {value!r}")
    return int(value)


class IoU(Metric):
    """The mean, over ``target_class_ids``, of each class's ``TP / (TP + FP + FN)``; classes never seen
    (denominator 0) are left out of the mean, and the result is 0.0 when none is seen.

    ``sparse_y_true`` / ``sparse_y_pred``: False for one-hot (or scored) rows, whose argmax along ``axis``
    is the class; ``ignore_class``: rows whose true class it is count for nothing (a "void" label).
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=dtype)
        self.num_classes = _class_ids(num_classes, "num_classes")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, received {num_classes!r}")
        ids = [_class_ids(i, "Each target class id") for i in target_class_ids]
        if not ids:
            raise ValueError("target_class_ids must name at least one class, received an empty list")
        if max(ids) >= self.num_classes:
            raise ValueError(f"Target class id {max(ids)} is out of range, which is [0, {self.num_classes}).")
        self.target_class_ids = ids
        self.ignore_class = ignore_class
        self.sparse_y_true, self.sparse_y_pred, self.axis = bool(sparse_y_true), bool(sparse_y_pred), axis
        self.total_cm = self.add_weight("total_confusion_matrix", shape=(self.num_classes, self.num_classes),
                                        initializer="zeros", dtype="float64")

    def _classes(self, ops, values, sparse):
        xp = ops.xp
        if not sparse:
            values = xp.argmax(values, axis=self.axis)
        return xp.trunc(values.astype(self.dtype, copy=False).astype("float64")), values.shape

    def update(self, ops, y_true, y_pred, sample_weight=None):
        xp = ops.xp
        self._variables_on(ops)
        true, shape = self._classes(ops, y_true, self.sparse_y_true)
        pred, _ = self._classes(ops, y_pred, self.sparse_y_pred)
        true, pred = true.reshape(-1), pred.reshape(-1)
        if true.shape[0] != pred.shape[0]:
            raise ValueError(f"{type(self).__name__} compares one class per value: y_true gives {true.shape[0]} "
                             f"and y_pred {pred.shape[0]} (y_true of shape {tuple(y_true.shape)}, y_pred of shape "
                             f"{tuple(y_pred.shape)}).")
        weight = None
        if sample_weight is not None:
            sw = sample_weight.astype(self.dtype, copy=False).astype("float64")
            if sw.ndim and sw.size != true.shape[0]:  # one per row: for each of the row's values
                sw = sw.reshape(tuple(sw.shape) + (1,) * max(len(shape) - sw.ndim, 0))
                try:
                    sw = xp.broadcast_to(sw, shape)
                except ValueError:
                    raise ValueError(f"{type(self).__name__}: sample_weight of shape {tuple(sample_weight.shape)} "
                                     f"does not fit the classes' shape {tuple(shape)}") from None
            weight = xp.broadcast_to(sw, true.shape) if not sw.ndim else sw.reshape(-1)
        if self.ignore_class is not None:
            keep = true != self.ignore_class
            true, pred = true[keep], pred[keep]
            weight = None if weight is None else weight[keep]
        n = self.num_classes
        bad = (true < 0) | (true >= n) | (pred < 0) | (pred >= n)
        if bool(ops.to_host(bad.any())):
            which = "y_true" if bool(ops.to_host(((true < 0) | (true >= n)).any())) else "y_pred"
            values = true if which == "y_true" else pred
            first = float(ops.to_host(values[(values < 0) | (values >= n)][0]))
            raise ValueError(f"{type(self).__name__}: {which} holds class {first:g}, outside [0, {n}) "
                             f"(num_classes={n}).")
        cells = (true * n + pred).astype("int64")
        counts = xp.bincount(cells, weights=weight, minlength=n * n).astype("float64")
        self.total_cm.assign(self.total_cm.value + counts.reshape(n, n))

    def result(self):
        ops = self.total_cm.ops
        cm = ops.to_host(self.total_cm.value)
        true_positives = cm.diagonal()
        denominator = (cm.sum(axis=0) + cm.sum(axis=1) - true_positives)[self.target_class_ids]
        true_positives = true_positives[self.target_class_ids]
        seen = denominator != 0
        if not seen.any():
            return 0.0
        return float((true_positives[seen] / denominator[seen]).sum() / seen.sum())

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                       "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                       "sparse_y_pred": self.sparse_y_pred, "axis": self.axis})
        return config


class MeanIoU(IoU):
    """`IoU` over every class: ``MeanIoU(num_classes)``."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True,
                 axis=-1):
        n = _class_ids(num_classes, "num_classes")
        super().__init__(n, list(range(n)), name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class BinaryIoU(IoU):
    """`IoU` of two classes, a prediction of ``threshold`` or more being class 1 (``y_true`` 0 or 1)."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update(self, ops, y_true, y_pred, sample_weight=None):
        y_pred = (y_pred.astype(self.dtype, copy=False) >= self.threshold).astype(self.dtype)
        super().update(ops, y_true, y_pred, sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}


class OneHotIoU(IoU):
    """`IoU` of one-hot ``y_true`` (and scored ``y_pred`` rows unless ``sparse_y_pred``)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """`MeanIoU` of one-hot ``y_true`` (and scored ``y_pred`` rows unless ``sparse_y_pred``)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config
