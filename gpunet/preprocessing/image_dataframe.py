"""Keras 2's ``DataFrameIterator``, the batches of `ImageDataGenerator.flow_from_dataframe`: the images named in
a pandas DataFrame's ``x_col`` (relative to ``directory``, or paths where it is None), in the frame's order,
with labels from ``y_col`` per ``class_mode`` (class names, lists of them for several labels per image, raw
values, several outputs) and sample weights from ``weight_col``; tf.keras 2.21's checks, filtering, subsets,
messages and batches. gpunet does not import pandas: it calls the frame's own methods."""
import collections
import os
import warnings

import numpy

from .image_directory import FilesIterator

_CLASS_MODES = ("binary", "categorical", "input", "multi_output", "raw", "sparse", None)
_UNLABELLED = ("input", "multi_output", "raw", None)


def _check(df, class_mode, x_col, y_col, weight_col, classes):
    """Keras's checks of the frame against the class mode, with its messages."""
    if class_mode not in _CLASS_MODES:
        raise ValueError(f"Invalid class_mode: {class_mode}; expected one of: {set(_CLASS_MODES)}")
    if class_mode == "multi_output" and not isinstance(y_col, list):
        raise TypeError(f'If class_mode="{class_mode}", y_col must be a list. Received {type(y_col).__name__}.')
    if not all(df[x_col].apply(lambda x: isinstance(x, str))):
        raise TypeError(f"All values in column x_col={x_col} must be strings.")
    if class_mode in ("binary", "sparse") and not all(df[y_col].apply(lambda x: isinstance(x, str))):
        raise TypeError(f'If class_mode="{class_mode}", y_col="{y_col}" column values must be strings.')
    if class_mode == "binary":
        if classes:
            if len(set(classes)) != 2:
                raise ValueError(f'If class_mode="binary" there must be 2 classes. {len(set(classes))} class/es were '
                                 "given.")
        elif df[y_col].nunique() != 2:
            raise ValueError(f'If class_mode="binary" there must be 2 classes. Found {df[y_col].nunique()} classes.')
    if class_mode == "categorical" and not all(df[y_col].apply(lambda x: isinstance(x, (str, list, tuple)))):
        raise TypeError(f'If class_mode="{class_mode}", y_col="{y_col}" column values must be type string, list or '
                        "tuple.")
    if classes and class_mode in _UNLABELLED:
        warnings.warn(f'`classes` will be ignored given the class_mode="{class_mode}"')
    if weight_col and not issubclass(df[weight_col].dtype.type, numpy.number):
        raise TypeError(f"Column weight_col={weight_col} must be numeric.")


def _filter_classes(df, y_col, classes):
    """The rows with a label among ``classes`` (each row's labels cut to them), and the classes: those given,
    in their order, else every label found, sorted."""
    df = df.copy()

    def kept(labels):
        if isinstance(labels, (list, tuple)):
            return [c for c in labels if c in classes] or None
        if isinstance(labels, str):
            return labels if labels in classes else None
        raise TypeError(f"Expect string, list or tuple but found {type(labels)} in {y_col} column ")
    if classes:
        classes = list(collections.OrderedDict.fromkeys(classes))
        df[y_col] = df[y_col].apply(kept)
    else:
        found = set()
        for labels in df[y_col]:
            if isinstance(labels, (list, tuple)):
                found.update(labels)
            else:
                found.add(labels)
        classes = sorted(found)
    return df.dropna(subset=[y_col]), classes


class DataFrameIterator(FilesIterator):
    """Batches of the images a DataFrame lists (see the module's docstring)."""

    allowed_class_modes = set(_CLASS_MODES)

    def __init__(self, dataframe, directory=None, image_data_generator=None, x_col="filename", y_col="class",
                 weight_col=None, target_size=(256, 256), color_mode="rgb", classes=None, class_mode="categorical",
                 batch_size=32, shuffle=True, seed=None, data_format="channels_last", save_to_dir=None,
                 save_prefix="", save_format="png", subset=None, interpolation="nearest", keep_aspect_ratio=False,
                 dtype="float32", validate_filenames=True):
        self._set_processing(image_data_generator, target_size, color_mode, data_format, save_to_dir, save_prefix,
                             save_format, subset, interpolation, keep_aspect_ratio, dtype)
        df = dataframe.copy()
        self.directory, self.class_mode = directory or "", class_mode
        _check(df, class_mode, x_col, y_col, weight_col, classes)
        if validate_filenames:
            df = self._valid_rows(df, x_col)
        if class_mode not in _UNLABELLED:
            df, classes = _filter_classes(df, y_col, classes)
            self.class_indices = {c: i for i, c in enumerate(classes)}
        if self.split:
            df = df.iloc[int(self.split[0] * len(df)):int(self.split[1] * len(df)), :]
        if class_mode not in _UNLABELLED:
            self.classes = [[self.class_indices[c] for c in labels] if isinstance(labels, (list, tuple))
                            else self.class_indices[labels] for labels in df[y_col]]
        self.filenames = df[x_col].tolist()
        self._sample_weight = df[weight_col].values if weight_col else None
        if class_mode == "multi_output":
            self._targets = [numpy.array(df[col].tolist()) for col in y_col]
        if class_mode == "raw":
            self._targets = df[y_col].values
        self.samples = len(self.filenames)
        found = f"Found {self.samples} {'validated' if validate_filenames else 'non-validated'} image filenames"
        print(found + ("." if class_mode in _UNLABELLED else f" belonging to {len(classes)} classes."))
        self._filepaths = [os.path.join(self.directory, name) for name in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed)

    def _valid_rows(self, df, x_col):
        """The rows naming an existing file with an image extension; a warning counts the others."""
        paths = df[x_col].map(lambda name: os.path.join(self.directory, name))
        valid = paths.apply(lambda path: path.lower().endswith(self.white_list_formats) and os.path.isfile(path))
        invalid = int((~valid).sum())
        if invalid:
            warnings.warn(f'Found {invalid} invalid image filename(s) in x_col="{x_col}". These filename(s) will be '
                          "ignored.")
        return df[valid]
