"""Server-sent events: split an upstream byte stream into the `data` of each event."""

from __future__ import annotations


class EventSplitter:
    """Feeds on raw bytes, gives back each complete event's data (comments and fields ignored).

    Lines are split by hand rather than with the reader's readline: an event may be longer than
    aiohttp's line limit (a large tool call's arguments arrive in one event).
    """

    __slots__ = ("_data", "_partial")

    def __init__(self) -> None:
        self._partial = b""
        self._data: list[str] = []

    def feed(self, raw: bytes) -> list[str]:
        """The data of every event completed by `raw`, in order."""
        buffer = self._partial + raw if self._partial else raw
        lines = buffer.split(b"\n")
        self._partial = lines.pop()
        events: list[str] = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                if value.startswith(b" "):
                    value = value[1:]
                self._data.append(value.decode("utf-8", "replace"))
        return events
