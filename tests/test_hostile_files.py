"""Hostile and broken files, built for real (FIFOs, HDF5 external links, zip archives with duplicate
members, configs nested 100,000 deep, arrays declaring 2**34 values): gpunet reads only the named
regular file, never follows a link out of it, never hangs, never allocates from a size the file
declares, and names the file and the field in one error family. (Saving: test_safe_saves.py.)"""
import json
import os
import threading
import re
import zipfile

import h5py
import numpy as np
import pytest

from gpunet.cli import main as cli_main
from gpunet.layers import Dense
from gpunet.models import Sequential, load_model
from gpunet.saving.cli import inspect
from gpunet.saving.errors import CorruptModelFileError, FileContentError

X = np.random.RandomState(3).rand(8, 3).astype("float32")


def model_(optimizer="adam"):
    model = Sequential([Dense(4, input_dim=3, activation="relu", name="d1"), Dense(2, name="d2")])
    model.compile(loss="mse", optimizer=optimizer)
    model.fit(X, np.ones((8, 2), "float32"), epochs=1, batch_size=4, verbose=0)
    return model


def finishes(func, seconds=20):
    """Run ``func`` in a thread; returns the exception it raised (None if none), or fails on a hang."""
    out = {}

    def run():
        try:
            func()
            out["exc"] = None
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out["exc"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert "exc" in out, f"{func} still blocked after {seconds} s"
    return out["exc"]


def _edit_h5(path, edit):
    with h5py.File(path, "r+") as f:
        edit(f)
        if "gpunet_attr_crc" in f.attrs:
            del f.attrs["gpunet_attr_crc"]


# ---- only the named regular file -------------------------------------------------------------------------
@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "model.h5"
    os.mkfifo(path)
    yield path
    # If a regression blocked a reader on open(), a writer that opens and closes releases it.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


@pytest.mark.parametrize("reader", ["load_model", "load_weights", "inspect", "cli inspect", "convert"])
def test_a_fifo_is_refused_by_name_without_blocking(fifo, tmp_path, reader, capsys):
    calls = {"load_model": lambda: load_model(fifo), "load_weights": lambda: model_().load_weights(fifo),
             "inspect": lambda: inspect(fifo), "convert": lambda: cli_main(["convert", str(fifo),
                                                                            str(tmp_path / "out.keras")]),
             "cli inspect": lambda: cli_main(["inspect", str(fifo)])}
    exc = finishes(calls[reader])
    if reader.startswith("cli") or reader == "convert":
        assert exc is None and "FIFO (named pipe), not a regular file" in capsys.readouterr().err
        return
    assert isinstance(exc, CorruptModelFileError) and str(fifo) in str(exc)
    assert "FIFO (named pipe), not a regular file" in str(exc)


def test_devices_and_folders_are_refused_by_kind(tmp_path):
    with pytest.raises(CorruptModelFileError, match="character device, not a regular file"):
        load_model("/dev/zero")
    with pytest.raises(CorruptModelFileError, match="folder, not a regular file"):
        load_model(tmp_path)
    with open(os.devnull, "rb") as fh, pytest.raises(CorruptModelFileError, match="character device"):
        load_model(fh)


# ---- links out of the file -------------------------------------------------------------------------------
def _secret(tmp_path, shape):
    path = tmp_path / "secret.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.full(shape, 42.0, "float32")
    return path


def _link_out(path, dataset, secret):
    def edit(f):
        parent, name = dataset.rsplit("/", 1)
        del f[dataset]
        f[parent][name] = h5py.ExternalLink(str(secret), "/data")
    _edit_h5(path, edit)


@pytest.mark.parametrize("case", ["load_model .h5", "load_weights .h5", "load_weights .weights.h5", "inspect .h5",
                                  "load_model .keras", "h5py.File"])
def test_external_links_are_refused_everywhere(tmp_path, case):
    model = model_()
    secret = _secret(tmp_path, (3, 4))
    if case.endswith(".keras"):
        inner = tmp_path / "inner.h5"
        model.save(tmp_path / "m.keras")
        with zipfile.ZipFile(tmp_path / "m.keras") as zf:
            inner.write_bytes(zf.read("model.weights.h5"))
            members = {n: zf.read(n) for n in zf.namelist()}
        _link_out(inner, "/layers/dense/vars/0", secret)
        members["model.weights.h5"] = inner.read_bytes()
        with zipfile.ZipFile(tmp_path / "m.keras", "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        path, dataset = tmp_path / "m.keras", None
    elif "weights.h5" in case:
        path, dataset = tmp_path / "m.weights.h5", "/layers/dense/vars/0"
        model.save_weights(path)
    elif case.startswith("load_weights"):
        path, dataset = tmp_path / "w.h5", "/d1/d1/kernel:0"
        model.save_weights(path)
    else:
        path, dataset = tmp_path / "m.h5", "/model_weights/d1/d1/kernel:0"
        model.save(path)
    if dataset is not None:
        _link_out(path, dataset, secret)
    calls = {"load_model": lambda: load_model(path), "load_weights": lambda: model_().load_weights(path),
             "inspect": lambda: inspect(path)}
    if case == "h5py.File":
        with h5py.File(path, "r") as f, pytest.raises(CorruptModelFileError, match="external link") as err:
            load_model(f)
    else:
        with pytest.raises(CorruptModelFileError, match=f"external link to another file \\({secret}:/data\\): "
                                                        "refused") as err:
            calls[case.split()[0]]()
    assert "kernel" in str(err.value) or "vars/0" in str(err.value)


def test_an_external_link_to_a_fifo_neither_hangs_nor_is_followed(tmp_path, fifo):
    model_().save(tmp_path / "m.h5")
    _edit_h5(tmp_path / "m.h5", lambda f: f["model_weights/d1"].__setitem__("x", h5py.ExternalLink(str(fifo), "/")))
    exc = finishes(lambda: load_model(tmp_path / "m.h5"))
    assert isinstance(exc, CorruptModelFileError) and "/model_weights/d1/x is an external link" in str(exc)


def test_soft_links_inside_the_file_still_load(tmp_path):
    model = model_()
    model.save(tmp_path / "m.h5")
    _edit_h5(tmp_path / "m.h5", lambda f: f.__setitem__("alias", h5py.SoftLink("/model_weights")))
    assert np.array_equal(load_model(tmp_path / "m.h5").predict(X, verbose=0), model.predict(X, verbose=0))


# ---- archives ---------------------------------------------------------------------------------------------
def _archive_members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_an_archive_with_two_config_members_is_refused(tmp_path):
    model_().save(tmp_path / "m.keras")
    members = _archive_members(tmp_path / "m.keras")
    evil = json.loads(members["config.json"])
    evil["config"]["layers"][1]["config"]["activation"] = "sigmoid"
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(tmp_path / "dup.keras", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr("config.json", json.dumps(evil))
    with pytest.raises(CorruptModelFileError, match=r"holds \['config.json'\] more than once"):
        load_model(tmp_path / "dup.keras")


@pytest.mark.parametrize("extra", ["../evil.py", "assets/run.sh", "assets/../../x.txt", "Config.json", "config.json/"])
def test_an_archive_with_unexpected_members_is_refused(tmp_path, extra):
    """(Keras 3's assets/ are read into memory, never extracted, and refused unless a layer reads them.)"""
    model_().save(tmp_path / "m.keras")
    members = _archive_members(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "x.keras", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr(extra, b"#!/bin/sh\n")
    error, message = ((FileContentError, r"assets no layer of model 'sequential\w*' reads: \['" + re.escape(extra))
                      if extra.startswith("assets/") else (CorruptModelFileError, "unexpected archive member"))
    with pytest.raises(error, match=message):
        load_model(tmp_path / "x.keras")
