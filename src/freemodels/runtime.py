"""The process's event loop and garbage collector, tuned for hundreds of sockets at once.

uvloop (libuv) runs the same asyncio code with a fraction of the event loop's CPU per callback;
it is a dependency wherever it builds (not on Windows). FREEMODELS_LOOP=asyncio turns it off.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import select
import sys
import warnings
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

# Objects allocated before the young generation is collected, during a sweep. A probe makes a few
# hundred short-lived objects and almost no cycles: the default (700) ran a collection every
# couple of probes, each walking everything the imports made.
SWEEP_GC_THRESHOLD = 50_000


def install_event_loop() -> str:
    """Make uvloop the loop of every asyncio.run in this process when it is available; returns
    the name of the loop in use ("uvloop" or "asyncio")."""
    if os.environ.get("FREEMODELS_LOOP") == "asyncio" or sys.platform == "win32":
        return "asyncio"
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    import asyncio

    with warnings.catch_warnings():
        # Python 3.14 deprecates loop policies; uvloop still works through one meanwhile.
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    whole_writes()
    return "uvloop"


class _WholeWrites(io.RawIOBase):
    """A file descriptor whose write() returns only once every byte is written (and whose
    close() leaves the descriptor open: it is the process's own stdout or stderr)."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            try:
                done += os.write(self._fd, view[done:])
            except BlockingIOError:
                select.select([], [self._fd], [])
        return done


def whole_writes() -> None:
    """Make stdout and stderr write everything they are given, when they are pipes or files.

    After uvloop has run, a write to a full pipe can come back short (a 69 KB `check --json`
    read by a slow reader arrived as its first 64 KiB), and Python's buffered writer passes the
    short count on to a text layer that ignores it: the rest was silently dropped, exit 0. A
    terminal is left alone (Textual and rich write to it as they always have), and so is a stream
    somebody already replaced (pytest's capture).
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or stream is not getattr(sys, f"__{name}__"):
            continue
        if not isinstance(stream, io.TextIOWrapper) or stream.isatty():
            continue
        stream.flush()
        wrapped = io.TextIOWrapper(
            io.BufferedWriter(_WholeWrites(stream.fileno())),
            encoding=stream.encoding,
            errors=stream.errors,
            line_buffering=stream.line_buffering,
            write_through=stream.write_through,
        )
        setattr(sys, name, wrapped)
        setattr(sys, f"__{name}__", wrapped)


@contextlib.contextmanager
def sweep_gc() -> Iterator[None]:
    """Collect rarely while a sweep runs, and never look at what the imports made again."""
    threshold = gc.get_threshold()
    gc.freeze()  # everything alive now (modules, the catalog) is skipped by every collection
    gc.set_threshold(max(threshold[0], SWEEP_GC_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        # Leaving at once, nothing is collected any more: restored thresholds would only start
        # a full collection of everything the imports made on the way out.
        if not _leaving_at_once:
            gc.set_threshold(*threshold)
            gc.unfreeze()


# Set by the console script when it will leave with os._exit (freemodels.cli.entry): then what
# only a tidy shutdown needs (closing sockets one by one, checkpointing SQLite's log into the
# database file, closing the event loop) can be left to the process's end.
_leaving_at_once = False


def leave_at_once() -> None:
    """Say that the process ends with os._exit once the command returns."""
    global _leaving_at_once
    _leaving_at_once = True


def leaving_at_once() -> bool:
    """Whether the process ends with os._exit once the command returns (see `leave_at_once`)."""
    return _leaving_at_once


def run(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, less the loop's teardown when the process leaves at once: the default
    executor's threads are still ended (a live one would make the exit wait), the rest is not."""
    import asyncio  # here: the commands that import this module without a loop skip asyncio

    if not _leaving_at_once:
        return asyncio.run(main)
    runner = asyncio.Runner()
    result = runner.run(main)
    loop = runner.get_loop()
    loop.run_until_complete(loop.shutdown_default_executor())
    return result
