"""Faults never hang a job.

- An uncaught exception on any rank prints its traceback, names the rank and aborts the whole
  job (`install_excepthook`): the other ranks would otherwise wait in their next collective forever.
- A collective that waits longer than ``GPUNET_DIST_TIMEOUT`` seconds (default 300) means another
  rank is not taking part (it exited early, hangs, was cut off, or is in another collective: one
  step short): one daemon thread per process sees it, prints what this rank waits in and its
  stacks, and aborts the job with a non-zero exit after a grace period in which the other waiting
  ranks say the same, so that the message names both sides.

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
GRACE = 2.0
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
            what = " ".join(map(str, waiting[0])) if isinstance(waiting[0], tuple) else waiting[0]
            sys.stderr.write(f"\ngpunet.distribute: rank {world.rank} of {world.size} has waited more than "
                             f"{timeout:g} s in {what} (GPUNET_DIST_TIMEOUT): another rank is not taking part "
                             f"(it exited, hangs, died, or is at another step). Aborting the job. Stacks of rank {world.rank}:\n")
            sys.stderr.flush()
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
            time.sleep(GRACE)  # the other waiting ranks time out about now: let them say where they wait
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
