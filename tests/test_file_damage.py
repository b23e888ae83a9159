"""Files as other writers leave them: string attributes in h5py 2 and h5py 3 styles (pitfall 1),
files cut off at any offset (pitfall 5), and the temporary files of killed saves (pitfall 24)."""
import os
import re
import time

import h5py
import numpy as np
import pytest

from gpunet.layers import BatchNormalization, Dense, Dropout
from gpunet.models import Sequential, load_model
from gpunet.saving import h5_store, tempfiles
from gpunet.saving.errors import CorruptModelFileError

X = np.random.RandomState(6).rand(16, 4).astype("float32")
Y = np.random.RandomState(7).rand(16, 2).astype("float32")
NAMES = ("层_1", "Dichte_ü", "a/b")


def model_(names=NAMES):
    model = Sequential([Dense(5, input_dim=4, activation="relu", name=names[0]), BatchNormalization(name=names[1]),
                        Dropout(0.1), Dense(2, name=names[2])])
    model.compile(loss="mse", optimizer="adam", metrics=["mae"])
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    return model


# ---- pitfall 1: every string attribute, written the h5py 2 way or the h5py 3 way ----------------------
def _h5py2(strings, scalar):
    """h5py 2 with Keras 2: fixed-length byte strings (numpy.bytes_ / 'S' arrays)."""
    data = [s.encode("utf-8") for s in strings]
    return np.bytes_(data[0]) if scalar else np.array(data, dtype=bytes)


def _h5py3(strings, scalar):
    """h5py 3: variable-length UTF-8 strings (str, and arrays of str)."""
    return strings[0] if scalar else np.array(strings, dtype=h5py.string_dtype("utf-8"))


def _restyle(path, style):
    """Rewrite every string attribute in the file ``style``'s way; returns how many were rewritten."""
    with h5py.File(path, "r+") as f:
        groups = [f]
        f.visititems(lambda name, obj: groups.append(obj) if isinstance(obj, h5py.Group) else None)
        count = 0
        for group in groups:
            for key in list(group.attrs):
                value = group.attrs[key]
                scalar = isinstance(value, (bytes, str, np.bytes_))
                if not scalar and not (isinstance(value, np.ndarray) and value.dtype.kind in "SOU"):
                    continue
                strings = [h5_store.text(value)] if scalar else h5_store.text_list(value)
                if not scalar and not strings:
                    continue
                del group.attrs[key]
                group.attrs[key] = style(strings, scalar)
                count += 1
    return count


@pytest.mark.parametrize("style", [_h5py2, _h5py3], ids=["h5py2-fixed-bytes", "h5py3-vlen-utf8"])
def test_files_with_every_string_stored_either_way_load(tmp_path, style):
    model = model_()
    model.save(tmp_path / "m.h5")
    model.save_weights(tmp_path / "w.h5")
    assert _restyle(tmp_path / "m.h5", style) >= 12 and _restyle(tmp_path / "w.h5", style) >= 4
    with h5py.File(tmp_path / "m.h5", "r") as f:  # the rewrite took: h5py hands back bytes or str now
        assert isinstance(f.attrs["keras_version"], bytes if style is _h5py2 else str)
        assert f["model_weights"].attrs["layer_names"].dtype.kind == ("S" if style is _h5py2 else "O")
    loaded = load_model(tmp_path / "m.h5")
    assert [l.name for l in loaded.layers] == [*NAMES[:2], model.layers[2].name, NAMES[2]]
    assert loaded.metrics_names == ["loss", "mae"] and loaded.optimizer.iterations == 4
    assert np.array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    for by_name in (False, True):
        fresh = model_()
        assert fresh.load_weights(tmp_path / "w.h5", by_name=by_name).complete
        assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), model.get_weights()))


# ---- pitfall 5: cut-off files say so, with both sizes -------------------------------------------------
_SIZES = re.compile(r"truncated: the file has (\d+) bytes, .*?(\d+) bytes")


@pytest.mark.parametrize("name", ["m.h5", "m.keras", "w.h5", "w.weights.h5"])
def test_files_cut_at_any_offset_name_path_problem_and_both_sizes(tmp_path, name):
    model = model_(("a", "b", "c"))
    (model.save if name.startswith("m") else model.save_weights)(tmp_path / name)
    raw = (tmp_path / name).read_bytes()
    for cut in (1, 3, 7, 8, 20, 47, 48, 100, 512, len(raw) // 3, len(raw) // 2, len(raw) - 100, len(raw) - 1):
        path = tmp_path / f"cut{cut}-{name}"
        path.write_bytes(raw[:cut])
        with pytest.raises(CorruptModelFileError) as err:
            load_model(path) if name.startswith("m") else model_(("a", "b", "c")).load_weights(path)
        message = str(err.value)
        assert str(path) in message and err.value.path == str(path)
        sizes = _SIZES.search(message)
        assert sizes, f"cut at {cut}: {message}"
        actual, expected = int(sizes.group(1)), int(sizes.group(2))
        assert actual == cut and expected > cut, message
        if (cut >= 48 and not name.endswith(".keras")) or cut > len(raw) // 2:
            assert expected == len(raw), message  # the exact size the whole file had


def test_a_zip_with_a_bad_member_is_damaged_not_truncated(tmp_path):
    model_(("a", "b", "c")).save(tmp_path / "m.keras")
    raw = bytearray((tmp_path / "m.keras").read_bytes())
    start = raw.index(b'"class_name"')  # inside config.json's stored bytes: its CRC-32 no longer matches
    raw[start + 1] ^= 0x20
    (tmp_path / "bad.keras").write_bytes(bytes(raw))
    with pytest.raises(CorruptModelFileError, match=r"damaged zip archive \(Bad CRC-32") as err:
        load_model(tmp_path / "bad.keras")
    assert "truncated" not in str(err.value)


# ---- leftovers of killed saves ---------------------------------------------------------------------------
def _leftover(folder, target, age_s, name=None):
    path = folder / (name or f".{target}.{os.urandom(6).hex()}.tmp")
    path.write_bytes(b"half a file")
    old = time.time() - age_s
    os.utime(path, (old, old))
    return path


@pytest.mark.skipif(tempfiles.fcntl is None, reason="needs flock (POSIX)")
def test_a_save_removes_what_killed_saves_of_its_target_left_and_nothing_else(tmp_path):
    model = model_(("a", "b", "c"))
    hour = 3600
    abandoned = [_leftover(tmp_path, "m.h5", hour), _leftover(tmp_path, "m.h5", 2 * hour)]
    in_use = _leftover(tmp_path, "m.h5", hour)  # another process is writing it: it holds the lock
    recent = _leftover(tmp_path, "m.h5", 5)  # younger than tempfiles.STALE_AFTER_S
    others = [_leftover(tmp_path, "other.h5", hour), _leftover(tmp_path, "m.h5", hour, ".m.h5.notes.tmp"),
              _leftover(tmp_path, "m.h5", hour, "m.h5.0123456789ab.tmp")]
    fd = os.open(in_use, os.O_RDWR)
    tempfiles.fcntl.flock(fd, tempfiles.fcntl.LOCK_EX | tempfiles.fcntl.LOCK_NB)
    try:
        model.save(tmp_path / "m.h5")
    finally:
        os.close(fd)
    assert not any(p.exists() for p in abandoned)
    assert in_use.exists() and recent.exists() and all(p.exists() for p in others)
    assert np.array_equal(load_model(tmp_path / "m.h5").predict(X, verbose=0), model.predict(X, verbose=0))
    model.save_weights(tmp_path / "m.h5")  # the lock is gone now: the next save of m.h5 removes it
    assert not in_use.exists() and recent.exists()


@pytest.mark.skipif(tempfiles.fcntl is None, reason="needs flock (POSIX)")
def test_a_save_in_progress_holds_the_lock_on_its_temporary_file(tmp_path, monkeypatch):
    from gpunet.saving import hdf5_legacy
    seen = []
    original = hdf5_legacy.write_model_file

    def spy(h5, *args, **kwargs):
        tmp = h5.filename
        old = time.time() - 3600
        os.utime(tmp, (old, old))  # as old as an abandoned file: only its lock protects it
        seen.append((tmp, tempfiles.remove_stale(os.path.dirname(tmp), "m.h5")))
        return original(h5, *args, **kwargs)
    monkeypatch.setattr(hdf5_legacy, "write_model_file", spy)
    model_(("a", "b", "c")).save(tmp_path / "m.h5")
    (tmp, removed), = seen
    assert removed == [] and re.fullmatch(r"\.m\.h5\.[0-9a-f]{12}\.tmp", os.path.basename(tmp))
    assert sorted(os.listdir(tmp_path)) == ["m.h5"] and load_model(tmp_path / "m.h5").count_params() > 0
