"""A committed answer's stream: the events after the first content, read as they come.

`Opened.batches()` hands the relay the data of every event of one upstream read at a time, so
it writes each read in one system call and never holds an event back; only events that may
carry an error or usage are parsed. After [DONE], `aclose()` reads the chunked terminator and
gives the connection back to the pool.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from freemodels.core.probe.failure import ERROR_TEXT_MAX, error_message
from freemodels.core.probe.lean_wire import LeanResponse
from freemodels.servers.router.sse import EventSplitter

DRAIN_S = 1.0
DRAIN_MAX = 64 * 1024


class EventStreamResponse(web.StreamResponse):
    """A relayed event stream whose head leaves with its first events, in one system call.

    The router answers only once the first content is in hand, so a head sent alone gains the
    client nothing: aiohttp's StreamResponse sends it at prepare(), one more send per request
    (with 50 streams at once, each send delays the others' first tokens). aiohttp's own
    web.Response holds its head for the body the same way, through this class attribute; where
    a later aiohttp drops it, the head simply goes out at prepare() again.
    """

    _send_headers_immediately = False

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **headers}
        )


class StreamBroken(Exception):
    """The upstream stream failed after it had committed (an error event, a cut, a stall)."""


@dataclass(slots=True)
class Opened:
    """An attempt that committed: its first content is in `held`, the rest still upstream."""

    response: LeanResponse | None
    splitter: EventSplitter
    held: list[str]
    """The data of the events up to the first content, and of any that came in the same read."""
    status: int
    t0: float
    headers_ms: float
    ttft_ms: float
    usage: dict[str, Any] | None = None
    finished: bool = False
    total_ms: float | None = field(default=None)
    secret: str | None = field(default=None, repr=False)
    """The provider's key, cut out of any error text the stream carries (servers echo keys)."""
    idle_s: float = 120.0
    """The longest wait for the next read (Timeouts.idle_s)."""

    async def batches(self) -> AsyncIterator[list[str]]:
        """The data of each event from the first content on, one list per upstream read (so a
        relay writes once per read, never holding an event back); StreamBroken on a failure,
        after the events that came before it.

        Only events that may carry an error or usage are parsed here: relaying the rest costs
        no JSON decoding.
        """
        held, self.held = self.held, []
        batch, broken = self._check(held)
        if batch:
            yield batch
        if broken is not None:
            raise StreamBroken(broken)
        if self.finished or self.response is None:
            self._end()
            return
        response = self.response
        try:
            while raw := await response.read(self.idle_s):
                batch, broken = self._check(self.splitter.feed(raw))
                if batch:
                    yield batch
                if broken is not None:
                    raise StreamBroken(broken)
                if self.finished:
                    return
        except TimeoutError:
            raise StreamBroken(f"the upstream stream stalled ({self.idle_s:g} s)") from None
        except OSError as exc:  # reset, cut mid-chunk, a malformed answer
            raise StreamBroken(f"the upstream stream broke ({describe_error(exc)})") from None
        # EOF without [DONE]: some servers end that way after a finish_reason; accept it.
        self._end()

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        """Every chunk of the answer from the first content on, parsed."""
        async for batch in self.batches():
            for data in batch:
                parsed = parse_json(data)
                if parsed:
                    yield parsed

    def _check(self, events: list[str]) -> tuple[list[str], str | None]:
        """The events up to [DONE] or an error event (and that error's text); usage noted."""
        for position, data in enumerate(events):
            if data == "[DONE]":
                self._end()
                return events[:position], None
            if '"error"' in data or carries_usage(data):
                parsed = parse_json(data)
                if parsed is None:
                    continue
                if "error" in parsed and not parsed.get("choices"):
                    text = short_text(error_message(parsed))
                    if self.secret:
                        text = text.replace(self.secret, "[redacted]")
                    return events[:position], text
                if isinstance(parsed.get("usage"), dict):
                    self.usage = parsed["usage"]
        return events, None

    def _end(self) -> None:
        self.finished = True
        self.total_ms = round((time.perf_counter() - self.t0) * 1000.0, 3)

    def close(self) -> None:
        """Drop the connection (cancels the upstream request); nothing once given back."""
        response, self.response = self.response, None
        if response is not None:
            response.close()

    async def aclose(self) -> None:
        """After the whole answer: read what follows [DONE] (the chunked terminator, most often
        already in) and give the connection back for the next request; a response left unread
        would cost it."""
        response = self.response
        if response is not None and self.finished and not response.done:
            drained = 0
            # A stall or a cut (TimeoutError is an OSError) leaves it unread: closed below.
            with contextlib.suppress(OSError):
                while drained < DRAIN_MAX and (piece := await response.read(DRAIN_S)):
                    drained += len(piece)
        self.close()


def carries_usage(data: str) -> bool:
    """Whether an event's text may hold a usage object. OpenAI's streams, asked for usage, put
    `"usage":null` in every chunk: those are relayed without a JSON parse. (A quote inside a
    JSON string is escaped, so content cannot spell these.)"""
    return '"usage"' in data and '"usage":null' not in data and '"usage": null' not in data


def parse_json(data: str) -> dict[str, Any] | None:
    """The JSON object in `data`, or None."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def short_text(text: str) -> str:
    """One line, at most the error-text cap."""
    return " ".join(text.split())[:ERROR_TEXT_MAX]


def describe_error(exc: BaseException) -> str:
    """A network failure in words: its class and message."""
    name = type(exc).__name__
    text = str(exc)
    return f"{name}: {text}" if text else name
