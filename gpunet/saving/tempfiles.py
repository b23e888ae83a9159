"""The temporary files that atomic saves write, and the removal of those a killed save left behind.

A save writes ``.<name>.<12 hex>.tmp`` beside its target and renames it over the target at the
end (`files.atomic_path`). A process killed mid-save (SIGKILL, OOM, power loss) leaves that
file. While a save writes it, the save holds an exclusive ``flock`` on it; the kernel drops the
lock when the process dies, however it dies. So a later successful save of the same target
removes a temporary file of that target only when (1) nobody holds its lock and (2) it was last
modified more than `STALE_AFTER_S` ago: a file another process is writing right now is never
touched. Where ``flock`` is unavailable (Windows) or refused (some network filesystems),
nothing is removed.
"""
import logging
import os
import re
import secrets
import time

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

log = logging.getLogger("gpunet.saving")
STALE_AFTER_S = 600.0
_PREFIX_CHARS = 40  # keeps temporary names under the 255-byte limit for long file names


def _prefix(base):
    return f".{base[:_PREFIX_CHARS]}."


def create(folder, base, mode=0o666):
    """Create a new temporary file for target ``base`` in ``folder``; returns ``(path, fd)``.

    ``fd`` holds the file's lock until it is closed (None where files cannot be locked): close
    it only once the file has been renamed or removed. ``mode`` goes through the umask, as for
    ``open()``: 0o666 gives a new file the permissions a plain open() would give it."""
    path = os.path.join(folder, f"{_prefix(base)}{secrets.token_hex(6)}.tmp")
    # O_EXCL: never clobber a file someone else created.
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), mode)
    if fcntl is None:
        os.close(fd)  # Windows: an open handle would block the final rename
        return path, None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pass  # no locks here: the file is still safe, only never cleaned up by others
    return path, fd


def remove_stale(folder, base, now=None):
    """Remove the temporary files a killed save of target ``base`` left in ``folder`` (unlocked and
    older than `STALE_AFTER_S`); returns their paths."""
    if fcntl is None:
        return []
    pattern = re.compile(re.escape(_prefix(base)) + r"[0-9a-f]{12}\.tmp\Z")
    try:
        names = [n for n in os.listdir(folder) if pattern.match(n)]
    except OSError:
        return []
    now = time.time() if now is None else now
    removed = []
    for name in names:
        path = os.path.join(folder, name)
        if _remove_if_abandoned(path, now):
            removed.append(path)
    if removed:
        log.info("Removed %d temporary file(s) left by interrupted saves: %s", len(removed), ", ".join(removed))
    return removed


def _remove_if_abandoned(path, now):
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if now - st.st_mtime < STALE_AFTER_S:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a save in progress holds it (or locks do not work here)
        if os.stat(path).st_ino != st.st_ino:
            return False  # renamed or replaced since we opened it
        os.remove(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
