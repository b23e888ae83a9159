"""The training API of a functional model with several inputs or outputs.

Keras takes such a model's ``x`` as a list of arrays (one per input, in ``model.inputs`` order) or a
dict keyed by input layer name, and ``y`` likewise per output; ``predict`` returns a list of
arrays, one per output. gpunet packs the parts side by side into one array on the way in
(backend/io_packing.py) and hands that to the ordinary loops, so batching, shuffling, validation,
streaming, callbacks and data-parallel training are the single-input ones; the model splits each
batch into its inputs, packs its outputs (models/functional.py) and `MultiOutputLoss` splits the
targets (models/multi_output.py). ``sample_weight`` for several outputs is one array (every
output) or, as in tf.keras 2, a list or dict of one array per output: those are packed as one
column per output (`io_packing.pack_weights`), which the loss and per-output metrics split again.
"""
import inspect

from ..backend import io_packing
from .multi_output import compile_outputs, one_output
from .batch_sources import is_batch_source
from .own_steps import refuse_own_steps
from .training import TrainingMixin


def _arguments(method, args, kwargs):
    bound = inspect.signature(method).bind(None, *args, **kwargs)
    arguments = dict(bound.arguments)
    arguments.pop(next(iter(inspect.signature(method).parameters)))  # self
    extra = arguments.pop("kwargs", {})
    arguments.update(extra)
    return arguments


class MultiIOMixin:
    """Overrides of compile/fit/evaluate/predict/... that pack several inputs or targets (see module doc)."""

    @property
    def _multi_in(self):
        return len(self._inputs) > 1

    @property
    def _multi_out(self):
        return len(self._outputs) > 1

    @property
    def _several_io(self):
        """Whether fit's data need packing (or, for a subclassed model not built yet, may)."""
        return self._multi_in or self._multi_out

    # ---- compile --------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                **kwargs):
        loss, metrics, loss_weights, weighted_metrics = (self._by_output_name(v) for v in (loss, metrics, loss_weights,
                                                                                           weighted_metrics))
        if not self._multi_out:
            loss, metrics, weighted_metrics = one_output(self.output_names, loss, metrics, weighted_metrics)
            return super().compile(optimizer, loss, metrics, loss_weights, weighted_metrics, **kwargs)
        if getattr(self, "_open_outputs", False):
            raise NotImplementedError(f"Model '{self.name}' has several outputs of unknown lengths "
                                      f"({[t.shape for t in self._outputs]}): gpunet predicts with such a model but "
                                      "does not train it (give the outputs' lengths, or train a model of one output).")
        from .. import optimizers as _optimizers
        self.run_eagerly = bool(kwargs.get("run_eagerly"))
        loss_fn, objects, flags = compile_outputs(self.output_names, self._out_layout, loss, loss_weights, metrics,
                                                  weighted_metrics)
        self._set_compiled(_optimizers.get(optimizer), loss, loss_fn, objects, flags, metrics, weighted_metrics,
                           loss_weights)

    @property
    def output_names(self):
        """The output layers' names; a layer giving several outputs (an RNN's states, attention scores) names
        the later ones ``<name>_1``, ``<name>_2``, as tf.keras 2 does."""
        names, counts = [], {}
        for t in self._outputs:
            base = proposal = t.node.layer.name
            while proposal in names:
                counts[base] = counts.get(base, 1)
                proposal = f"{base}_{counts[base]}"
                counts[base] += 1
            names.append(proposal)
        return names

    @property
    def input_names(self):
        return [t.node.layer.name for t in self._inputs]

    def _by_output_name(self, value):
        """A dict keyed by the keys of the dict of outputs the model was made from, keyed by its output layers'
        names instead (what compile and the targets' packing match); anything else as it is."""
        keys = getattr(self, "_output_keys", None)
        if not keys or not isinstance(value, dict):
            return value
        names = dict(zip(sorted(keys), self.output_names))
        return {names.get(k, k): v for k, v in value.items()}

    @property
    def _input_data_keys(self):
        """The keys of ``x`` given as a dict: the model's own dict keys where it was made from a dict of inputs
        (sorted: its inputs' order), else its input layers' names (tf.keras 2's rule)."""
        keys = getattr(self, "_input_keys", None)
        return sorted(keys) if keys else self.input_names

    # ---- packing ----------------------------------------------------------------------
    def _pack_x(self, x):
        if not self._multi_in:
            return _single(x, self._input_data_keys, "x input")
        if x is None:
            return x
        names = self._input_data_keys
        parts = io_packing.parts_in_order(x, names, "x input")
        specs = [(name, t.shape[1:], None) for name, t in zip(names, self._inputs)]
        packed, layout = io_packing.pack(self.ops, parts, specs, "x input", self._input_dtype())
        if getattr(self, "_open_inputs", False):  # (inputs of unknown lengths: these arrays settle them)
            self._in_layout = layout
        return packed

    def _pack_y(self, y):
        y = self._by_output_name(y)
        if not self._multi_out:
            return _single(y, self.output_names, "y output")
        if y is None:
            return y
        names, loss = self.output_names, self._loss_fn
        parts = io_packing.parts_in_order(y, names, "y output")
        specs = [(name, t.shape[1:], (t.shape[-1], fn) if getattr(fn, "sparse_labels", False) else None)
                 for name, t, fn in zip(names, self._outputs, loss.losses)]
        packed, layout = io_packing.pack(self.ops, parts, specs, "y output", self._input_dtype())
        if loss.target_layout is not None and layout != loss.target_layout:
            raise ValueError(f"The targets' shapes {[shape for _, _, shape in layout]} differ from those this model "
                             f"was trained with ({[shape for _, _, shape in loss.target_layout]}).")
        loss.target_layout = layout
        return packed

    def _check_weights(self, class_weight):
        if self._multi_out and class_weight:
            raise ValueError("class_weight is only supported for models with a single output (as in tf.keras).")

    def _pack_weights(self, sample_weight, y, what="sample_weight"):
        """``sample_weight`` as the loops take it (``y``: the packed targets, which give the rows):
        one array for every output, or one column per output (`io_packing.pack_weights`)."""
        sample_weight = self._by_output_name(sample_weight)
        if not self._multi_out or sample_weight is None or y is None:
            return _single(sample_weight, self.output_names, what) if isinstance(sample_weight, dict) else sample_weight
        return io_packing.pack_weights(self.ops, sample_weight, self.output_names, y.shape[0], what)

    def _pack_batch(self, batch, role=""):
        if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
            x, y = self._pack_x(batch[0]), self._pack_y(batch[1])
            if len(batch) == 2:
                return x, y
            return x, y, self._pack_weights(batch[2], y, f"{role}sample_weight")
        return batch

    def _packed_source(self, source, with_targets=True):
        pack = self._pack_batch if with_targets else (
            lambda b: self._pack_x(b[0] if isinstance(b, tuple) and len(b) in (1, 2, 3) else b))
        from .batch_sources import is_iterator
        from .foreign_datasets import is_dataset, packed_dataset
        if is_dataset(source):
            return packed_dataset(source, pack)
        if is_iterator(source):
            return (pack(b) for b in source)
        return _PackedSequence(source, pack)

    def _pack_call(self, method, args, kwargs, targets=True):
        a = _arguments(method, args, kwargs)
        if not self._several_io:
            if not is_batch_source(a.get("x")):  # one input and output: Keras takes them in a dict or a list of one too
                a["x"] = self._pack_x(a.get("x"))
                if targets:
                    a["y"] = self._pack_y(a.get("y"))
            return a
        self._check_weights(a.get("class_weight"))
        if is_batch_source(a.get("x")):
            a["x"] = self._packed_source(a["x"], targets)
        else:
            a["x"] = self._pack_x(a.get("x"))
            if targets:
                a["y"] = self._pack_y(a.get("y"))
                if a.get("sample_weight") is not None:
                    a["sample_weight"] = self._pack_weights(a["sample_weight"], a["y"])
        val = a.get("validation_data")
        if val is not None and not is_batch_source(val) and isinstance(val, (tuple, list)) and len(val) in (2, 3):
            a["validation_data"] = self._pack_batch(val, "validation_data ")
        elif is_batch_source(val):
            a["validation_data"] = self._packed_source(val)
        return a

    # ---- the loops (a model running steps of yours takes the data as it came: models/step_loops.py) ----------
    def fit(self, *args, **kwargs):
        if refuse_own_steps(self, "fit"):
            return TrainingMixin.fit(self, *args, **kwargs)
        return TrainingMixin.fit(self, **self._pack_call(TrainingMixin.fit, args, kwargs))

    def evaluate(self, *args, **kwargs):
        if refuse_own_steps(self, "evaluate"):
            return TrainingMixin.evaluate(self, *args, **kwargs)
        return TrainingMixin.evaluate(self, **self._pack_call(TrainingMixin.evaluate, args, kwargs))

    def train_on_batch(self, *args, **kwargs):
        if refuse_own_steps(self, "train_on_batch"):
            return TrainingMixin.train_on_batch(self, *args, **kwargs)
        return TrainingMixin.train_on_batch(self, **self._pack_call(TrainingMixin.train_on_batch, args, kwargs))

    def test_on_batch(self, *args, **kwargs):
        if refuse_own_steps(self, "test_on_batch"):
            return TrainingMixin.test_on_batch(self, *args, **kwargs)
        return TrainingMixin.test_on_batch(self, **self._pack_call(TrainingMixin.test_on_batch, args, kwargs))

    def predict(self, *args, **kwargs):
        from .predict_loop import PredictMixin
        if refuse_own_steps(self, "predict"):
            return PredictMixin.predict(self, *args, **kwargs)
        a = self._pack_call(PredictMixin.predict, args, kwargs, targets=False)
        return self._split_outputs(PredictMixin.predict(self, **a))

    def predict_on_batch(self, x):
        from .predict_loop import PredictMixin
        if refuse_own_steps(self, "predict_on_batch"):
            return PredictMixin.predict_on_batch(self, x)
        return self._split_outputs(PredictMixin.predict_on_batch(self, self._pack_x(x)))

    def __call__(self, x, training=None):
        from ..layers import symbolic
        from ..autodiff.tensor import is_tensor
        from ..autodiff import gradient_tape
        if gradient_tape.recording() and not symbolic.is_symbolic(x):  # (arrays in a tape, and its tensors)
            return gradient_tape.record_call(self, x, training, self.__call__)
        if isinstance(x, dict):  # (keyed as the model's inputs: in their order)
            x = io_packing.parts_in_order(x, self._input_data_keys, "x input")
            x = x if self._multi_in else x[0]
        if symbolic.is_symbolic(x):
            out = TrainingMixin.__call__(self, x, training)
            keys = getattr(self, "_output_keys", None)  # (a model made from a dict of outputs gives one)
            if not keys:
                return out
            from .functional import structured
            return structured(out if isinstance(out, list) else [out], keys)
        if is_tensor(x) and not self._in_layout:
            return self._split_outputs(TrainingMixin.__call__(self, x, training))  # (a tape tensor: on the tape)
        if self._multi_in and x is not None and not is_tensor(x):
            parts = io_packing.parts_in_order(x, self._input_data_keys, "x input")
            if any(is_tensor(p) for p in parts):  # (tape tensors: each input its own gradient)
                from ..layers import sublayers
                return self._split_outputs(sublayers.call_on_tape(self, list(parts), training))
        out = self._split_outputs(TrainingMixin.__call__(self, self._pack_x(x), training))
        if isinstance(out, dict):  # (each output with tf.keras 2's .numpy(), as one output has)
            return {k: self.ops.eager(v) for k, v in out.items()}
        return [self.ops.eager(v) for v in out] if isinstance(out, list) else out

    def _split_outputs(self, out):
        """predict's packed outputs as Keras returns them: a list, one array per output (tensors, on a tape)."""
        from ..autodiff.tensor import is_tensor
        if self._multi_out and is_tensor(out):
            from ..autodiff.shape_ops import reshape
            return [reshape(out[:, offset:offset + width], (-1,) + tuple(shape))
                    for offset, width, shape in self._out_layout]
        return io_packing.unpacked(out, self._out_layout) if self._multi_out else out


def _single(data, names, what):
    """A model's one input (or target) given as Keras also takes it: in a dict keyed by the layer's
    name, or as a list holding one array; anything else as it is."""
    if isinstance(data, dict):
        return io_packing.parts_in_order(data, names, what)[0]
    if isinstance(data, (list, tuple)) and len(data) == 1 and hasattr(data[0], "shape"):
        return data[0]
    return data


class _PackedSequence:
    """A `Sequence` whose batches are packed for the model (len, getitem and on_epoch_end passed on)."""

    def __init__(self, sequence, pack):
        self._sequence, self._pack = sequence, pack

    def __len__(self):
        return len(self._sequence)

    def __getitem__(self, index):
        return self._pack(self._sequence[index])

    def on_epoch_end(self):
        if hasattr(self._sequence, "on_epoch_end"):
            self._sequence.on_epoch_end()
