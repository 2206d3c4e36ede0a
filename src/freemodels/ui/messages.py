"""Events the dashboard's parts tell each other, as small past-tense message dataclasses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.message import Message

from freemodels.core.keys.lookup import KeyStatus
from freemodels.core.records import ModelRef, Snapshot
from freemodels.core.store.insights import ModelRhythm


@dataclass
class SnapshotReady(Message):
    """The monitor published a new Snapshot (posted from the monitor's thread)."""

    snapshot: Snapshot

    def can_replace(self, message: Message) -> bool:
        # Only the newest Snapshot matters: a burst collapses into its last one.
        return isinstance(message, SnapshotReady)


@dataclass
class KeysLoaded(Message):
    """The key chain was read: which providers have a key, from where (masked)."""

    statuses: tuple[KeyStatus, ...]


@dataclass
class MonitorFailed(Message):
    """The monitor thread stopped with an error."""

    text: str


@dataclass
class HistoryRequested(Message):
    """The user asked for a model's history screen (`h`)."""

    ref: ModelRef


@dataclass
class RhythmsLoaded(Message):
    """Every model's trend and usual fastest hours were read from the history."""

    rhythms: Mapping[tuple[str, str], ModelRhythm]
