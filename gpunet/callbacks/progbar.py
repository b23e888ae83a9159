"""`Progbar` (``gpunet.utils.Progbar``): the Keras 2 progress bar (the callback drawing it during
fit, evaluate and predict is progbar_logger.ProgbarLogger).

The text follows tf.keras 2.x byte for byte (bar width 30, ``ETA: 0s``, ``ms/step``,
``%.4f``/``%.4e`` values). One deliberate difference: on a stream that is not a terminal
(a log file, CI, pytest's capture) only each bar's final line is written, where tf.keras
on Linux writes every ``\\b``/``\\r`` redraw into the log.
"""
import operator
import os
import sys
import time

# Monotonic, so that a clock change never shows a negative ETA; tests replace it.
_clock = time.monotonic


class _AllNames:
    """Stands for "every metric is stateful": gpunet's logs are already running averages."""

    def __contains__(self, name):
        return True


def _is_dynamic():
    from ..utils.io_utils import is_interactive_logging_enabled
    out = sys.stdout
    return bool(is_interactive_logging_enabled() and ((hasattr(out, "isatty") and out.isatty())
                                                      or "ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ))


def _write(message):
    from ..utils.io_utils import print_msg  # (standard output, or the "gpunet" logger: utils/io_utils.py)
    print_msg(message, line_break=False)


def _format_value(value, use_abs):
    # tf.keras quirk kept on purpose: verbose=1 compares abs(value) with 1e-3, verbose=2 the
    # signed value (so verbose=2 shows negatives as %.4e). A metric with one value per threshold
    # shows their mean, as tf.keras's bar does.
    value = float(value) if getattr(value, "size", 1) == 1 else float(sum(value.flat) / value.size)
    return f" {value:.4f}" if (abs(value) if use_abs else value) > 1e-3 else f" {value:.4e}"


def _format_time(seconds, unit_name):
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit_name}"
    return f" {seconds * 1e6:.0f}us/{unit_name}"


def _format_eta(eta):
    if eta > 3600:
        return "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
    if eta > 60:
        return "%d:%02d" % (eta // 60, eta % 60)
    return "%ds" % eta


class Progbar:
    """Displays a progress bar (Keras's ``keras.utils.Progbar``).

    Args:
        target: total number of steps expected, None if unknown.
        width: bar width in characters.
        verbose: 0 (silent), 1 (bar), 2 (one line when finished).
        interval: minimum seconds between two redraws.
        stateful_metrics: names whose values are shown as given; others are
            averaged over the steps seen.
        unit_name: what a step is called in ``ms/step``.
    """

    def __init__(self, target, width=30, verbose=1, interval=0.05, stateful_metrics=None, unit_name="step"):
        if target is not None:
            try:
                steps = operator.index(target)
            except TypeError:
                steps = -1
            if steps < 0:
                raise ValueError(f"Progbar target must be a non-negative int or None, received {target!r}")
            target = steps
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = stateful_metrics if isinstance(stateful_metrics, _AllNames) \
            else set(stateful_metrics or ())
        self._dynamic_display = _is_dynamic()
        self._total_width = 0
        self._seen_so_far = 0
        self._values = {}
        self._values_order = []
        self._start = _clock()
        self._last_update = None
        self._time_at_epoch_start = self._start
        self._time_at_epoch_end = None
        self._time_after_first_step = None

    def update(self, current, values=None, finalize=None):
        """Move the bar to step ``current``; ``values``: ``[(name, value), ...]``, or a function
        returning that list, called only if this update draws the bar (gpunet's training loop
        then computes a batch's logs only for the redraws).

        ``finalize`` (default: ``current >= target``) writes the closing line.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        # max(..., 1): a finalizing call repeats the last step and must still count.
        base = max(current - self._seen_so_far, 1)
        if not callable(values):
            self._store(values, base)
        self._seen_so_far = current
        now = _clock()
        if current == self.target:
            self._time_at_epoch_end = now
        # Redraws are throttled (a log file gets only the final line), and nothing is
        # formatted (nor, given as a function, computed) for an update that is not shown.
        throttled = self._last_update is not None and now - self._last_update < self.interval
        if self.verbose == 1 and not finalize and (not self._dynamic_display or throttled):
            return
        shown = self.verbose == 1 or (self.verbose == 2 and finalize)
        if shown and callable(values):
            self._store(values(), base)
        if self.verbose == 1:
            _write(self._bar_message(current, now, finalize))
        elif shown:
            _write(self._summary_message(current, now))
        self._last_update = now

    def _store(self, values, base):
        for k, v in values or ():
            if k not in self._values:
                self._values_order.append(k)
            if k in self.stateful_metrics:
                self._values[k] = [v, 1]
            elif k in self._values:
                self._values[k][0] += v * base
                self._values[k][1] += base
            else:
                self._values[k] = [v * base, base]

    def add(self, n, values=None):
        """Advance the bar by ``n`` steps."""
        self.update(self._seen_so_far + n, values)

    def _average(self, k):
        total, count = self._values[k]
        return total / max(1, count)

    def _bar_message(self, current, now, finalize):
        prev_total_width = self._total_width
        message = "\b" * prev_total_width + "\r" if self._dynamic_display else ""
        if self.target is not None:
            digits = len(str(self.target))
            bar = ("%" + str(digits) + "d/%d [") % (current, self.target)
            prog = current / self.target if self.target else 1.0
            prog_width = int(self.width * prog)
            if prog_width > 0:
                bar += "=" * (prog_width - 1) + (">" if current < self.target else "=")
            bar += "." * (self.width - prog_width) + "]"
        else:
            bar = "%7d/Unknown" % current
        self._total_width = len(bar)
        time_per_unit = self._step_duration(current, now)
        if self.target is None or finalize:
            info = f" - {now - self._start:.0f}s" + _format_time(time_per_unit, self.unit_name)
        else:
            info = " - ETA: " + _format_eta(time_per_unit * (self.target - current))
        for k in self._values_order:
            info += f" - {k}:" + _format_value(self._average(k), use_abs=True)
        self._total_width += len(info)
        if prev_total_width > self._total_width:
            # Blank out the tail of a longer previous line.
            info += " " * (prev_total_width - self._total_width)
        return message + bar + info + ("\n" if finalize else "")

    def _summary_message(self, current, now):
        target = self.target if self.target is not None else current
        info = ("%" + str(len(str(target))) + "d/%d") % (current, target) + f" - {now - self._start:.0f}s"
        for k in self._values_order:
            info += f" - {k}:" + _format_value(self._average(k), use_abs=False)
        if self._time_at_epoch_end is not None:
            per_epoch = self._time_at_epoch_end - self._time_at_epoch_start
            self._time_at_epoch_start, self._time_at_epoch_end = now, None
            info += " -" + _format_time(per_epoch, "epoch")
            info += " -" + _format_time(per_epoch / max(target, 1), self.unit_name)
            info += "\n"
        return info

    def _step_duration(self, current, now):
        # The first step (graph building, allocation, cache warm-up) is left out of the
        # estimate once later steps exist, as in Keras.
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per_unit
