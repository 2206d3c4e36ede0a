"""Reading an OpenAI-style SSE stream as it arrives: the first token, errors, usage, tool calls."""

from __future__ import annotations

import json

from freemodels.core.probe.failure import error_message

TOOL_NAME = "get_time"
"""The function the tool-call probe offers; a well-formed call names it."""

# Chunks that carry something besides text (an error, usage counts, a tool call) are parsed.
_MUST_PARSE = (b'"error"', b'"usage"', b'"tool_calls"')


class SseReader:
    """Incremental SSE reader: finds the first token, errors, usage and tool calls."""

    __slots__ = (
        "buffer",
        "chunks",
        "completion_tokens",
        "done",
        "error",
        "first_at",
        "last_at",
        "size",
        "tool_args",
        "tool_name",
    )

    def __init__(self) -> None:
        self.buffer = b""
        self.size = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.chunks = 0
        self.completion_tokens: int | None = None
        self.error: str | None = None
        self.done = False
        self.tool_name: str | None = None
        self.tool_args = ""

    def feed(self, data: bytes, now: float) -> None:
        """Consume bytes received at `now` (perf_counter seconds)."""
        self.size += len(data)
        self.buffer += data
        if b"\n" not in data:
            return
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"data:"):
                self._event(line[5:].strip(), now)
                if self.done or self.error:
                    return

    def _event(self, payload: bytes, now: float) -> None:
        if payload == b"[DONE]":
            self.done = True
            return
        if self.first_at is not None and not any(mark in payload for mark in _MUST_PARSE):
            # After the first token, a plain content chunk needs counting, not parsing: parsing
            # every chunk was a fifth of a probe's CPU.
            if b'"content":"' in payload or b'"reasoning_content":"' in payload:
                self._token(now)
            return
        try:
            event = json.loads(payload)
        except ValueError:
            self.error = "malformed SSE event"
            return
        if not isinstance(event, dict):
            self.error = "malformed SSE event"
            return
        if event.get("error"):
            self.error = "error event: " + error_message(event)
            return
        usage = event.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            self.completion_tokens = usage["completion_tokens"]
        choices = event.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            return
        delta = choices[0].get("delta") or {}
        if not isinstance(delta, dict):
            return
        if delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning"):
            self._token(now)
        for call in delta.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                self.tool_name = self.tool_name or function.get("name")
                self.tool_args += function.get("arguments") or ""
                self._token(now)

    def _token(self, now: float) -> None:
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        self.chunks += 1

    @property
    def tool_call_ok(self) -> bool:
        """Whether a well-formed call of our tool arrived (a name and JSON-object arguments)."""
        if self.tool_name != TOOL_NAME:
            return False
        try:
            return isinstance(json.loads(self.tool_args or "{}"), dict)
        except ValueError:
            return False
