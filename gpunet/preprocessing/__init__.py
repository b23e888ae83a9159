"""Keras 2's data preprocessing for text and sequences (``keras.preprocessing``): swap ``keras``
for ``gpunet`` in ``from keras.preprocessing.text import Tokenizer`` or
``from keras.preprocessing import sequence``. Plain Python and NumPy on the host (no backend).

- ``gpunet.preprocessing.text``: Tokenizer, tokenizer_from_json, text_to_word_sequence, one_hot,
  hashing_trick.
- ``gpunet.preprocessing.sequence``: pad_sequences (also ``gpunet.utils.pad_sequences``),
  make_sampling_table, skipgrams, TimeseriesGenerator.
- ``timeseries_dataset_from_array``, ``image_dataset_from_directory``, ``text_dataset_from_directory`` (Keras's;
  also in ``gpunet.utils``).
- ``gpunet.preprocessing.image``: ImageDataGenerator, load_img, img_to_array, array_to_img, save_img and the
  augmentation functions (SciPy and Pillow, as Keras's: ``pip install 'gpunet[image]'``).
"""
from . import image, sequence, text
from .timeseries_dataset import timeseries_dataset_from_array
from ..utils.image_dataset import image_dataset_from_directory
from ..utils.text_dataset import text_dataset_from_directory

__all__ = ["image", "sequence", "text", "timeseries_dataset_from_array", "image_dataset_from_directory",
           "text_dataset_from_directory"]
