"""SnapStart without AWS: a function's init, its snapshot, and execution environments restored from it.

Lambda publishes a version by running init once, then the `snapshot_restore_py` before-snapshot
hooks (in the reverse order of registration), then snapshots the memory; each execution environment
it starts from that snapshot runs the after-restore hooks (in order of registration) before its
first request. Here the snapshot is this process after the before-snapshot hooks, and each restored
environment is a fork of it: its memory starts as an exact copy, as a restored microVM's does (the
one thing a fork changes by itself, `random`'s state, is put back).
"""

from __future__ import annotations

import os
import pickle
import random
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import snapshot_restore_py

T = TypeVar("T")


def take_snapshot() -> None:
    """Run the before-snapshot hooks as Lambda does when it publishes a version."""
    for hook, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):  # type: ignore[misc]
        hook(*args, **kwargs)


def _after_restore() -> None:
    for hook, args, kwargs in snapshot_restore_py.get_after_restore():  # type: ignore[misc]
        hook(*args, **kwargs)


def restore(run: Callable[[], T], copies: int = 2) -> list[T]:
    """Start `copies` environments from the snapshot (this process, forked); each runs the after-restore hooks,
    then `run()`, whose (picklable) result comes back. An exception in a copy is raised here."""
    results: list[T] = []
    # A fork reseeds `random` in the child (the module registers that at fork); a restored microVM does not.
    snapshot_random_state = random.getstate()
    for _ in range(copies):
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the restored copy
            os.close(reader)
            outcome: tuple[str, Any]
            random.setstate(snapshot_random_state)
            try:
                _after_restore()
                outcome = ("ok", run())
            except BaseException as error:
                # Type and frames only: an exception's message may quote personal data.
                outcome = ("error", type(error).__name__ + "\n" + "".join(traceback.format_tb(error.__traceback__)))
            with os.fdopen(writer, "wb") as channel:
                pickle.dump(outcome, channel)
            os._exit(0)
        os.close(writer)
        with os.fdopen(reader, "rb") as channel:
            status, value = pickle.load(channel)  # noqa: S301 - our own child's answer
        os.waitpid(pid, 0)
        if status != "ok":
            raise RuntimeError(f"a restored copy failed: {value}")
        results.append(value)
    return results
