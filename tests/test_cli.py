import re
import subprocess
import sys

import numpy as np

from gpunet.cli import synthetic_pima, main
from conftest import shared_path


def test_synthetic_pima_is_deterministic_and_pima_shaped():
    a, b = synthetic_pima(), synthetic_pima()
    assert a.shape == (768, 9) and np.array_equal(a, b)
    assert set(np.unique(a[:, 8])) == {0.0, 1.0}
    assert 0.25 < a[:, 8].mean() < 0.45  # the real set has 35% positives


def _accuracies(text):
    return re.findall(r"accuracy: (\d+\.\d\d)%", text)


def test_demo_trains_saves_reloads_and_prints_same_accuracy(tmp_path, capsys):
    assert main(["demo", "--epochs", "20", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "synthetic Pima-shaped data set generated in code" in out
    accs = _accuracies(out)
    assert len(accs) == 4 and len(set(accs)) == 1, out
    for name in ("model.json", "model.yaml", "model.weights.h5", "model.h5"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_demo_with_real_csv_via_console_script(tmp_path):
    csv = shared_path("data", "pima-indians-diabetes.csv")
    proc = subprocess.run([sys.executable, "-m", "gpunet.cli", "demo", "--data", csv, "--epochs", "10",
                           "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"Data: {csv} (768 rows)" in proc.stdout
    accs = _accuracies(proc.stdout)
    assert len(accs) == 4 and len(set(accs)) == 1


def test_demo_rejects_a_csv_with_the_wrong_columns(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n4,5,6\n")
    proc = subprocess.run([sys.executable, "-m", "gpunet.cli", "demo", "--data", str(bad), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "must have 9 columns (8 features + 0/1 label), found 3" in proc.stderr


def test_inspect_and_convert_commands(tmp_path):
    from gpunet.models import Sequential
    from gpunet.layers import Dense
    model = Sequential([Dense(3, input_dim=4, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam")
    model.save(tmp_path / "m.h5")
    run = lambda *args: subprocess.run([sys.executable, "-m", "gpunet.cli", *args], capture_output=True, text=True)
    proc = run("inspect", str(tmp_path / "m.h5"))
    assert proc.returncode == 0, proc.stderr
    assert "dense" in proc.stdout and "19" in proc.stdout  # 4*3+3 + 3*1+1 parameters
    proc = run("convert", str(tmp_path / "m.h5"), str(tmp_path / "m.keras"))
    assert proc.returncode == 0 and "wrote" in proc.stdout and (tmp_path / "m.keras").stat().st_size > 0
    (tmp_path / "junk.h5").write_bytes(b"not a model at all")
    proc = run("inspect", str(tmp_path / "junk.h5"))
    assert proc.returncode == 1 and "junk.h5" in proc.stderr and "Traceback" not in proc.stderr
