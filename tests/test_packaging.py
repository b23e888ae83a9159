"""pyproject.toml lists gpunet's packages explicitly (to map kernels/ into the wheel):
every package in the tree must be in that list, or an installed gpunet would lack it."""
import os
import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_package_is_listed_in_pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        listed = set(tomllib.load(f)["tool"]["setuptools"]["packages"])
    found = set()
    for folder, _dirs, files in os.walk(os.path.join(ROOT, "gpunet")):
        if "__init__.py" in files:
            found.add(os.path.relpath(folder, ROOT).replace(os.sep, "."))
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert listed - found == {"gpunet._kernels"}


def test_console_script_declared():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["scripts"]["gpunet"] == "gpunet.cli:main"
    assert project["requires-python"] == ">=3.10"
    assert {"cuda12", "cuda13", "test", "interop"} <= set(project["optional-dependencies"])
