"""The process's event loop and garbage collector, tuned for hundreds of sockets at once.

uvloop (libuv) runs the same asyncio code with a fraction of the event loop's CPU per callback;
it is a dependency wherever it builds (not on Windows). FREEMODELS_LOOP=asyncio turns it off.
"""

from __future__ import annotations

import contextlib
import gc
import os
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
    return "uvloop"


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
