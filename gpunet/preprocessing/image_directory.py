"""Keras 2's ``DirectoryIterator``, the batches of `ImageDataGenerator.flow_from_directory`: one subdirectory
per class (sorted by name unless ``classes`` lists them), its image files (png, jpg, jpeg, bmp, ppm, tif, tiff;
subfolders included, sorted) loaded, resized to ``target_size``, randomly transformed and standardized, with
labels per ``class_mode``; tf.keras 2's file order, subsets and messages."""
import os
import warnings

import numpy

from .. import backend as B
from ..utils.directory_index import sorted_files
from .image import Iterator
from .image_utils import array_to_img, img_to_array, load_img

_FORMATS = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")
_CLASS_MODES = ("categorical", "binary", "sparse", "input", None)


def _image_files(directory, follow_links):
    """``(root, name)`` of the image files under ``directory``, folders and names sorted (Keras's order)."""
    for root, name in sorted_files(directory, follow_links, _FORMATS):
        if name.lower().endswith(".tiff"):
            warnings.warn('Using ".tiff" files with multiple bands will cause distortion. Please verify your output.')
        yield root, name


class FilesIterator(Iterator):
    """What `DirectoryIterator` and `DataFrameIterator` share (Keras's ``BatchFromFilesMixin``): the images'
    loading, augmentation and saving, and the labels of each class mode. A subclass sets ``_filepaths``,
    ``classes``, ``class_indices`` and whatever its class modes read (``_targets``, ``_sample_weight``)."""

    white_list_formats = _FORMATS
    _sample_weight = None

    def _set_processing(self, image_data_generator, target_size, color_mode, data_format, save_to_dir, save_prefix,
                        save_format, subset, interpolation, keep_aspect_ratio, dtype):
        if color_mode not in ("rgb", "rgba", "grayscale"):
            raise ValueError(f'Invalid color mode: {color_mode!r}; expected "rgb", "rgba", or "grayscale".')
        if subset not in (None, "training", "validation"):
            raise ValueError(f'Invalid subset name: {subset};expected "training" or "validation"')
        self.image_data_generator = image_data_generator
        self.data_format = B.image_data_format() if data_format is None else data_format
        self.target_size, self.color_mode = tuple(target_size), color_mode
        self.interpolation, self.keep_aspect_ratio, self.dtype = interpolation, keep_aspect_ratio, dtype or B.floatx()
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        channels = {"rgb": 3, "rgba": 4, "grayscale": 1}[color_mode]
        self.image_shape = (self.target_size + (channels,) if self.data_format == "channels_last"
                            else (channels,) + self.target_size)
        split = None
        if subset is not None:
            share = image_data_generator._validation_split
            split = (0, share) if subset == "validation" else (share, 1)
        self.split, self.subset = split, subset

    @property
    def filepaths(self):
        """The path of each image, in the iterator's order."""
        return self._filepaths

    @property
    def labels(self):
        """Each image's class index (its targets for the "raw" and "multi_output" class modes)."""
        return self._targets if self.class_mode in ("raw", "multi_output") else self.classes

    @property
    def sample_weight(self):
        return self._sample_weight

    def _get_batches_of_transformed_samples(self, index_array):
        gen = self.image_data_generator
        batch_x = numpy.zeros((len(index_array),) + self.image_shape, dtype=self.dtype)
        for i, j in enumerate(index_array):
            img = load_img(self._filepaths[j], color_mode=self.color_mode, target_size=self.target_size,
                           interpolation=self.interpolation, keep_aspect_ratio=self.keep_aspect_ratio)
            x = img_to_array(img, data_format=self.data_format)
            img.close()
            if gen:
                x = gen.standardize(gen.apply_transform(x, gen.get_random_transform(x.shape)))
            batch_x[i] = x
        if self.save_to_dir:
            for i, j in enumerate(index_array):
                name = f"{self.save_prefix}_{j}_{numpy.random.randint(1e7)}.{self.save_format}"
                array_to_img(batch_x[i], self.data_format, scale=True).save(os.path.join(self.save_to_dir, name))
        if self.class_mode is None:
            return batch_x
        if self.class_mode == "input":
            batch_y = batch_x.copy()
        elif self.class_mode in ("binary", "sparse"):
            batch_y = numpy.asarray([self.classes[j] for j in index_array], dtype=self.dtype)
        elif self.class_mode == "categorical":  # (a list of classes per image: several ones in its row)
            batch_y = numpy.zeros((len(batch_x), len(self.class_indices)), dtype=self.dtype)
            for i, j in enumerate(index_array):
                batch_y[i, self.classes[j]] = 1.0
        elif self.class_mode == "multi_output":
            batch_y = [output[index_array] for output in self.labels]
        else:  # "raw"
            batch_y = self.labels[index_array]
        if self.sample_weight is None:
            return batch_x, batch_y
        return batch_x, batch_y, self.sample_weight[index_array]


class DirectoryIterator(FilesIterator):
    """Batches of images read from ``directory``'s class subdirectories (see the module's docstring)."""

    allowed_class_modes = set(_CLASS_MODES)

    def __init__(self, directory, image_data_generator, target_size=(256, 256), color_mode="rgb", classes=None,
                 class_mode="categorical", batch_size=32, shuffle=True, seed=None, data_format=None, save_to_dir=None,
                 save_prefix="", save_format="png", follow_links=False, subset=None, interpolation="nearest",
                 keep_aspect_ratio=False, dtype=None):
        self._set_processing(image_data_generator, target_size, color_mode, data_format, save_to_dir, save_prefix,
                             save_format, subset, interpolation, keep_aspect_ratio, dtype)
        if class_mode not in _CLASS_MODES:
            raise ValueError(f"Invalid class_mode: {class_mode}; expected one of: {self.allowed_class_modes}")
        self.directory, self.class_mode, split = directory, class_mode, self.split
        if not classes:
            classes = [d for d in sorted(os.listdir(directory)) if os.path.isdir(os.path.join(directory, d))]
        self.num_classes, self.class_indices = len(classes), {c: i for i, c in enumerate(classes)}
        self.filenames, labels = [], []
        for name in classes:
            found = list(_image_files(os.path.join(directory, name), follow_links))
            if split:
                found = found[int(split[0] * len(found)):int(split[1] * len(found))]
            for root, file in found:
                labels.append(self.class_indices[name])
                self.filenames.append(os.path.join(name, os.path.relpath(os.path.join(root, file),
                                                                         os.path.join(directory, name))))
        self.samples = len(self.filenames)
        self.classes = numpy.asarray(labels, dtype="int32").reshape(-1)
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        self._filepaths = [os.path.join(directory, f) for f in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed)
