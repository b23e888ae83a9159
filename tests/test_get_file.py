"""``gpunet.utils.get_file`` against a real HTTP server on 127.0.0.1: downloads, the cache and its
hashes, failures that leave nothing behind, and archives extracted safely (tf.keras 2's
semantics; see the README for where gpunet does better)."""
import hashlib
import io
import os
import re
import socket
import zipfile

import pytest

from file_server import keras_home, make_tar, server, sha256, tree  # noqa: F401 (fixtures)
from gpunet.utils import data_utils, get_file

PAYLOAD = bytes(range(256)) * 1000  # 256 kB: several read chunks, so truncation lands mid-body


@pytest.mark.parametrize("hashes", [
    {"file_hash": sha256(PAYLOAD)},
    {"file_hash": hashlib.md5(PAYLOAD).hexdigest()},
    {"md5_hash": hashlib.md5(PAYLOAD).hexdigest()},
    {"file_hash": sha256(PAYLOAD).upper(), "hash_algorithm": "sha256"},
], ids=["sha256-auto", "md5-auto", "md5_hash", "sha256-explicit"])
def test_download_then_cache_hit(server, keras_home, hashes, capsys):
    server.files["/d/data.bin"] = PAYLOAD
    path = get_file("data.bin", origin=server.url("/d/data.bin"), **hashes)
    assert path == str(keras_home / "datasets" / "data.bin")
    assert open(path, "rb").read() == PAYLOAD
    out = capsys.readouterr().out
    assert f"Downloading data from {server.url('/d/data.bin')}" in out
    assert f"{len(PAYLOAD)}/{len(PAYLOAD)} [====" in out  # gpunet's Progbar, in bytes
    assert get_file("data.bin", origin=server.url("/d/data.bin"), **hashes) == path
    assert server.requests == ["/d/data.bin"]
    assert tree(keras_home) == ["datasets", "datasets/data.bin"]


def test_cached_file_whose_hash_mismatches_is_downloaded_again(server, keras_home, capsys):
    server.files["/data.bin"] = PAYLOAD
    (keras_home / "datasets").mkdir(parents=True)
    (keras_home / "datasets" / "data.bin").write_bytes(b"stale")
    path = get_file("data.bin", origin=server.url("/data.bin"), file_hash=sha256(PAYLOAD))
    assert open(path, "rb").read() == PAYLOAD and server.requests == ["/data.bin"]
    assert "does not match the original value of " + sha256(PAYLOAD) in capsys.readouterr().out


def test_cached_file_without_hash_is_used_as_is(server, keras_home):
    (keras_home / "datasets").mkdir(parents=True)
    (keras_home / "datasets" / "data.bin").write_bytes(b"mine")
    path = get_file("data.bin", origin=server.url("/data.bin"))
    assert open(path, "rb").read() == b"mine" and server.requests == []


def test_file_names_and_cache_locations(server, keras_home, tmp_path, monkeypatch):
    server.files["/x/y.bin"] = PAYLOAD
    url = server.url("/x/y.bin")
    assert get_file("sub/dir/y.bin", origin=url) == str(keras_home / "datasets" / "sub" / "dir" / "y.bin")
    assert get_file(origin=url) == str(keras_home / "datasets" / "y.bin")
    assert get_file("z.bin", origin=url, cache_dir=tmp_path / "else", cache_subdir="models") == \
        str(tmp_path / "else" / "models" / "z.bin")
    # Without KERAS_HOME: ~/.keras, created if missing (tf.keras would fall back to /tmp/.keras).
    monkeypatch.delenv("KERAS_HOME")
    assert get_file("w.bin", origin=url) == str(tmp_path / "home" / ".keras" / "datasets" / "w.bin")
    assert open(tmp_path / "home" / ".keras" / "datasets" / "w.bin", "rb").read() == PAYLOAD


def test_unwritable_cache_dir_falls_back_to_tmp_keras(tmp_path, monkeypatch):
    monkeypatch.setattr(data_utils.os, "access", lambda path, mode: False)
    assert data_utils._cache_base(str(tmp_path / "ro")) == "/tmp/.keras"


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='specify the "origin"'):
        get_file("x.bin")
    with pytest.raises(ValueError, match="hash_algorithm must be one of .* received 'sha1'"):
        get_file("x.bin", origin="http://127.0.0.1/x.bin", hash_algorithm="sha1")


def _refused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("failure", ["404", "refused"])
def test_failed_download_names_url_and_local_path_and_leaves_nothing(server, keras_home, failure):
    url = server.url("/missing.npz") if failure == "404" else f"http://127.0.0.1:{_refused_port()}/missing.npz"
    with pytest.raises(Exception, match="^URL fetch failure on " + re.escape(url)) as info:
        get_file("missing.npz", origin=url)
    assert str(keras_home / "datasets" / "missing.npz") in str(info.value)
    assert (": 404 -- Not Found" in str(info.value)) == (failure == "404")
    assert tree(keras_home) == ["datasets"]


def test_hash_mismatch_after_download_saves_nothing_and_keeps_the_old_file(server, keras_home):
    server.files["/data.bin"] = PAYLOAD
    wanted = sha256(b"the real data")
    with pytest.raises(ValueError, match=f"Expected {wanted}, received {sha256(PAYLOAD)}"):
        get_file("data.bin", origin=server.url("/data.bin"), file_hash=wanted)
    assert tree(keras_home) == ["datasets"]
    (keras_home / "datasets" / "data.bin").write_bytes(b"older good copy")
    with pytest.raises(ValueError, match="the cached file there was kept"):
        get_file("data.bin", origin=server.url("/data.bin"), file_hash=wanted)
    assert (keras_home / "datasets" / "data.bin").read_bytes() == b"older good copy"
    assert tree(keras_home) == ["datasets", "datasets/data.bin"]


def test_interrupted_download_leaves_no_partial_file(server, keras_home):
    server.files["/data.bin"] = PAYLOAD
    server.truncated.add("/data.bin")
    url = server.url("/data.bin")
    interrupted = "^URL fetch failure on " + re.escape(url) + ".*interrupted after"
    with pytest.raises(Exception, match=interrupted):
        get_file("data.bin", origin=url, file_hash=sha256(PAYLOAD))
    assert tree(keras_home) == ["datasets"]
    (keras_home / "datasets" / "data.bin").write_bytes(b"older copy")  # its hash is not PAYLOAD's
    with pytest.raises(Exception, match=interrupted):
        get_file("data.bin", origin=url, file_hash=sha256(PAYLOAD))
    assert (keras_home / "datasets" / "data.bin").read_bytes() == b"older copy"
    assert tree(keras_home) == ["datasets", "datasets/data.bin"]


def make_zip(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def test_extract_tar_gz_and_zip(server, keras_home):
    server.files["/pkg.tar.gz"] = make_tar([("pkg", "dir", None), ("pkg/a.txt", "file", b"A"),
                                            ("pkg/sub/b.txt", "file", b"B"), ("pkg/link", "sym", "sub/b.txt")])
    server.files["/z.zip"] = make_zip([("zipped/c.txt", b"C")])
    data = keras_home / "datasets"
    # extract=True returns the archive's path, as tf.keras does; untar=True the directory's.
    assert get_file("pkg.tar.gz", origin=server.url("/pkg.tar.gz"), extract=True) == str(data / "pkg.tar.gz")
    assert (data / "pkg" / "a.txt").read_bytes() == b"A" and (data / "pkg" / "link").read_bytes() == b"B"
    assert get_file("z.zip", origin=server.url("/z.zip"), extract=True) == str(data / "z.zip")
    assert (data / "zipped" / "c.txt").read_bytes() == b"C"
    (data / "pkg" / "a.txt").write_bytes(b"edited")
    assert get_file("pkg", origin=server.url("/pkg.tar.gz"), untar=True) == str(data / "pkg")
    assert (data / "pkg" / "a.txt").read_bytes() == b"edited"  # present: not extracted again
    # extract=True extracts on every call, over what is there (a file of the user's stays).
    (data / "pkg" / "mine.txt").write_bytes(b"M")
    get_file("pkg.tar.gz", origin=server.url("/pkg.tar.gz"), extract=True)
    assert [(data / "pkg" / n).read_bytes() for n in ("a.txt", "mine.txt", "link")] == [b"A", b"M", b"B"]
    assert server.requests == ["/pkg.tar.gz", "/z.zip"]
    assert not any(name.startswith(".") for name in os.listdir(data))  # no staging left behind


MALICIOUS = {
    "dotdot": ("tar", [("../escape.txt", "file", b"x")], "../escape.txt"),
    "absolute": ("tar", [("{outside}/abs.txt", "file", b"x")], "{outside}/abs.txt"),
    "symlink-out": ("tar", [("link", "sym", "../../outside"), ("link/x.txt", "file", b"x")], "link"),
    "symlink-absolute": ("tar", [("link", "sym", "{outside}")], "link"),
    "symlink-chain": ("tar", [("a/b/l", "sym", "../../d"), ("a/b/m", "sym", "l/../../x")], "a/b/m"),
    "through-symlink": ("tar", [("l", "sym", "."), ("l/x.txt", "file", b"x")], "l/x.txt"),
    "hardlink-out": ("tar", [("h", "hard", "../../outside/secret")], "h"),
    "device": ("tar", [("dev", "chr", None)], "dev"),
    "zip-dotdot": ("zip", [("../escape.txt", b"x")], "../escape.txt"),
    "zip-absolute": ("zip", [("{outside}/abs.txt", b"x")], "{outside}/abs.txt"),
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_archive_is_refused_and_writes_nothing(server, keras_home, tmp_path, case):
    fmt, entries, bad = MALICIOUS[case]
    outside = str(tmp_path / "outside")
    entries = [tuple(v.format(outside=outside) if isinstance(v, str) else v for v in e) for e in entries]
    server.files["/evil"] = (make_tar if fmt == "tar" else make_zip)(entries)
    with pytest.raises(ValueError, match="Refusing to extract archive member " + re.escape(repr(bad.format(
            outside=outside)))):
        get_file("evil", origin=server.url("/evil"), extract=True)
    assert tree(tmp_path) == ["keras_home", "keras_home/datasets", "keras_home/datasets/evil"]
