"""`LoadReport`: what ``load_weights`` did (saving/weight_matching.py decides it)."""


class LoadReport:
    """What ``load_weights`` did.

    Attributes:
        loaded: parameter paths (``"dense/kernel"``) that received values.
        missing_in_file: model weights the file has no value for (``by_name=True``).
        unexpected_in_file: weights in the file that no model weight took (``by_name=True``).
        shape_mismatch: ``(path, model_shape, file_shape)`` for weights skipped with
            ``skip_mismatch=True`` (``file_shape`` is None when the weight counts differ).
        reshaped: paths loaded through ``reshape=True``.
        source: the file.
    """

    def __init__(self):
        self.loaded, self.missing_in_file, self.unexpected_in_file = [], [], []
        self.shape_mismatch, self.reshaped = [], []
        self.source = None

    @property
    def complete(self):
        """True when every model weight was loaded and nothing in the file was left over."""
        return not (self.missing_in_file or self.unexpected_in_file or self.shape_mismatch)

    def summary(self):
        """One line: counts, with the names of what was not loaded."""
        def names(items, n=5):
            items = [i[0] if isinstance(i, tuple) else i for i in items]
            more = f", +{len(items) - n} more" if len(items) > n else ""
            return f" ({', '.join(items[:n])}{more})" if items else ""
        return (f"Loaded {len(self.loaded)} weights from {self.source}; "
                f"{len(self.missing_in_file)} missing in file{names(self.missing_in_file)}, "
                f"{len(self.unexpected_in_file)} unexpected in file{names(self.unexpected_in_file)}, "
                f"{len(self.shape_mismatch)} shape mismatches{names(self.shape_mismatch)}"
                + (f", {len(self.reshaped)} reshaped" if self.reshaped else ""))

    def log(self, logger):
        logger.log(20 if self.complete else 30, "%s", self.summary())

    def __repr__(self):
        return f"<LoadReport {self.summary()}>"
