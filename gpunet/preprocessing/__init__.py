"""Keras 2's data preprocessing for text and sequences (``keras.preprocessing``): swap ``keras``
for ``gpunet`` in ``from keras.preprocessing.text import Tokenizer`` or
``from keras.preprocessing import sequence``. Plain Python and NumPy on the host (no backend).

- ``gpunet.preprocessing.text``: Tokenizer, tokenizer_from_json, text_to_word_sequence, one_hot,
  hashing_trick.
- ``gpunet.preprocessing.sequence``: pad_sequences (also ``gpunet.utils.pad_sequences``),
  make_sampling_table, skipgrams, TimeseriesGenerator.
- ``timeseries_dataset_from_array`` (Keras's; also ``gpunet.utils.timeseries_dataset_from_array``).
"""
from . import sequence, text
from .timeseries_dataset import timeseries_dataset_from_array

__all__ = ["sequence", "text", "timeseries_dataset_from_array"]
