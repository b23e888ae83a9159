"""The CUDA sources travel with gpunet: a built wheel carries kernels/ as
gpunet/_kernels/, and an installation from it finds them there (with no source
checkout around) and compiles the very same text as a checkout does."""
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from gpunet.backend import kernel_source

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What a build never needs; everything else is copied as a fresh clone would have it.
SKIP = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                              ".benchmarks", ".hypothesis", "tests", "benchmarks")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of this checkout (the checkout itself stays untouched)."""
    src = tmp_path_factory.mktemp("src") / "gpunet"
    shutil.copytree(ROOT, src, ignore=SKIP)
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)]
    if importlib.util.find_spec("setuptools") is not None:
        cmd.insert(4, "--no-build-isolation")  # the environment's setuptools: no download
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("gpunet-*.whl")
    return path


def test_kernel_wheel_contains_every_kernel_source(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    expected = {f"gpunet/_kernels/{f}" for files in kernel_source.MODULE_FILES.values() for f in files}
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    with open(os.path.join(ROOT, "kernels", "dense_forward.cu"), "rb") as f, zipfile.ZipFile(wheel) as z:
        assert z.read("gpunet/_kernels/dense_forward.cu") == f.read()


def test_kernel_sources_found_in_an_installed_wheel(wheel, tmp_path):
    """Unpacked as pip would install it, outside any checkout, the package finds its
    own copy and builds module sources identical to the checkout's."""
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    code = ("import sys; from gpunet.backend import kernel_source as k; "
            "sys.stdout.write(k.kernel_dir() + '\\n' + k.module_source('dense') + k.module_source('optimizers'))")
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    found, text = proc.stdout.split("\n", 1)
    assert found == str(site / "gpunet" / "_kernels")
    assert text == kernel_source.module_source("dense") + kernel_source.module_source("optimizers")


def test_kernel_sources_found_in_the_checkout():
    assert kernel_source.kernel_dir() in (os.path.join(ROOT, "kernels"), os.path.join(ROOT, "gpunet", "_kernels"))
    assert "\ndense_forward(const T* __restrict__ x" in kernel_source.module_source("dense")


def test_kernel_source_names_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(kernel_source, "_CANDIDATES", (str(tmp_path / "nowhere"),))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        kernel_source.module_source("dense")
    with pytest.raises(ValueError, match="Unknown kernel module"):
        kernel_source.module_source("conv")
