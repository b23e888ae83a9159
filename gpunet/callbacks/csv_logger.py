"""`CSVLogger`: stream each epoch's logs to a CSV file."""
import collections.abc
import csv
import io
import os

import numpy

from .base import Callback


def _cell(value):
    if isinstance(value, str):
        return value
    if isinstance(value, collections.abc.Iterable) and not (isinstance(value, numpy.ndarray) and value.ndim == 0):
        return f"\"[{', '.join(map(str, value))}]\""
    return value


class CSVLogger(Callback):
    """Writes one row per epoch to ``filename`` (Keras's ``CSVLogger``).

    The header is ``epoch`` then the logs keys in sorted order, then, when the first epoch
    has no ``val_*`` key, a ``val_`` column for each of them, as tf.keras writes it (with
    ``validation_freq > 1`` later epochs fill them; without validation they stay ``NA``);
    a missing value is written ``NA``. Each row is written whole and flushed, so a
    crash leaves every finished epoch in the file.

    Args:
        filename: path of the CSV file.
        separator: a one-character field separator.
        append: True: add to an existing file (no second header); False: overwrite it.
    """

    _never_stops = True  # its batch hooks never set stop_training (distribute/sharding.agree_to_stop)

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger separator must be a 1-character string, received {separator!r}")
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.keys = None
        self.append_header = True
        self.csv_file = None
        self._dialect = type("CSVLoggerDialect", (csv.excel,), {"delimiter": separator})

    def on_train_begin(self, logs=None):
        self.keys = None
        self.append_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline="") as f:
                self.append_header = not f.readline()
        # newline="": the csv module writes Keras's "\r\n" row ends itself.
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs.keys())
            if not any(k.startswith("val_") for k in self.keys):
                # tf.keras 2.x adds a val_ column for every key when the first epoch has none
                # (for validation_freq > 1, and also without validation: those cells stay NA).
                self.keys += ["val_" + k for k in self.keys]
            if self.append_header:
                self._write_row(["epoch"] + self.keys)
        self._write_row([epoch] + [_cell(logs.get(k, "NA")) for k in self.keys])

    def _write_row(self, cells):
        # Formatted first, then written in one call and flushed: a crash mid-epoch
        # cannot leave half a row after the finished ones.
        buf = io.StringIO()
        csv.writer(buf, dialect=self._dialect).writerow(cells)
        self.csv_file.write(buf.getvalue())
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
            self.csv_file = None
