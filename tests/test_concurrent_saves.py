"""Other processes: a save killed by SIGKILL leaves the previous (or the new) file whole, and the
next save removes its temporary file (pitfall 24); four processes load a file while a fifth
re-saves it 50 times, without file locks, and none ever fails (pitfall 25)."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from gpunet.layers import BatchNormalization, Dense
from gpunet.models import Sequential, load_model
from gpunet.saving import tempfiles

X = np.random.RandomState(5).rand(12, 4).astype("float32")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def model_():
    model = Sequential([Dense(5, input_dim=4, activation="relu"), BatchNormalization(), Dense(2)])
    model.compile(loss="mse", optimizer="adam")
    model.fit(X, np.ones((12, 2), "float32"), epochs=1, batch_size=4, verbose=0)
    return model


_KILL_CHILD = """
import sys, numpy as np
sys.path.insert(0, {repo!r})
from gpunet.models import Sequential
from gpunet.layers import Dense
model = Sequential([Dense(1024, input_dim=1024), Dense(1024)])
i = 0
while True:
    for w in model.weights:
        w.assign(np.full(w.shape, i, "float32"))
    print("begin", i, flush=True)
    model.save(sys.argv[1])
    i += 1
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkill_during_save_leaves_a_loadable_file(tmp_path):
    path = tmp_path / "ckpt.h5"
    script = tmp_path / "child.py"
    script.write_text(_KILL_CHILD.format(repo=REPO))
    killed_mid_save = 0
    for delay in (0.0, 0.003, 0.008):
        # (NumPy in the child whatever "auto" picks: a GPU's device-to-host copy would move the save's timing)
        child = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True,
                                 env=dict(os.environ, GPUNET_BACKEND="numpy"))
        try:
            for _ in range(3):  # two whole saves, then the kill lands during the third (an 8 MB write)
                line = child.stdout.readline()
                assert line.startswith("begin"), "the saving child died"
            time.sleep(delay)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
        model = load_model(path)
        values = {float(v) for w in model.get_weights() for v in np.unique(w)}
        assert values in ({1.0}, {2.0})  # the previous save or the new one, whole, never a mix
        leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
        killed_mid_save += bool(leftovers)
        for name in leftovers:  # aged past tempfiles.STALE_AFTER_S: the next save of ckpt.h5 removes them
            os.utime(tmp_path / name, (time.time() - 3600, time.time() - 3600))
        model.save(path)
        assert sorted(n for n in os.listdir(tmp_path) if n.endswith(".tmp")) == ([] if tempfiles.fcntl else leftovers)
    assert killed_mid_save >= 1  # at least one kill interrupted a save in progress


_READER = """
import os, sys
sys.path.insert(0, {repo!r})
from gpunet.models import load_model
count = 0
while not os.path.exists(sys.argv[2]):
    load_model(sys.argv[1])
    count += 1
    if count == 1:
        open(sys.argv[3], "w").close()  # loading: the saves may start
print(count)
"""


def test_readers_never_fail_while_the_file_is_resaved(tmp_path):
    model = model_()
    path, stop = tmp_path / "shared.h5", tmp_path / "stop"
    model.save(path)
    script = tmp_path / "reader.py"
    script.write_text(_READER.format(repo=REPO))
    env = dict(os.environ, GPUNET_BACKEND="numpy")  # (no CUDA context per reader on a GPU machine)
    env.pop("HDF5_USE_FILE_LOCKING", None)
    ready = [tmp_path / f"ready{i}" for i in range(4)]
    readers = [subprocess.Popen([sys.executable, str(script), str(path), str(stop), str(r)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env) for r in ready]
    deadline = time.monotonic() + 120  # every reader loading before the saves start, however busy the machine
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        assert all(reader.poll() is None for reader in readers), "a reader died before its first load"
        time.sleep(0.05)
    for _ in range(50):
        model.save(path)
    stop.write_text("")
    for reader in readers:
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
        assert int(out.strip()) > 0
