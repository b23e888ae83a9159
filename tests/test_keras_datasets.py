"""``gpunet.datasets`` on small fake files in the real formats, compared with tf.keras 2's loaders
reading the same files (skipped, with the reason, where tf_keras is not installed: the
gpunet-only checks still run), and tampered files refused by the restricted unpickler."""
import gzip
import hashlib
import importlib
import io
import os
import pickle
import re
import shutil
import struct

import numpy as np
import pytest

import gpunet
from file_server import keras_home, make_tar, server, sha256  # noqa: F401 (fixtures)
from gpunet.datasets import boston_housing, cifar10, cifar100, fashion_mnist, imdb, mnist, reuters
from gpunet.datasets._safe_load import load_batch
from gpunet.utils import data_utils
from keras_support import tf_keras_or_skip


def tf_keras_dataset(name, monkeypatch, get_file):
    """tf.keras 2's dataset module ``name`` with its ``get_file`` replaced, or a skip saying why
    not (tests call this after their gpunet-only checks, so those run without tf_keras)."""
    tf_keras_or_skip()
    module = importlib.import_module(f"tf_keras.src.datasets.{name}")
    monkeypatch.setattr(module, "get_file", get_file)
    return module


def in_cache(keras_home, monkeypatch, module, fname, write):
    """Write a fake file where the loader caches it, and make the loader expect its hash."""
    path = keras_home / "datasets" / fname
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path)
    monkeypatch.setattr(module, "_FILE_HASH", data_utils._hash_file(path))
    return str(path)


def assert_same_data(ours, theirs):
    for a, b in zip([a for pair in ours for a in pair], [b for pair in theirs for b in pair], strict=True):
        assert type(a) is np.ndarray and type(b) is np.ndarray
        assert (a.dtype, a.shape) == (b.dtype, b.shape)
        if a.dtype == object:
            assert a.tolist() == b.tolist()
        else:  # np.array_equal: assert_array_equal's report takes seconds on full-size CIFAR
            assert np.array_equal(a, b), f"{np.count_nonzero(a != b)} of {a.size} values differ"


def ragged(seqs):
    out = np.empty(len(seqs), dtype=object)
    for i, seq in enumerate(seqs):
        out[i] = list(seq)
    return out


def random_seqs(rng, n, vocab=60, longest=25):
    return ragged([[int(w) for w in rng.integers(1, vocab, rng.integers(1, longest))] for _ in range(n)])


def test_mnist_downloads_and_matches_tf_keras(server, keras_home, monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), "y_train": rng.integers(0, 10, 12,
              dtype=np.uint8), "x_test": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, 5, dtype=np.uint8)}
    np.savez(tmp_path / "mnist.npz", **arrays)
    server.files["/mnist.npz"] = (tmp_path / "mnist.npz").read_bytes()
    monkeypatch.setattr(mnist, "_ORIGIN", server.url("/mnist.npz"))
    monkeypatch.setattr(mnist, "_FILE_HASH", sha256(server.files["/mnist.npz"]))
    ours = mnist.load_data()
    assert server.requests == ["/mnist.npz"] and os.path.exists(keras_home / "datasets" / "mnist.npz")
    assert_same_data(ours, ((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])))
    tfk = tf_keras_dataset("mnist", monkeypatch, lambda *a, **k: str(tmp_path / "mnist.npz"))
    assert_same_data(ours, tfk.load_data())


@pytest.mark.parametrize("kwargs", [{}, {"test_split": 0.35, "seed": 7}])
def test_boston_housing_matches_tf_keras(keras_home, monkeypatch, kwargs):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(23, 13)), rng.uniform(10, 50, 23)
    path = in_cache(keras_home, monkeypatch, boston_housing, "boston_housing.npz", lambda p: np.savez(p, x=x, y=y))
    ours = boston_housing.load_data(**kwargs)
    n_train = int(23 * (1 - kwargs.get("test_split", 0.2)))
    assert ours[0][0].shape == (n_train, 13) and ours[1][0].shape == (23 - n_train, 13)
    assert sorted(np.concatenate([ours[0][1], ours[1][1]])) == sorted(y)
    with pytest.raises(ValueError, match=r"test_split must lie in \[0, 1\), received 1.5"):
        boston_housing.load_data(test_split=1.5)
    tfk = tf_keras_dataset("boston_housing", monkeypatch, lambda *a, **k: path)
    assert_same_data(ours, tfk.load_data(**kwargs))


def write_idx_gz(path, array):
    header = (np.array([2049 if array.ndim == 1 else 2051, *array.shape], ">i4")).tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def test_fashion_mnist_matches_tf_keras(keras_home, monkeypatch):
    rng = np.random.default_rng(2)
    folder = keras_home / "datasets" / "fashion-mnist"
    folder.mkdir(parents=True)
    arrays = [rng.integers(0, 10, 9, dtype=np.uint8), rng.integers(0, 256, (9, 28, 28), dtype=np.uint8),
              rng.integers(0, 10, 4, dtype=np.uint8), rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)]
    for fname, array in zip(fashion_mnist._FILES, arrays):
        write_idx_gz(folder / fname, array)
    ours = fashion_mnist.load_data()
    assert_same_data(ours, ((arrays[1], arrays[0]), (arrays[3], arrays[2])))
    tfk = tf_keras_dataset("fashion_mnist", monkeypatch, lambda fname, **k: str(folder / fname))
    assert_same_data(ours, tfk.load_data())


SEQUENCE_KWARGS = [
    {},
    {"num_words": 30, "skip_top": 3},
    {"maxlen": 12, "seed": 7},
    {"start_char": None, "index_from": 2, "oov_char": None, "num_words": 25},
    {"start_char": 5, "oov_char": 7, "index_from": 4, "skip_top": 6},
    {"num_words": 40, "skip_top": 2, "maxlen": 18, "oov_char": None, "start_char": None, "index_from": 1},
]


@pytest.mark.parametrize("kwargs", SEQUENCE_KWARGS)
def test_imdb_matches_tf_keras(keras_home, monkeypatch, kwargs):
    tfk = tf_keras_dataset("imdb", monkeypatch, lambda *a, **k: str(keras_home / "datasets" / "imdb.npz"))
    rng = np.random.default_rng(3)
    arrays = {"x_train": random_seqs(rng, 15), "y_train": rng.integers(0, 2, 15),
              "x_test": random_seqs(rng, 11), "y_test": rng.integers(0, 2, 11)}
    in_cache(keras_home, monkeypatch, imdb, "imdb.npz", lambda p: np.savez(p, **arrays))
    assert_same_data(imdb.load_data(**kwargs), tfk.load_data(**kwargs))


@pytest.mark.parametrize("kwargs", SEQUENCE_KWARGS + [{"test_split": 0.3, "num_words": 20}])
def test_reuters_matches_tf_keras(keras_home, monkeypatch, kwargs):
    tfk = tf_keras_dataset("reuters", monkeypatch, lambda *a, **k: str(keras_home / "datasets" / "reuters.npz"))
    rng = np.random.default_rng(4)
    x, y = random_seqs(rng, 21), rng.integers(0, 46, 21)
    in_cache(keras_home, monkeypatch, reuters, "reuters.npz", lambda p: np.savez(p, x=x, y=y))
    assert_same_data(reuters.load_data(**kwargs), tfk.load_data(**kwargs))
    assert reuters.get_label_names() == tfk.get_label_names()


def test_imdb_values(keras_home, monkeypatch):
    # Sample i is the words 1..i+1 with label i % 2, so the length tells which sample survived.
    seqs = [list(range(1, i + 2)) for i in range(10)]
    arrays = {"x_train": ragged(seqs[:6]), "y_train": np.arange(6) % 2,
              "x_test": ragged(seqs[6:]), "y_test": np.arange(6, 10) % 2}
    in_cache(keras_home, monkeypatch, imdb, "imdb.npz", lambda p: np.savez(p, **arrays))
    (x_train, y_train), (x_test, y_test) = imdb.load_data()
    assert (x_train.dtype, x_train.shape, y_train.dtype, x_test.shape) == (object, (6,), np.int64, (4,))
    top = 10 + 3  # num_words=None keeps indices below the largest one, as tf.keras does
    for x, y in zip(list(x_train) + list(x_test), list(y_train) + list(y_test)):
        assert x == [1] + [w + 3 if w + 3 < top else 2 for w in range(1, len(x))] and y == (len(x) - 2) % 2
    assert sorted(len(x) for x in x_train) == [2, 3, 4, 5, 6, 7]
    (x_train, _), (x_test, _) = imdb.load_data(maxlen=9, num_words=8, skip_top=5)
    assert all(len(x) < 9 and all(w == 2 or 5 <= w < 8 for w in x) for x in list(x_train) + list(x_test))
    # tf.keras adds the two object arrays elementwise here; gpunet keeps every sample.
    (x_train, _), (x_test, _) = imdb.load_data(start_char=None, index_from=0, oov_char=None, num_words=100)
    assert sorted(map(len, x_train)) == list(range(1, 7)) and sorted(map(len, x_test)) == list(range(7, 11))
    with pytest.raises(ValueError, match="maxlen=2, no sequence was kept"):
        imdb.load_data(maxlen=2)
    assert imdb.load_data(nb_words=5)[0][0].tolist() == imdb.load_data(num_words=5)[0][0].tolist()
    with pytest.raises(TypeError, match="Unrecognized keyword arguments: {'bogus': 1}"):
        imdb.load_data(bogus=1)


def test_word_indices_download(server, keras_home, monkeypatch):
    body = b'{"the": 1, "and": 2}'
    server.files["/imdb_word_index.json"] = server.files["/reuters_word_index.json"] = body
    for module, name in ((imdb, "/imdb_word_index.json"), (reuters, "/reuters_word_index.json")):
        monkeypatch.setattr(module, "_WORD_INDEX_ORIGIN", server.url(name))
        monkeypatch.setattr(module, "_WORD_INDEX_HASH", hashlib.md5(body).hexdigest())
        assert module.get_word_index() == {"the": 1, "and": 2}
    assert reuters.get_label_names()[:4] == ("cocoa", "grain", "veg-oil", "earn") and len(reuters._LABEL_NAMES) == 46


class _Python2Pickler(pickle._Pickler):
    """Protocol 2 with bytes written as Python 2's str opcodes, as in the CIFAR files (pickled by
    Python 2): Python 3's own protocol 2 would go through ``_codecs.encode`` instead."""
    dispatch = dict(pickle._Pickler.dispatch)

    def _save_python2_str(self, obj):
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj if n < 256 else
                   pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_python2_str


def python2_pickle(obj):
    buf = io.BytesIO()
    _Python2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def cifar_batch(rng, n, **labels):
    """A CIFAR batch's dict as the real files hold it, with bytes keys."""
    d = {b"batch_label": b"fake batch", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
         b"filenames": [b"%d.png" % i for i in range(n)]}
    d.update({key.encode(): [int(v) for v in values] for key, values in labels.items()})
    return d


def cifar_archive(folder, batches):
    return make_tar([(folder, "dir", None)] + [(f"{folder}/{name}", "file", python2_pickle(d))
                                               for name, d in batches.items()])


CIFAR10_NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def test_cifar10_extracts_and_reads_batches(keras_home, monkeypatch):
    rng = np.random.default_rng(5)
    batches = {name: cifar_batch(rng, 4 if name != "test_batch" else 3, labels=rng.integers(0, 10, 4))
               for name in CIFAR10_NAMES}
    batches["test_batch"][b"labels"] = batches["test_batch"][b"labels"][:3]
    archive = cifar_archive("cifar-10-batches-py", batches)
    in_cache(keras_home, monkeypatch, cifar10, "cifar-10-batches-py.tar.gz", lambda p: p.write_bytes(archive))
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert os.path.isfile(keras_home / "datasets" / "cifar-10-batches-py" / "test_batch")
    assert [(a.dtype, a.shape) for a in (x_train, y_train, x_test, y_test)] == [
        (np.uint8, (20, 32, 32, 3)), (np.uint8, (20, 1)), (np.uint8, (3, 32, 32, 3)), (np.uint8, (3, 1))]
    data = np.concatenate([batches[name][b"data"] for name in CIFAR10_NAMES[:5]])
    np.testing.assert_array_equal(x_train, data.reshape(20, 3, 32, 32).transpose(0, 2, 3, 1))
    assert y_train[:, 0].tolist() == sum((batches[name][b"labels"] for name in CIFAR10_NAMES[:5]), [])
    assert y_test[:, 0].tolist() == batches["test_batch"][b"labels"]
    gpunet.backend.set_image_data_format("channels_first")
    try:
        np.testing.assert_array_equal(cifar10.load_data()[0][0], data.reshape(20, 3, 32, 32))
    finally:
        gpunet.backend.set_image_data_format("channels_last")


def test_cifar10_full_size_matches_tf_keras(keras_home, monkeypatch):
    # tf.keras assumes five batches of 10,000 images, so this fake is full size (written
    # unarchived, with a placeholder archive in the cache: the extracted folder is what is read).
    folder = keras_home / "datasets" / "cifar-10-batches-py"
    tfk = tf_keras_dataset("cifar10", monkeypatch, lambda *a, **k: str(folder))
    rng = np.random.default_rng(6)
    folder.mkdir(parents=True)
    for name in CIFAR10_NAMES:
        (folder / name).write_bytes(python2_pickle(cifar_batch(rng, 10000, labels=rng.integers(0, 10, 10000))))
    in_cache(keras_home, monkeypatch, cifar10, "cifar-10-batches-py.tar.gz", lambda p: p.write_bytes(b"-"))
    assert_same_data(cifar10.load_data(), tfk.load_data())
    shutil.rmtree(folder)  # 184 MB that pytest would otherwise keep for three sessions


def test_cifar100_matches_tf_keras(keras_home, monkeypatch):
    rng = np.random.default_rng(7)
    batches = {name: cifar_batch(rng, n, fine_labels=rng.integers(0, 100, n), coarse_labels=rng.integers(0, 20, n))
               for name, n in (("train", 7), ("test", 3))}
    archive = cifar_archive("cifar-100-python", batches)
    in_cache(keras_home, monkeypatch, cifar100, "cifar-100-python.tar.gz", lambda p: p.write_bytes(archive))
    fine, coarse = cifar100.load_data(), cifar100.load_data(label_mode="coarse")
    assert (fine[0][0].shape, fine[0][1].dtype, fine[1][1].shape) == ((7, 32, 32, 3), np.int64, (3, 1))
    assert fine[0][1][:, 0].tolist() == batches["train"][b"fine_labels"]
    assert coarse[1][1][:, 0].tolist() == batches["test"][b"coarse_labels"]
    with pytest.raises(ValueError, match='one of `"fine"`, `"coarse"`. Received: label_mode=medium'):
        cifar100.load_data(label_mode="medium")
    folder = str(keras_home / "datasets" / "cifar-100-python")
    tfk = tf_keras_dataset("cifar100", monkeypatch, lambda *a, **k: folder)
    assert_same_data(fine, tfk.load_data())
    assert_same_data(coarse, tfk.load_data(label_mode="coarse"))


class _Gadget:
    """Unpickling this runs a shell command: what a tampered dataset file would carry."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_tampered_files_are_refused_without_running_the_gadget(keras_home, monkeypatch, tmp_path):
    marker = tmp_path / "gadget_ran"
    evil = ragged([[1, 2]])
    evil[0] = _Gadget(marker)
    arrays = {"x_train": evil, "y_train": np.zeros(1, np.int64), "x_test": ragged([[3]]), "y_test": np.zeros(1)}
    path = in_cache(keras_home, monkeypatch, imdb, "imdb.npz", lambda p: np.savez(p, **arrays))
    refused = re.escape(f"Refusing to unpickle the global '{os.system.__module__}.system'")
    with pytest.raises(pickle.UnpicklingError, match=refused):
        imdb.load_data()
    (tmp_path / "batch").write_bytes(python2_pickle({b"data": _Gadget(marker), b"labels": []}))
    with pytest.raises(pickle.UnpicklingError, match=refused):
        load_batch(tmp_path / "batch")
    assert not marker.exists()
    np.load(path, allow_pickle=True)["x_train"]  # what unrestricted pickle does with the same file
    assert marker.exists()
