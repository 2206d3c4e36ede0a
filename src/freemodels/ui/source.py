"""Where the dashboard's Snapshots come from: the Monitor, or a hand-fed source in tests.

`SnapshotSource` is the slice of `freemodels.core.monitor.monitor.Monitor` the dashboard uses; the
monitor satisfies it as is. `ManualSource` satisfies it too: tests and the render benchmark push
canned Snapshots into it and read back the intents the app sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from freemodels.core.monitor.broadcast import Subscriber, Subscribers
from freemodels.core.records import ModelRef, Snapshot


class SnapshotSource(Protocol):
    """Publishes Snapshots and takes the dashboard's requests; every method is thread-safe."""

    @property
    def snapshot(self) -> Snapshot:
        """The newest Snapshot."""
        ...

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback` with every new Snapshot; returns the unsubscribe function."""
        ...

    def probe_now(self, ref: ModelRef | None = None) -> None:
        """Re-probe one model, or every model, as soon as the budgets allow."""
        ...

    def speed_test(self, ref: ModelRef) -> None:
        """Measure one model's decode speed as soon as its budget allows."""
        ...

    def tool_test(self, ref: ModelRef) -> None:
        """Check one model's function calling as soon as its budget allows."""
        ...

    def set_favourites(self, refs: Iterable[ModelRef]) -> None:
        """Models to probe first within each turn."""
        ...


class ManualSource:
    """A SnapshotSource fed by hand; records every request it receives."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._subscribers = Subscribers()
        self.requests: list[tuple[str, str | None]] = []
        """(kind, "provider/model" or None) for each probe_now/speed_test/tool_test call."""
        self.favourites: tuple[str, ...] = ()

    @property
    def snapshot(self) -> Snapshot:
        """The newest Snapshot pushed."""
        return self._snapshot

    def push(self, snapshot: Snapshot) -> None:
        """Publish a Snapshot to every subscriber (on the caller's thread, like the monitor)."""
        self._snapshot = snapshot
        self._subscribers.publish(snapshot)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback` with every pushed Snapshot."""
        return self._subscribers.add(callback)

    def probe_now(self, ref: ModelRef | None = None) -> None:
        """Record a re-probe request."""
        self.requests.append(("probe", None if ref is None else str(ref)))

    def speed_test(self, ref: ModelRef) -> None:
        """Record a speed test request."""
        self.requests.append(("speed", str(ref)))

    def tool_test(self, ref: ModelRef) -> None:
        """Record a tool-call test request."""
        self.requests.append(("tools", str(ref)))

    def set_favourites(self, refs: Iterable[ModelRef]) -> None:
        """Remember the favourites handed over."""
        self.favourites = tuple(str(r) for r in refs)
