"""Keras 2's `ImageDataGenerator` (``keras.preprocessing.image.ImageDataGenerator``): random transforms drawn
per image in tf.keras 2's order from NumPy's global generator, applied by image_transforms.py, then the
standardization ``fit`` prepared; ``flow`` gives the batches (image.py's NumpyArrayIterator)."""
import warnings

import numpy

from .. import backend as B
from .image_transforms import apply_affine_transform, apply_brightness_shift, apply_channel_shift, flip_axis


def _warn_unfitted(option):
    warnings.warn(f"This ImageDataGenerator specifies `{option}`, but it hasn't been fit on any training data. Fit "
                  "it first by calling `.fit(numpy_data)`.")


class ImageDataGenerator:
    """Batches of augmented images (Keras 2's arguments and defaults). ``rotation_range`` in degrees;
    ``width_shift_range``/``height_shift_range`` a fraction of the size (< 1), pixels (>= 1) or a list of
    pixel choices; ``zoom_range`` a float ``z`` (``[1 - z, 1 + z]``) or a pair; ``fill_mode`` "constant",
    "nearest", "reflect" or "wrap"; ``rescale`` multiplies first; ``preprocessing_function`` runs before it."""

    def __init__(self, featurewise_center=False, samplewise_center=False, featurewise_std_normalization=False,
                 samplewise_std_normalization=False, zca_whitening=False, zca_epsilon=1e-6, rotation_range=0,
                 width_shift_range=0.0, height_shift_range=0.0, brightness_range=None, shear_range=0.0,
                 zoom_range=0.0, channel_shift_range=0.0, fill_mode="nearest", cval=0.0, horizontal_flip=False,
                 vertical_flip=False, rescale=None, preprocessing_function=None, data_format=None,
                 validation_split=0.0, interpolation_order=1, dtype=None):
        data_format = B.image_data_format() if data_format is None else data_format
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError('`data_format` should be `"channels_last"` (channel after row and column) or '
                             f'`"channels_first"` (channel before row and column). Received: {data_format}')
        if validation_split and not 0 < validation_split < 1:
            raise ValueError(f"`validation_split` must be strictly between 0 and 1.  Received: {validation_split}")
        if isinstance(zoom_range, (float, int)):
            zoom_range = [1 - zoom_range, 1 + zoom_range]
        elif len(zoom_range) == 2 and all(isinstance(v, (float, int)) for v in zoom_range):
            zoom_range = [zoom_range[0], zoom_range[1]]
        else:
            raise ValueError(f"`zoom_range` should be a float or a tuple or list of two floats. Received: {zoom_range}")
        if brightness_range is not None and (not isinstance(brightness_range, (tuple, list))
                                             or len(brightness_range) != 2):
            raise ValueError(f"`brightness_range should be tuple or list of two floats. Received: {brightness_range}")
        if fill_mode not in ("constant", "nearest", "reflect", "wrap"):
            raise ValueError(f"`fill_mode` must be 'constant', 'nearest', 'reflect' or 'wrap', received {fill_mode!r}")
        self.featurewise_center, self.samplewise_center = featurewise_center, samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening, self.zca_epsilon = zca_whitening, zca_epsilon
        self.rotation_range, self.shear_range, self.zoom_range = rotation_range, shear_range, zoom_range
        self.width_shift_range, self.height_shift_range = width_shift_range, height_shift_range
        self.channel_shift_range, self.brightness_range = channel_shift_range, brightness_range
        self.fill_mode, self.cval, self.interpolation_order = fill_mode, cval, interpolation_order
        self.horizontal_flip, self.vertical_flip = horizontal_flip, vertical_flip
        self.rescale, self.preprocessing_function = rescale, preprocessing_function
        self.dtype, self.data_format, self._validation_split = dtype or B.floatx(), data_format, validation_split
        self.channel_axis, self.row_axis, self.col_axis = (3, 1, 2) if data_format == "channels_last" else (1, 2, 3)
        self.mean = self.std = self.zca_whitening_matrix = None
        overrides = [(zca_whitening and not featurewise_center, "featurewise_center", True, "zca_whitening"),
                     (zca_whitening and featurewise_std_normalization, "featurewise_std_normalization", False,
                      "zca_whitening"),
                     (featurewise_std_normalization and not featurewise_center, "featurewise_center", True,
                      "featurewise_std_normalization"),
                     (samplewise_std_normalization and not samplewise_center, "samplewise_center", True,
                      "samplewise_std_normalization")]
        for applies, option, value, because in overrides:
            if applies:
                setattr(self, option, value)
                warnings.warn(f"This ImageDataGenerator specifies `{because}`, which overrides setting of "
                              f"`{option}`.")

    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None, save_to_dir=None,
             save_prefix="", save_format="png", ignore_class_split=False, subset=None):
        """The batches of ``x`` (and ``y``, ``sample_weight``), augmented: a `NumpyArrayIterator`, which fit takes."""
        from .image import NumpyArrayIterator
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
                                  seed=seed, data_format=self.data_format, save_to_dir=save_to_dir,
                                  save_prefix=save_prefix, save_format=save_format,
                                  ignore_class_split=ignore_class_split, subset=subset, dtype=self.dtype)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb", classes=None,
                            class_mode="categorical", batch_size=32, shuffle=True, seed=None, save_to_dir=None,
                            save_prefix="", save_format="png", follow_links=False, subset=None, interpolation="nearest",
                            keep_aspect_ratio=False):
        """The batches of the images in ``directory``'s class subdirectories, augmented: a `DirectoryIterator`."""
        from .image_directory import DirectoryIterator
        return DirectoryIterator(directory, self, target_size=target_size, color_mode=color_mode, classes=classes,
                                 class_mode=class_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
                                 data_format=self.data_format, save_to_dir=save_to_dir, save_prefix=save_prefix,
                                 save_format=save_format, follow_links=follow_links, subset=subset,
                                 interpolation=interpolation, keep_aspect_ratio=keep_aspect_ratio, dtype=self.dtype)

    def flow_from_dataframe(self, dataframe, directory=None, x_col="filename", y_col="class", weight_col=None,
                            target_size=(256, 256), color_mode="rgb", classes=None, class_mode="categorical",
                            batch_size=32, shuffle=True, seed=None, save_to_dir=None, save_prefix="",
                            save_format="png", subset=None, interpolation="nearest", validate_filenames=True, **kwargs):
        """The batches of the images a pandas DataFrame lists, augmented: a `DataFrameIterator`. Keras 2's
        deprecated ``has_ext``, ``sort``, ``drop_duplicates`` and ``class_mode="other"`` (now "raw") warn as
        there."""
        from .image_dataframe import DataFrameIterator
        for key, message in (("has_ext", "has_ext is deprecated, filenames in the dataframe have to match the exact "
                                         "filenames in disk."),
                             ("sort", "sort is deprecated, batches will be created in thesame order than the filenames "
                                      "provided if shuffleis set to False."),
                             ("drop_duplicates", "drop_duplicates is deprecated, you can drop duplicates by using the "
                                                 "pandas.DataFrame.drop_duplicates method.")):
            if key in kwargs:
                warnings.warn(message, DeprecationWarning)
        if class_mode == "other":
            warnings.warn('`class_mode` "other" is deprecated, please use `class_mode` "raw".', DeprecationWarning)
            class_mode = "raw"
        return DataFrameIterator(dataframe, directory, self, x_col=x_col, y_col=y_col, weight_col=weight_col,
                                 target_size=target_size, color_mode=color_mode, classes=classes,
                                 class_mode=class_mode, data_format=self.data_format, batch_size=batch_size,
                                 shuffle=shuffle, seed=seed, save_to_dir=save_to_dir, save_prefix=save_prefix,
                                 save_format=save_format, subset=subset, interpolation=interpolation,
                                 validate_filenames=validate_filenames, dtype=self.dtype)

    def standardize(self, x):
        """``x`` (an image or a batch) with preprocessing_function, rescale and the normalizations applied
        (in place where Keras's are)."""
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= numpy.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x /= numpy.std(x, keepdims=True) + 1e-6
        if self.featurewise_center:
            if self.mean is None:
                _warn_unfitted("featurewise_center")
            else:
                x -= self.mean
        if self.featurewise_std_normalization:
            if self.std is None:
                _warn_unfitted("featurewise_std_normalization")
            else:
                x /= self.std + 1e-6
        if self.zca_whitening:
            if self.zca_whitening_matrix is None:
                _warn_unfitted("zca_whitening")
            else:
                x = numpy.reshape(x.reshape(-1, numpy.prod(x.shape[-3:])) @ self.zca_whitening_matrix, x.shape)
        return x

    def _shift(self, range_, size):
        try:  # a list of pixel choices, or an int: a choice and a sign
            shift = numpy.random.choice(range_)
            shift *= numpy.random.choice([-1, 1])
        except ValueError:  # a float
            shift = numpy.random.uniform(-range_, range_)
        return shift * size if numpy.max(range_) < 1 else shift

    def get_random_transform(self, img_shape, seed=None):
        """The random parameters for one image of ``img_shape`` (a dict `apply_transform` takes)."""
        if seed is not None:
            numpy.random.seed(seed)
        theta = numpy.random.uniform(-self.rotation_range, self.rotation_range) if self.rotation_range else 0
        tx = self._shift(self.height_shift_range, img_shape[self.row_axis - 1]) if self.height_shift_range else 0
        ty = self._shift(self.width_shift_range, img_shape[self.col_axis - 1]) if self.width_shift_range else 0
        shear = numpy.random.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1, 1
        else:
            zx, zy = numpy.random.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_horizontal = (numpy.random.random() < 0.5) * self.horizontal_flip
        flip_vertical = (numpy.random.random() < 0.5) * self.vertical_flip
        channel_shift = None
        if self.channel_shift_range != 0:
            channel_shift = numpy.random.uniform(-self.channel_shift_range, self.channel_shift_range)
        brightness = None
        if self.brightness_range is not None:
            brightness = numpy.random.uniform(self.brightness_range[0], self.brightness_range[1])
        return {"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
                "flip_horizontal": flip_horizontal, "flip_vertical": flip_vertical,
                "channel_shift_intensity": channel_shift, "brightness": brightness}

    def apply_transform(self, x, transform_parameters):
        """The image ``x`` transformed as ``transform_parameters`` say."""
        p = transform_parameters
        rows, cols, channels = self.row_axis - 1, self.col_axis - 1, self.channel_axis - 1
        x = apply_affine_transform(x, p.get("theta", 0), p.get("tx", 0), p.get("ty", 0), p.get("shear", 0),
                                   p.get("zx", 1), p.get("zy", 1), row_axis=rows, col_axis=cols,
                                   channel_axis=channels, fill_mode=self.fill_mode, cval=self.cval,
                                   order=self.interpolation_order)
        if p.get("channel_shift_intensity") is not None:
            x = apply_channel_shift(x, p["channel_shift_intensity"], channels)
        if p.get("flip_horizontal", False):
            x = flip_axis(x, cols)
        if p.get("flip_vertical", False):
            x = flip_axis(x, rows)
        if p.get("brightness") is not None:
            x = apply_brightness_shift(x, p["brightness"], False)
        return x

    def random_transform(self, x, seed=None):
        """The image ``x`` randomly transformed."""
        return self.apply_transform(x, self.get_random_transform(x.shape, seed))

    def fit(self, x, augment=False, rounds=1, seed=None):
        """The feature-wise mean, std and ZCA matrix of the images ``x`` (after ``rescale``; over ``rounds``
        augmented copies when ``augment``), for `standardize`."""
        x = numpy.asarray(x, dtype=self.dtype)
        if x.ndim != 4:
            raise ValueError(f"Input to `.fit()` should have rank 4. Got array with shape: {x.shape}")
        if x.shape[self.channel_axis] not in (1, 3, 4):
            warnings.warn(f'Expected input to be images (as Numpy array) following the data format convention '
                          f'"{self.data_format}" (channels on axis {self.channel_axis}), i.e. expected either 1, 3 '
                          f"or 4 channels on axis {self.channel_axis}. However, it was passed an array with shape "
                          f"{x.shape} ({x.shape[self.channel_axis]} channels).")
        if seed is not None:
            numpy.random.seed(seed)
        x = numpy.copy(x)
        if self.rescale:
            x *= self.rescale
        if augment:
            ax = numpy.zeros((rounds * x.shape[0],) + x.shape[1:], dtype=self.dtype)
            for r in range(rounds):
                for i in range(x.shape[0]):
                    ax[i + r * x.shape[0]] = self.random_transform(x[i])
            x = ax
        shape = [1, 1, 1]
        shape[self.channel_axis - 1] = x.shape[self.channel_axis]
        if self.featurewise_center:
            self.mean = numpy.reshape(numpy.mean(x, axis=(0, self.row_axis, self.col_axis)), shape)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = numpy.reshape(numpy.std(x, axis=(0, self.row_axis, self.col_axis)), shape)
            x /= self.std + 1e-6
        if self.zca_whitening:
            flat = numpy.reshape(x, (len(x), -1))
            u, s, _ = numpy.linalg.svd(flat.T, full_matrices=False)
            self.zca_whitening_matrix = (u * (numpy.sqrt(len(x)) / (s + self.zca_epsilon))) @ u.T
