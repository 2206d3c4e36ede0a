"""Events and intents the dashboard's parts send upward, as small message dataclasses.

Screens and widgets post these and the app handles them (it owns the snapshot source, the
services and the preferences file), so nothing below the app imports it. Events are past tense
(`SnapshotReady`, `PreferencesChanged`); intents name what the user asked for (`UseRequested`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.message import Message

from freemodels.core.keys.lookup import KeyStatus
from freemodels.core.records import ModelRef, ProbeKind, Snapshot
from freemodels.core.store.insights import ModelRhythm
from freemodels.ui.preferences import Preferences


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
class PreferencesChanged(Message):
    """The user changed a remembered preference (sort, filters, favourites, tool)."""

    prefs: Preferences


@dataclass
class ProbeRequested(Message):
    """The user asked for a request now: a re-probe (of every model when `ref` is None), a
    decode-speed test or a tool-call test."""

    kind: ProbeKind
    ref: ModelRef | None = None


@dataclass
class UseRequested(Message):
    """The user asked to write `ref` (or, for a "via router" target, the router) into `tool`'s
    config (the app shows the change first)."""

    tool: str
    ref: ModelRef | None


class KeysRequested(Message):
    """The user asked for the provider keys screen."""


@dataclass
class HistoryRequested(Message):
    """The user asked for a model's history screen (`h`)."""

    ref: ModelRef


@dataclass
class RhythmsLoaded(Message):
    """Every model's trend and usual fastest hours were read from the history."""

    rhythms: Mapping[ModelRef, ModelRhythm]
