"""Keras 2's ``keras.preprocessing.image``: `ImageDataGenerator` (real-time augmentation: rotations, shifts,
shears, zooms, flips, channel and brightness shifts; rescaling and feature- or sample-wise standardization,
ZCA whitening) and the iterator its ``flow`` gives, a `gpunet.utils.Sequence` that ``fit`` (and Keras 2's
``fit_generator``) takes; with the image file helpers and the augmentation functions. tf.keras 2's arguments,
order of random draws (NumPy's global generator: ``numpy.random.seed`` or ``flow(seed=...)`` repeats them)
and values: a seeded ``flow`` gives tf.keras's batches. Host NumPy (SciPy for the transforms, Pillow for
files and brightness), as in Keras; the model's backend gets the batches."""
import threading
import warnings

import numpy

from .. import backend as B
from ..utils import Sequence
from .image_transforms import (apply_affine_transform, apply_brightness_shift, apply_channel_shift,
                               flip_axis, random_brightness, random_channel_shift, random_rotation, random_shear,
                               random_shift, random_zoom, transform_matrix_offset_center)
from .image_utils import array_to_img, img_to_array, load_img, save_img


class Iterator(Sequence):
    """Batches of ``n`` samples by index (Keras's ``Iterator``): ``len()`` batches, reshuffled at each epoch's
    end when ``shuffle``; also a Python iterator over endless batches (``next(it)``), as Keras 2's are."""

    def __init__(self, n, batch_size, shuffle, seed):
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.batch_index = self.total_batches_seen = 0
        self.lock = threading.Lock()
        self.index_array = None
        self.index_generator = self._flow_index()

    def _set_index_array(self):
        self.index_array = numpy.random.permutation(self.n) if self.shuffle else numpy.arange(self.n)

    def __getitem__(self, idx):
        if idx >= len(self):
            raise ValueError(f"Asked to retrieve element {idx}, but the Sequence has length {len(self)}")
        if self.seed is not None:
            numpy.random.seed(self.seed + self.total_batches_seen)
        self.total_batches_seen += 1
        if self.index_array is None:
            self._set_index_array()
        return self._get_batches_of_transformed_samples(self.index_array[self.batch_size * idx:
                                                                         self.batch_size * (idx + 1)])

    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size

    def on_epoch_end(self):
        self._set_index_array()

    def reset(self):
        self.batch_index = 0

    def _flow_index(self):
        self.reset()
        while True:
            if self.seed is not None:
                numpy.random.seed(self.seed + self.total_batches_seen)
            if self.batch_index == 0:
                self._set_index_array()
            current = (self.batch_index * self.batch_size) % self.n if self.n else 0
            self.batch_index = self.batch_index + 1 if self.n > current + self.batch_size else 0
            self.total_batches_seen += 1
            yield self.index_array[current:current + self.batch_size]

    def __iter__(self):
        return self

    def __next__(self):
        with self.lock:
            index_array = next(self.index_generator)
        return self._get_batches_of_transformed_samples(index_array)

    next = __next__

    def _get_batches_of_transformed_samples(self, index_array):
        raise NotImplementedError(f"{type(self).__name__} must define _get_batches_of_transformed_samples")


class NumpyArrayIterator(Iterator):
    """The batches of `ImageDataGenerator.flow`: each image randomly transformed then standardized; ``(x, y)``,
    ``(x, y, sample_weight)`` or ``x`` alone; ``x`` may be ``(images, other_array_or_list)``."""

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False, sample_weight=None, seed=None,
                 data_format=None, save_to_dir=None, save_prefix="", save_format="png", subset=None,
                 ignore_class_split=False, dtype=None):
        data_format = B.image_data_format() if data_format is None else data_format
        self.dtype = dtype or B.floatx()
        misc = []
        if isinstance(x, (tuple, list)):
            misc = [numpy.asarray(a) for a in (x[1] if isinstance(x[1], list) else [x[1]])]
            x = x[0]
            for a in misc:
                if len(x) != len(a):
                    raise ValueError(f"All of the arrays in `x` should have the same length. Found a pair with: "
                                     f"len(x[0]) = {len(x)}, len(x[?]) = {len(a)}")
        for name, other in (("y` (labels)", y), ("sample_weight`", sample_weight)):
            if other is not None and len(x) != len(other):
                raise ValueError(f"`x` (images tensor) and `{name} should have the same length. Found: x.shape = "
                                 f"{numpy.asarray(x).shape}, {name.split('`')[0]}.shape = {numpy.asarray(other).shape}")
        if subset is not None:
            if subset not in ("training", "validation"):
                raise ValueError(f"Invalid subset name: {subset!r}; expected 'training' or 'validation'.")
            split = int(len(x) * image_data_generator._validation_split)
            if y is not None and not ignore_class_split and not numpy.array_equal(numpy.unique(y[:split]),
                                                                                     numpy.unique(y[split:])):
                raise ValueError("Training and validation subsets have different number of classes after the split. "
                                 "If your numpy arrays are sorted by the label, you might want to shuffle them.")
            part = slice(None, split) if subset == "validation" else slice(split, None)
            x, misc = x[part], [numpy.asarray(a[part]) for a in misc]
            y = y[part] if y is not None else None
            sample_weight = sample_weight[part] if sample_weight is not None else None
        self.x, self.x_misc = numpy.asarray(x, dtype=self.dtype), misc
        if self.x.ndim != 4:
            raise ValueError(f"Input data in `NumpyArrayIterator` should have rank 4. You passed an array with "
                             f"shape {self.x.shape}")
        channels_axis = 3 if data_format == "channels_last" else 1
        if self.x.shape[channels_axis] not in (1, 3, 4):
            warnings.warn(f'NumpyArrayIterator is set to use the data format convention "{data_format}" (channels '
                          f"on axis {channels_axis}), i.e. expected either 1, 3, or 4 channels on axis "
                          f"{channels_axis}. However, it was passed an array with shape {self.x.shape} "
                          f"({self.x.shape[channels_axis]} channels).")
        self.y = None if y is None else numpy.asarray(y)
        self.sample_weight = None if sample_weight is None else numpy.asarray(sample_weight)
        self.image_data_generator, self.data_format = image_data_generator, data_format
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        super().__init__(self.x.shape[0], batch_size, shuffle, seed)

    def _get_batches_of_transformed_samples(self, index_array):
        import os
        gen = self.image_data_generator
        batch_x = numpy.zeros((len(index_array),) + self.x.shape[1:], dtype=self.dtype)
        for i, j in enumerate(index_array):
            params = gen.get_random_transform(self.x[j].shape)
            batch_x[i] = gen.standardize(gen.apply_transform(self.x[j].astype(self.dtype), params))
        if self.save_to_dir:
            for i, j in enumerate(index_array):
                name = f"{self.save_prefix}_{j}_{numpy.random.randint(1e4)}.{self.save_format}"
                array_to_img(batch_x[i], self.data_format, scale=True).save(os.path.join(self.save_to_dir, name))
        miscs = [a[index_array] for a in self.x_misc]
        output = (batch_x if not miscs else [batch_x] + miscs,)
        if self.y is None:
            return output[0]
        output += (self.y[index_array],)
        if self.sample_weight is not None:
            output += (self.sample_weight[index_array],)
        return output


from .image_generator import ImageDataGenerator  # noqa: E402 (it makes the iterators above)
from .image_directory import DirectoryIterator  # noqa: E402
from .image_dataframe import DataFrameIterator  # noqa: E402

__all__ = ["ImageDataGenerator", "Iterator", "NumpyArrayIterator", "DirectoryIterator", "DataFrameIterator",
           "array_to_img", "img_to_array", "load_img", "save_img", "apply_affine_transform", "apply_brightness_shift",
           "apply_channel_shift", "flip_axis",
           "random_brightness", "random_channel_shift", "random_rotation", "random_shear", "random_shift",
           "random_zoom", "transform_matrix_offset_center"]
