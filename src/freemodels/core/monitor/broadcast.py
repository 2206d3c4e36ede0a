"""Handing each new Snapshot to its subscribers, from whichever thread publishes it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from freemodels.core.records import Snapshot

Subscriber = Callable[[Snapshot], None]


class Subscribers:
    """A thread-safe list of callbacks, called in order with each published Snapshot."""

    def __init__(self) -> None:
        self._callbacks: list[Subscriber] = []
        self._lock = threading.Lock()

    def add(self, callback: Subscriber) -> Callable[[], None]:
        """Register `callback`; returns the function that unregisters it."""
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def publish(self, snapshot: Snapshot) -> None:
        """Call every callback (on the caller's thread); a callback may unsubscribe meanwhile."""
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback(snapshot)
