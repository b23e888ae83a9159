"""`TensorBoard`: training curves and weight histograms for TensorBoard (Keras's
``keras.callbacks.TensorBoard``), written with the ``tensorboard`` package alone (no TensorFlow)."""
import numbers
import os
import time
import warnings

from .base import Callback


def _tensorboard():
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.histogram.summary_v2 import histogram_pb
        from tensorboard.plugins.scalar.summary_v2 import scalar_pb
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.util import tensor_util
    except ImportError as exc:
        raise ImportError("gpunet's TensorBoard callback writes its logs with the tensorboard package, which is "
                          "not installed: pip install tensorboard (or pip install 'gpunet[tensorboard]').") from exc
    return dict(Event=event_pb2.Event, Summary=summary_pb2.Summary, SummaryMetadata=summary_pb2.SummaryMetadata,
                histogram_pb=histogram_pb, scalar_pb=scalar_pb, EventFileWriter=EventFileWriter,
                make_tensor_proto=tensor_util.make_tensor_proto)


class TensorBoard(Callback):
    """Write the logs TensorBoard shows (``tensorboard --logdir logs``), with tf.keras 2's tags.

    ``log_dir/train``: ``epoch_<name>`` for each training log at step = epoch (the loss, the
    metrics, ``epoch_learning_rate`` when the optimizer follows a schedule), with
    ``histogram_freq=N`` each weight's histogram (``dense/kernel_0/histogram``) every N epochs,
    with ``update_freq="batch"`` or N the running ``batch_<name>`` logs every N batches, and with
    ``write_graph`` (default) the model's config for the Graphs dashboard (``keras``).
    ``log_dir/validation``: ``epoch_<name>`` for the validation logs, and
    ``evaluation_<name>_vs_iterations`` at the optimizer's step after each evaluation.

    Not done (warned when asked for): ``write_images``, ``profile_batch`` (TensorFlow's
    profiler), ``embeddings_freq``.
    """

    _never_stops = True  # its batch hooks never set stop_training (distribute/sharding.agree_to_stop)

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None, **kwargs):
        super().__init__()
        self._tb = _tensorboard()
        for old in ("batch_size", "write_grads", "embeddings_layer_names", "embeddings_data"):
            if kwargs.pop(old, None) is not None:  # Keras 2.0-2.2 arguments, gone since (tf.keras warns too)
                warnings.warn(f"TensorBoard's {old} argument is no longer used; it is ignored.", stacklevel=2)
        if kwargs:
            raise TypeError(f"TensorBoard got unexpected keyword argument(s) {sorted(kwargs)}")
        if update_freq != "epoch" and update_freq != "batch" and (
                isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1):
            raise ValueError(f"TensorBoard's update_freq is 'epoch', 'batch' or a positive integer (batches), "
                             f"received {update_freq!r}")
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(f"TensorBoard's histogram_freq is a non-negative integer (epochs), received "
                             f"{histogram_freq!r}")
        for name, value, what in (("write_images", write_images, "weights as images"),
                                  ("profile_batch", profile_batch, "TensorFlow's profiler"),
                                  ("embeddings_freq", embeddings_freq, "the embedding projector")):
            if value:
                warnings.warn(f"TensorBoard({name}={value!r}) asks for {what}, which gpunet does not write; "
                              f"ignored.", stacklevel=2)
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq, self.write_graph = histogram_freq, bool(write_graph)
        self.write_images, self.write_steps_per_second = write_images, bool(write_steps_per_second)
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.profile_batch, self.embeddings_freq, self.embeddings_metadata = profile_batch, embeddings_freq, \
            embeddings_metadata
        self._writers = {}
        self._batches = 0
        self._batch_start = self._epoch_start = 0.0
        self._epoch_first_step = 0
        self._in_fit = False

    def _implements_train_batch_hooks(self):
        return self.update_freq != "epoch" or self.write_steps_per_second

    # ---- writing ----------------------------------------------------------------------------
    def _writer(self, run):
        writer = self._writers.get(run)
        if writer is None:
            writer = self._writers[run] = self._tb["EventFileWriter"](os.path.join(self.log_dir, run),
                                                                    filename_suffix=".v2")
        return writer

    def _write(self, run, summary, step):
        self._writer(run).add_event(self._tb["Event"](wall_time=time.time(), step=int(step), summary=summary))

    def _scalars(self, run, prefix, logs, step, suffix=""):
        for name, value in logs.items():
            if getattr(value, "ndim", None) == 0:  # (a 0-d array: its number)
                value = value.item()
            if isinstance(value, numbers.Real) and not isinstance(value, bool):  # (a metric's array: not a scalar)
                self._write(run, self._tb["scalar_pb"](f"{prefix}{name}{suffix}", float(value)), step)

    def _close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # ---- hooks ------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._batches, self._in_fit = 0, True
        if self.write_graph:
            self._write_model_config()

    def _write_model_config(self):
        try:
            config = self.model.to_json()
        except (TypeError, ValueError) as exc:  # (a model whose config cannot be written: no graph)
            warnings.warn(f"TensorBoard: the model's config cannot be written, so no graph: {exc}", stacklevel=3)
            return
        meta = self._tb["SummaryMetadata"](plugin_data=self._tb["SummaryMetadata"].PluginData(
            plugin_name="graph_keras_model", content=b"1"))
        value = self._tb["Summary"].Value(tag="keras", metadata=meta,
                                          tensor=self._tb["make_tensor_proto"](config.encode("utf-8")))
        self._write("train", self._tb["Summary"](value=[value]), 0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()
        self._epoch_first_step = self._iterations()

    def on_train_batch_begin(self, batch, logs=None):
        self._batches += 1
        self._batch_start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if self.write_steps_per_second:
            seconds = max(time.time() - self._batch_start, 1e-9)
            self._write("train", self._tb["scalar_pb"]("batch_steps_per_second", 1.0 / seconds), self._batches)
        if self.update_freq != "epoch" and self._batches % self.update_freq == 0:
            self._scalars("train", "batch_", dict(logs or {}), self._batches)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        schedule = getattr(getattr(self.model, "optimizer", None), "_lr_schedule", None)
        if schedule is not None:  # (tf.keras logs the rate only when a schedule moves it)
            train["learning_rate"] = schedule(self._iterations())
        if self.write_steps_per_second:
            train["steps_per_second"] = (self._iterations() - self._epoch_first_step) / \
                max(time.time() - self._epoch_start, 1e-9)
        self._scalars("train", "epoch_", train, epoch)
        self._scalars("validation", "epoch_", {k[4:]: v for k, v in logs.items() if k.startswith("val_")}, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._histograms(epoch)
        for writer in self._writers.values():
            writer.flush()

    def _histograms(self, epoch):
        ops = self.model.ops
        for layer in self.model.layers:
            for weight in layer.weights:
                values = ops.to_host(weight.value).astype("float64")
                self._write("train", self._tb["histogram_pb"](f"{weight.path}_0/histogram", values), epoch)

    def on_test_end(self, logs=None):
        self._scalars("validation", "evaluation_", dict(logs or {}), self._iterations(), suffix="_vs_iterations")
        if not self._in_fit:  # evaluate() alone: nothing more comes
            self._close()

    def on_train_end(self, logs=None):
        self._in_fit = False
        self._close()

    def _iterations(self):
        optimizer = getattr(self.model, "optimizer", None)
        return int(getattr(optimizer, "iterations", 0) or 0)

