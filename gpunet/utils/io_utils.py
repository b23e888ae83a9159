"""Where gpunet's progress bar and callbacks write (``keras.utils`` interactive logging, as tf.keras 2 has it):
standard output by default; with `disable_interactive_logging`, the Python logger ``"gpunet"`` at INFO level
(tf.keras sends them to absl's logging: a server's training job logs instead of drawing bars)."""
import logging
import sys
import threading

_state = threading.local()
_logger = logging.getLogger("gpunet")


def enable_interactive_logging():
    """Write progress bars and callback messages to standard output (the default)."""
    _state.enable = True


def disable_interactive_logging():
    """Send progress bars and callback messages to the ``"gpunet"`` logger (INFO) instead of standard output."""
    _state.enable = False


def is_interactive_logging_enabled():
    """Whether messages go to standard output (True) or to the ``"gpunet"`` logger (False)."""
    return getattr(_state, "enable", True)


def print_msg(message, line_break=True):
    """``message`` to standard output (looked up at each call: a redirection or pytest's capture swaps it), or
    to the logger where interactive logging is off."""
    if is_interactive_logging_enabled():
        sys.stdout.write(message + "\n" if line_break else message)
        sys.stdout.flush()
    else:
        _logger.info(message)
