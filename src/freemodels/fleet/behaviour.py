"""What a fake model does when asked (Behaviour), and what the fleet was asked (RequestRecord)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SHAPES = (
    "sse",  # a normal OpenAI stream: role chunk, content events, a stop chunk, [DONE]
    "json",  # a plain chat.completion body, even when the request asked for a stream
    "html",  # a 200 text/html page (a captive portal, a proxy's login page)
    "bad_json",  # a 200 application/json body that is not JSON
    "error_event",  # one content event, then `data: {"error": {...}}`
    "no_content",  # a role chunk, a stop chunk and [DONE], no content at all
    "forever",  # content events without end, until the client hangs up
    "keepalive_forever",  # SSE comment lines (": keep-alive") forever, never content
    "reset",  # the TCP connection is dropped without a response
    "huge",  # content events totalling more than 2 MiB, then [DONE]
)

Sampler = Callable[[random.Random, int], "Behaviour"]


@dataclass
class Behaviour:
    """How one fake model answers; tests mutate it between requests."""

    status: int = 200
    """HTTP status of the answer; anything but 200 sends an error body."""
    headers_delay_s: float = 0.0
    """Delay from the request's arrival to the response headers."""
    ttft_s: float = 0.05
    """Delay from the request's arrival to the first content event (the ground-truth TTFT)."""
    token_interval_s: float = 0.002
    """Delay between later content events."""
    tokens: int = 3
    """Number of content events (with `reasoning`, the first half carry reasoning_content)."""
    shape: str = "sse"
    """One of SHAPES."""
    role_chunk: bool = True
    """Send a role-only chunk right after the headers, as OpenAI does."""
    reasoning: bool = False
    """The first ceil(tokens / 2) events carry delta.reasoning_content instead of content."""
    retry_after: str | None = None
    """Retry-After header value on the answer (e.g. with 429)."""
    body: str | None = None
    """Error body for a status other than 200 (default: an OpenAI-style error JSON)."""
    redirect_to: str | None = None
    """Answer 307 with this Location instead."""
    echo_auth: bool = False
    """The error body echoes the Authorization header back (to test key redaction)."""
    usage: bool = True
    """Send a final usage chunk when the request asks for stream_options.include_usage."""
    tool_call: bool = False
    """When the request has `tools`, answer with a well-formed call of the first tool."""
    sampler: Sampler | None = None
    """If set, called per request with (rng, per-model request index) for the behaviour to use."""
    price: str | None = "0"
    """Per-token price listed by GET /models (OpenRouter style); "0" is free; None lists none."""
    listed: bool = True
    """Whether GET /models lists this model (a retired model is gone from the list)."""
    context: int | None = None
    """context_length listed by GET /models, when set."""
    keepalive_interval_s: float = 0.05
    """Delay between comment lines of the "keepalive_forever" shape."""
    real_status: int | None = None
    """Status for a user's request rather than a probe (one asking for more than 256 tokens, or
    setting no limit): a model that probes well but refuses real work, e.g. 429 past a quota."""
    reject_params: tuple[str, ...] = ()
    """Request fields this model refuses with a 400, as OpenAI's reasoning models refuse
    `max_tokens` and `temperature: 0` ("max_tokens", "temperature")."""
    max_output: int | None = None
    """Refuse with a 400, as OpenAI does, a request whose `max_tokens` (or
    `max_completion_tokens`) is above this many completion tokens."""

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"unknown shape {self.shape!r}; one of {', '.join(SHAPES)}")


@dataclass(slots=True)
class SentTimes:
    """When the fleet sent parts of its answer (time.monotonic() values; None until sent).

    Exact ground truth for timing tests: asyncio wakes up to ~1 ms after a deadline, so the first
    content event leaves at `first_content`, slightly after `RequestRecord.at + ttft_s`.
    """

    headers: float | None = None
    first_content: float | None = None
    end: float | None = None
    hung_up: float | None = None
    """When the client went away before the answer ended (its connection closed)."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the fleet received, recorded on arrival (before any delay)."""

    at: float  # time.monotonic() at arrival
    wall: float  # time.time() at arrival
    provider: str
    model: str | None  # from the JSON body; None for GET /models
    path: str  # "chat/completions", "models", or the raw path of an unknown route
    authorization: str | None
    body: dict[str, Any] | None
    sent: SentTimes = field(default_factory=SentTimes, compare=False)
    headers: dict[str, str] = field(default_factory=dict, compare=False)
    """The request's headers (the last value of a repeated one)."""
    peer: str | None = field(default=None, compare=False)
    """The client's `host:port`: requests on one kept-alive connection share it."""
