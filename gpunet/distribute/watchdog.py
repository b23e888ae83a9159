"""Faults never hang a job.

- An uncaught exception on any rank prints its traceback, names the rank and aborts the whole
  job (`install_excepthook`): the other ranks would otherwise wait in their next collective forever.
- A collective that waits longer than ``GPUNET_DIST_TIMEOUT`` seconds (default 300) means another
  rank has stopped taking part (it exited early, hangs, or was cut off): one daemon thread per
  process sees it, prints this rank's stacks and aborts the job with a non-zero exit.

Watching the time spent in one blocking collective costs two clock reads a step; polling
non-blocking collectives instead measured 3-4x slower here.
"""
import atexit
import faulthandler
import os
import sys
import threading
import time

DEFAULT_TIMEOUT = 300.0
_waiting = [None]  # (what, since) while this rank is inside a collective, else None
busy = [None]  # what this rank is in the middle of ("a fit epoch"), for the message when it exits there


def timeout_seconds():
    """``GPUNET_DIST_TIMEOUT`` as seconds (a positive number), default 300."""
    raw = os.environ.get("GPUNET_DIST_TIMEOUT", "")
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"GPUNET_DIST_TIMEOUT must be a positive number of seconds, received {raw!r}")
    return value


class collective:
    """``with collective("allreduce"): ...`` marks the time this rank waits for the others."""
    __slots__ = ("what",)

    def __init__(self, what):
        self.what = what

    def __enter__(self):
        _waiting[0] = (self.what, time.monotonic())

    def __exit__(self, *exc):
        _waiting[0] = None


def start(world, timeout):
    """Start the watchdog thread for ``world`` (once per process)."""
    def watch():
        period = min(1.0, timeout / 10)
        while True:
            time.sleep(period)
            waiting = _waiting[0]
            if waiting is None or time.monotonic() - waiting[1] <= timeout:
                continue
            sys.stderr.write(f"\ngpunet.distribute: rank {world.rank} of {world.size} has waited more than "
                             f"{timeout:g} s in {waiting[0]} (GPUNET_DIST_TIMEOUT): another rank stopped taking part "
                             f"(it exited, hangs or died). Aborting the job. Stacks of rank {world.rank}:\n")
            sys.stderr.flush()
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            world.abort(1)

    thread = threading.Thread(target=watch, name="gpunet-distribute-watchdog", daemon=True)
    thread.start()
    return thread


def install_excepthook(world):
    """Abort the whole job when this rank dies of an uncaught exception."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        sys.stderr.write(f"gpunet.distribute: rank {world.rank} of {world.size} failed with {kind.__name__}: "
                         f"aborting the job.\n")
        world.abort(1)

    sys.excepthook = hook

    def leaving():
        if busy[0] is not None:
            sys.stderr.write(f"gpunet.distribute: rank {world.rank} of {world.size} exits in the middle of "
                             f"{busy[0]}: the other ranks wait for it, then abort after GPUNET_DIST_TIMEOUT.\n")
            sys.stderr.flush()

    atexit.register(leaving)
