"""Atomic saves keep the replaced file's mode (and owner where permitted), refuse read-only and
non-regular targets, follow symbolic links as documented, and report a failed write (a full disk,
a file size limit) as an OSError with errno and path; `gpunet convert` never replaces a file
unless asked."""
import errno
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gpunet.cli import main as cli_main
from gpunet.layers import Dense
from gpunet.models import Sequential, load_model

X = np.random.RandomState(6).rand(8, 3).astype("float32")
SAVES = {"save .h5": ("m.h5", lambda m, p: m.save(p)), "save .keras": ("m.keras", lambda m, p: m.save(p)),
         "save_weights .h5": ("w.h5", lambda m, p: m.save_weights(p)),
         "save_weights .weights.h5": ("m.weights.h5", lambda m, p: m.save_weights(p))}


def model_(units=2):
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(units)])
    model.compile(loss="mse", optimizer="adam")
    return model


@pytest.mark.parametrize("how", sorted(SAVES))
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604])
def test_a_resave_keeps_the_files_mode(tmp_path, how, mode):
    name, save = SAVES[how]
    path = tmp_path / name
    save(model_(), path)
    os.chmod(path, mode)
    save(model_(), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_resave_keeps_the_files_owner_where_permitted(tmp_path):
    path = tmp_path / "m.h5"
    model_().save(path)
    os.chown(path, 65534, 65534)
    model_().save(path)
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == (65534, 65534)


@pytest.mark.parametrize("how", sorted(SAVES))
def test_a_read_only_target_raises_permission_error_and_stays_intact(tmp_path, how):
    name, save = SAVES[how]
    path = tmp_path / name
    save(model_(), path)
    os.chmod(path, 0o444)
    before = path.read_bytes()
    with pytest.raises(PermissionError) as err:
        save(model_(units=3), path)
    assert err.value.errno == errno.EACCES and err.value.filename == str(path) and "read-only" in str(err.value)
    assert path.read_bytes() == before and stat.S_IMODE(os.stat(path).st_mode) == 0o444
    assert sorted(os.listdir(tmp_path)) == [name]


def test_a_symlinked_target_replaces_the_file_it_points_to_and_stays_a_link(tmp_path):
    real_dir = tmp_path / "runs"
    real_dir.mkdir()
    model_().save(real_dir / "epoch3.h5")
    os.chmod(real_dir / "epoch3.h5", 0o600)
    os.symlink(real_dir / "epoch3.h5", tmp_path / "latest.h5")
    model = model_(units=5)
    model.save(tmp_path / "latest.h5")
    assert os.path.islink(tmp_path / "latest.h5")
    assert load_model(real_dir / "epoch3.h5").layers[-1].units == 5
    assert stat.S_IMODE(os.stat(real_dir / "epoch3.h5").st_mode) == 0o600
    assert sorted(os.listdir(real_dir)) == ["epoch3.h5"] and sorted(os.listdir(tmp_path)) == ["latest.h5", "runs"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="a link owned by another user needs root")
def test_a_link_another_user_owns_in_a_sticky_shared_folder_is_not_followed(tmp_path):
    shared = tmp_path / "shared"  # like /tmp: sticky, world-writable, owned by neither the saver nor the link's owner
    shared.mkdir()
    os.chmod(shared, 0o1777)
    os.chown(shared, 12345, 12345)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    os.symlink(victim, shared / "m.h5")
    os.lchown(shared / "m.h5", 65534, 65534)
    with pytest.raises(PermissionError, match="symbolic link another user owns"):
        model_().save(shared / "m.h5")
    assert victim.read_text() == "keep me" and os.path.islink(shared / "m.h5")


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_target_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    path = tmp_path / "m.h5"
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    with pytest.raises(OSError, match="gpunet replaces only regular files") as err:
        model_().save(path)
    assert err.value.filename == str(path)
    assert stat.S_ISFIFO(os.stat(path).st_mode) if kind == "fifo" else path.is_dir()


def test_a_full_disk_raises_os_error_with_errno_and_path_and_keeps_the_old_file(tmp_path):
    script = textwrap.dedent("""
        import os, resource, signal, sys
        import numpy as np
        from gpunet.layers import Dense
        from gpunet.models import Sequential
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        model = Sequential([Dense(256, input_dim=256), Dense(256)])
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        for path in sys.argv[1:]:
            try:
                model.save(path)
            except OSError as exc:
                print(type(exc).__name__, exc.errno, exc.filename)
            else:
                print("saved")
        """)
    paths = [tmp_path / "m.h5", tmp_path / "m.keras"]
    for path in paths:
        Sequential([Dense(2, input_dim=3)]).save(path)
    before = [p.read_bytes() for p in paths]
    out = subprocess.run([sys.executable, "-c", script, *map(str, paths)], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, GPUNET_BACKEND="numpy"))  # (no CUDA kernel cache writes)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"OSError {errno.EFBIG} {p}" for p in paths]
    assert [p.read_bytes() for p in paths] == before
    assert sorted(os.listdir(tmp_path)) == ["m.h5", "m.keras"]


# ---- gpunet convert ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dst, existing", [("out.keras", "out.keras"), ("out.h5", "out.h5"),
                                           ("out.json", "out.json"), ("out.json", "out.weights.h5"),
                                           ("out.yaml", "out.weights.h5")])
def test_convert_refuses_an_existing_destination_unless_overwrite(tmp_path, capsys, dst, existing):
    model = model_()
    model.save(tmp_path / "src.h5")
    (tmp_path / existing).write_bytes(b"precious")
    assert cli_main(["convert", str(tmp_path / "src.h5"), str(tmp_path / dst)]) == 1
    err = capsys.readouterr().err
    assert f"{str(tmp_path / existing)!r} already exists" in err and "--overwrite" in err
    assert (tmp_path / existing).read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == sorted({"src.h5", existing})
    assert cli_main(["convert", str(tmp_path / "src.h5"), str(tmp_path / dst), "--overwrite"]) == 0
    assert (tmp_path / existing).read_bytes() != b"precious"
    if dst.endswith(".keras") or dst.endswith(".h5"):
        assert np.array_equal(load_model(tmp_path / dst).predict(X, verbose=0), model.predict(X, verbose=0))


def test_convert_refuses_a_destination_that_is_the_source_through_a_link(tmp_path):
    model_().save(tmp_path / "src.h5")
    os.symlink(tmp_path / "src.h5", tmp_path / "alias.h5")
    before = (tmp_path / "src.h5").read_bytes()
    assert cli_main(["convert", str(tmp_path / "src.h5"), str(tmp_path / "alias.h5"), "--overwrite"]) == 1
    assert (tmp_path / "src.h5").read_bytes() == before


def test_a_folder_the_user_cannot_write_is_named_in_the_error_not_the_temporary_file():
    """As a user without write access to the folder (root saves from a child process turned
    'nobody'), save raises PermissionError naming the target and the folder, never the temporary
    file it could not create, and leaves nothing behind."""
    import shutil
    import tempfile
    from gpunet.layers import Dense
    from gpunet.models import Sequential
    top = tempfile.mkdtemp(prefix="gpunet-perm-")  # world-traversable, unlike pytest's tmp_path
    try:
        os.chmod(top, 0o755)
        folder = os.path.join(top, "readonly")
        os.mkdir(folder, 0o555)
        os.chmod(folder, 0o555)
        target = os.path.join(folder, "model.h5")
        model = Sequential([Dense(1, input_dim=2)])
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: drop root, try the save, report, exit without running pytest's teardown
            try:
                os.close(read)
                if os.geteuid() == 0:
                    os.setgid(65534)
                    os.setuid(65534)
                try:
                    model.save(target)
                    message = "saved"
                except PermissionError as exc:
                    message = f"filename {exc.filename}\nmessage {exc}"
                except BaseException as exc:  # noqa: BLE001 - reported to the parent
                    message = f"other {type(exc).__name__}: {exc}"
                os.write(write, message.encode())
            finally:
                os._exit(0)
        os.close(write)
        with os.fdopen(read) as f:
            out = f.read()
        os.waitpid(pid, 0)
        assert f"filename {target}" in out, out
        assert f"cannot write into the folder '{folder}'" in out and ".tmp" not in out, out
        assert os.listdir(folder) == []
    finally:
        os.chmod(os.path.join(top, "readonly"), 0o755)
        shutil.rmtree(top)
