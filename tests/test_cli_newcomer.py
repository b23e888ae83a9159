"""The rough edges a newcomer hit: --version, python -m gpunet, demo help and data hint, inspect model.json."""
import subprocess
import sys

import pytest

import gpunet
from gpunet.cli import main
from gpunet.layers import Dense, Dropout
from gpunet.models import Sequential


def test_version_from_the_command_and_python_dash_m():
    proc = subprocess.run([sys.executable, "-m", "gpunet", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"gpunet {gpunet.__version__}"


def test_every_demo_option_has_help_and_shows_its_default(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for expected in ("--epochs EPOCHS training epochs (default: 150)", "(default: 7)",
                     "(default: ./gpunet-demo)", "(default: 0)",
                     "8 feature columns + a 0/1 label, comma-separated, no header",
                     "Default: a synthetic, deterministic Pima-shaped data set"):
        assert expected in text, expected


def test_demo_data_hint_says_what_the_file_is_and_where_to_get_it(tmp_path):
    with pytest.raises(SystemExit, match=r"(?s)cannot read .*pima-indians-diabetes.csv.*8 numeric feature columns "
                                         r"\+ a 0/1 label.*no header.*https://"):
        main(["demo", "--data", str(tmp_path / "pima-indians-diabetes.csv"), "--out", str(tmp_path)])


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_inspect_describes_an_architecture_file(tmp_path, capsys, fmt):
    model = Sequential([Dense(12, input_dim=8, activation="relu", name="hidden"), Dropout(0.2, name="drop"),
                        Dense(1, activation="sigmoid", name="out")])
    path = tmp_path / f"model.{fmt}"
    path.write_text(model.to_json() if fmt == "json" else model.to_yaml())
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"Format: {fmt.upper()} model architecture (to_{fmt}() output): no weights" in out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "hidden (Dense) (None, 12) 108" in lines and "drop (Dropout) (None, 12) 0" in lines
    assert "out (Dense) (None, 1) 13" in lines and "Total params: 121" in lines
    assert f"Weights: none. A {fmt.upper()} file holds the architecture only" in out


def test_inspect_still_rejects_text_that_is_no_model(tmp_path, capsys):
    path = tmp_path / "notes.json"
    path.write_text('{"hello": 1}')
    assert main(["inspect", str(path)]) == 1
    assert "Corrupt or unreadable model file" in capsys.readouterr().err


def test_inspect_names_what_an_architecture_file_needs(tmp_path, capsys):
    path = tmp_path / "model.json"
    path.write_text('{"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "MyLayer", '
                    '"config": {"name": "mine", "batch_input_shape": [null, 3]}}]}}')
    assert main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err
    assert "is a model architecture file that cannot be rebuilt" in err and "'MyLayer'" in err
