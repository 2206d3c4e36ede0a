"""JSON lines of model updates (`watch --json-lines`): one record per new latest sample."""

from __future__ import annotations

import json
from typing import Protocol

from freemodels.core.records import ModelRef, Snapshot
from freemodels.core.report import to_record


class Writable(Protocol):
    """A text stream (stdout)."""

    def write(self, text: str, /) -> int:
        """Write text."""
        ...

    def flush(self) -> None:
        """Push buffered text out."""
        ...


class UpdateWriter:
    """Writes a model's record whenever its latest sample changes; subscribe `observe`."""

    def __init__(self, stream: Writable) -> None:
        self._stream = stream
        self._latest: dict[ModelRef, float] = {}

    def observe(self, snapshot: Snapshot) -> int:
        """Write the records of the models whose latest sample is new; returns how many."""
        lines = []
        for position, row in enumerate(snapshot.rows, 1):
            if row.last_at is None:
                continue
            ref = row.ref
            if self._latest.get(ref) == row.last_at:
                continue
            self._latest[ref] = row.last_at
            lines.append(json.dumps(to_record(row, position), ensure_ascii=False))
        if lines:
            # One write and one flush per Snapshot: a reader sees whole lines, promptly.
            self._stream.write("".join(f"{line}\n" for line in lines))
            self._stream.flush()
        return len(lines)
