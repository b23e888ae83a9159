"""A real HTTP server on 127.0.0.1 and a private Keras cache, for the tests of
``gpunet.utils.get_file`` and ``gpunet.datasets`` (fixtures: import them into a test module)."""
import hashlib
import http.server
import io
import os
import tarfile
import threading

import pytest


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # A truncated path announces the full length, sends half and hangs up (HTTP/1.0 closes).
        self.wfile.write(body[:len(body) // 2] if self.path in self.server.truncated else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.truncated = {}, [], set()
    httpd.url = lambda path: f"http://127.0.0.1:{httpd.server_port}{path}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """KERAS_HOME (and HOME) inside tmp_path: the real ~/.keras is never touched."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "keras_home"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def tree(root):
    """Every path under root (directories, files, links), relative and sorted."""
    found = []
    for here, dirs, files in os.walk(root):
        found += [os.path.relpath(os.path.join(here, n), root) for n in dirs + files]
    return sorted(found)


def make_tar(entries):
    """A tar.gz of (name, kind, value): kind "file" (value: bytes), "dir", "sym"/"hard" (value: the
    link target) or "chr" (a character device)."""
    kinds = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
            else:
                info.type, info.linkname = kinds[kind], value or ""
                tar.addfile(info)
    return buf.getvalue()
