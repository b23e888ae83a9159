"""RemoteMonitor posts each epoch's logs to a real HTTP server (a local one, in a thread), as a form
field or as JSON, with the user's headers; an unreachable or silent server costs a warning, not the fit."""
import http.server
import json
import socket
import threading
import urllib.parse

import numpy as np
import pytest

import gpunet
from gpunet.callbacks import RemoteMonitor
from gpunet.layers import Dense
from gpunet.models import Sequential


class _Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def server():
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    srv.received = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _fit(callback, epochs=2):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((24, 3)), (rng.random((24, 1)) > 0.5).astype("float32")
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy", gpunet.metrics.Precision(thresholds=[0.3, 0.6])])
    return model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=[callback]).history


def test_each_epoch_is_posted_as_a_form_field(server):
    root = f"http://127.0.0.1:{server.server_port}"
    history = _fit(RemoteMonitor(root=root, path="/epochs/", field="payload", headers={"X-Run": "seven"}))
    assert [r[0] for r in server.received] == ["/epochs/", "/epochs/"]
    for epoch, (_, headers, body) in enumerate(server.received):
        assert headers["Content-Type"] == "application/x-www-form-urlencoded" and headers["X-Run"] == "seven"
        sent = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
        assert sent["epoch"] == epoch
        assert sent["loss"] == history["loss"][epoch] and sent["accuracy"] == history["accuracy"][epoch]
        assert sent["precision"] == history["precision"][epoch].tolist()  # (an array: a list, where tf.keras fails)


def test_json_body_when_asked(server):
    history = _fit(RemoteMonitor(root=f"http://127.0.0.1:{server.server_port}", send_as_json=True), epochs=1)
    (path, headers, body), = server.received
    assert path == "/publish/epoch/end/" and headers["Content-Type"] == "application/json"
    sent = json.loads(body)
    assert sent["epoch"] == 0 and sent["loss"] == history["loss"][0]


def test_an_unreachable_or_silent_server_warns_and_training_goes_on():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.warns(RuntimeWarning, match=f"could not reach RemoteMonitor root server at http://127.0.0.1:{port}"):
        history = _fit(RemoteMonitor(root=f"http://127.0.0.1:{port}"), epochs=1)
    assert len(history["loss"]) == 1
    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.warns(RuntimeWarning, match="timed out"):
            _fit(RemoteMonitor(root=f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3), epochs=1)
