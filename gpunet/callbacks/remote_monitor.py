"""`RemoteMonitor`: each epoch's logs posted to an HTTP server (Keras's ``RemoteMonitor``).

tf.keras posts with the ``requests`` library (an ImportError without it) and no timeout, so an
unreachable server that accepts the connection holds training forever. gpunet posts with the
standard library's ``urllib`` (nothing to install) and gives up after ``timeout`` seconds, with a
warning, as tf.keras warns when the server cannot be reached.
"""
import json
import urllib.error
import urllib.parse
import urllib.request
import warnings

from .base import Callback


def _plain(value):
    """A log value as JSON takes it: NumPy scalars as numbers, arrays (one value per threshold or
    class) as lists (tf.keras's ``.item()`` fails on those)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


class RemoteMonitor(Callback):
    """POST ``{"epoch": epoch, **logs}`` to ``root + path`` at each epoch's end.

    Args:
        root: the server's root URL.
        path: the path under ``root``.
        field: the form field holding the JSON text (when ``send_as_json`` is False).
        headers: extra HTTP headers (a dict).
        send_as_json: send the JSON itself as the body (``application/json``) instead of a form.
        timeout: seconds to wait for the server before warning and training on (gpunet's; tf.keras
            waits forever).
    """

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data", headers=None,
                 send_as_json=False, timeout=10.0):
        super().__init__()
        self.root, self.path, self.field = root, path, field
        self.headers, self.send_as_json, self.timeout = headers, send_as_json, timeout

    def on_epoch_end(self, epoch, logs=None):
        send = {"epoch": epoch}
        send.update({k: _plain(v) for k, v in (logs or {}).items()})
        if self.send_as_json:
            body, kind = json.dumps(send).encode(), "application/json"
        else:
            body, kind = urllib.parse.urlencode({self.field: json.dumps(send)}).encode(), \
                "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.root + self.path, data=body, method="POST",
                                         headers={"Content-Type": kind, **(self.headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            warnings.warn(f"Warning: could not reach RemoteMonitor root server at {self.root} ({exc})",
                          RuntimeWarning, stacklevel=2)
