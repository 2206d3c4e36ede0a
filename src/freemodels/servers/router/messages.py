"""Anthropic Messages ↔ OpenAI chat completions: the request one way, the answer the other.

Request: `system` becomes a system message; text and image blocks become content parts;
`tool_use` blocks become the assistant's `tool_calls`; `tool_result` blocks become `tool`
messages (placed before the user's other content, as OpenAI wants them right after the call);
`thinking` blocks are dropped (no OpenAI-compatible model can take them back).
A model's `reasoning_content` comes back as a `thinking` block (with an empty signature). Tools and
tool_choice map one to one.

Answer: chunks become the Messages SSE sequence (`message_start`, a `content_block_start` /
`_delta` / `_stop` per text or tool_use block, `message_delta` with `stop_reason` and usage,
`message_stop`), or one `message` object when the client did not ask for a stream.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_PASSED = ("max_tokens", "temperature", "top_p", "stream")


def to_openai(body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI chat request for an Anthropic Messages request."""
    messages: list[dict[str, Any]] = []
    system = _text_of(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in body.get("messages") or ():
        if isinstance(message, dict):
            messages.extend(_message(message))
    sent: dict[str, Any] = {key: body[key] for key in _PASSED if key in body}
    sent["messages"] = messages
    if isinstance(body.get("stop_sequences"), list):
        sent["stop"] = body["stop_sequences"]
    tools = [_tool(tool) for tool in body.get("tools") or () if _is_function_tool(tool)]
    if tools:
        sent["tools"] = tools
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            mapped = _tool_choice(choice)
            if mapped is not None:
                sent["tool_choice"] = mapped
            if choice.get("disable_parallel_tool_use"):
                sent["parallel_tool_calls"] = False
    return sent


def _message(message: dict[str, Any]) -> list[dict[str, Any]]:
    role = "assistant" if message.get("role") == "assistant" else "user"
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        return [{"role": role, "content": ""}]
    if role == "assistant":
        return [_assistant(content)]
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_result":
            text = _text_of(block.get("content"))
            if block.get("is_error"):
                text = f"[error] {text}"
            results.append(
                {"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text}
            )
        elif kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            url = _image_url(block.get("source"))
            if url is not None:
                parts.append({"type": "image_url", "image_url": {"url": url}})
    out = list(results)
    if parts:
        only_text = all(part["type"] == "text" for part in parts)
        joined = "\n".join(part["text"] for part in parts) if only_text else None
        out.append({"role": "user", "content": joined if only_text else parts})
    return out


def _assistant(content: list[Any]) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            calls.append({
                "id": str(block.get("id", "")),
                "type": "function",
                "function": {
                    "name": str(block.get("name", "")),
                    "arguments": json.dumps(block.get("input") or {}),
                },
            })  # fmt: skip
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(
            str(block.get("text", ""))
            for block in value
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def _image_url(source: Any) -> str | None:
    if not isinstance(source, dict):
        return None
    if source.get("type") == "base64":
        return f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return str(source["url"])
    return None


def _is_function_tool(tool: Any) -> bool:
    # Server tools (web search, code execution) have no schema: no model here can run them.
    return isinstance(tool, dict) and "input_schema" in tool and bool(tool.get("name"))


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool["name"], "parameters": tool.get("input_schema") or {}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: dict[str, Any]) -> Any:
    kind = choice.get("type")
    if kind == "tool" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    return {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))


# -- the answer --------------------------------------------------------------------------------


def message_id() -> str:
    """A fresh Messages id."""
    return f"msg_{uuid.uuid4().hex[:24]}"


def usage_of(usage: dict[str, Any] | None, tokens_in: int, tokens_out: int) -> dict[str, int]:
    """Anthropic usage numbers from OpenAI's (estimates when upstream sent none)."""
    usage = usage or {}
    return {
        "input_tokens": int(usage.get("prompt_tokens") or tokens_in),
        "output_tokens": int(usage.get("completion_tokens") or tokens_out),
    }


def message(
    model: str,
    text: str,
    calls: list[dict[str, Any]],
    finish_reason: str | None,
    usage: dict[str, int],
    reasoning: str = "",
) -> dict[str, Any]:
    """A whole Messages `message` object."""
    content: list[dict[str, Any]] = []
    if reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    if text:
        content.append({"type": "text", "text": text})
    for call in calls:
        function = call.get("function") or {}
        content.append({
            "type": "tool_use",
            "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
            "name": function.get("name", ""),
            "input": _arguments(function.get("arguments", "")),
        })  # fmt: skip
    return {
        "id": message_id(),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS.get(finish_reason or "stop", "end_turn"),
        "stop_sequence": None,
        "usage": usage,
    }


def _arguments(text: str) -> Any:
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        return {"arguments": text}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


class EventStream:
    """Turns OpenAI chunks into Messages SSE events, block by block."""

    def __init__(self, model: str, input_tokens: int) -> None:
        self.model = model
        self.input_tokens = input_tokens
        self._index = -1
        self._open: str | None = None  # "text", or the OpenAI index of the open tool call
        self.finish_reason: str | None = None
        self.produced = 0

    def start(self) -> bytes:
        """The `message_start` event."""
        return event("message_start", {
            "type": "message_start",
            "message": {
                "id": message_id(), "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": self.input_tokens, "output_tokens": 0},
            },
        })  # fmt: skip

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        """The events for one OpenAI chunk (often one delta, sometimes none)."""
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return b""
        choice = choices[0]
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return b""
        out: list[bytes] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self.produced += 1
            if self._open != "thinking":
                block = {"type": "thinking", "thinking": "", "signature": ""}
                out.append(self._begin("thinking", block))
            out.append(self._delta({"type": "thinking_delta", "thinking": reasoning}))
        text = delta.get("content")
        if isinstance(text, str) and text:
            self.produced += 1
            if self._open != "text":
                out.append(self._begin("text", {"type": "text", "text": ""}))
            out.append(self._delta({"type": "text_delta", "text": text}))
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                out.append(self._tool_delta(call))
        return b"".join(out)

    def _tool_delta(self, call: dict[str, Any]) -> bytes:
        self.produced += 1
        out: list[bytes] = []
        key = f"tool{call.get('index', 0)}"
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        assert isinstance(function, dict)
        if self._open != key:
            block = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}",
                "name": function.get("name", ""),
                "input": {},
            }
            out.append(self._begin(key, block))
        arguments = function.get("arguments")
        if arguments:
            out.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
        return b"".join(out)

    def _begin(self, key: str, block: dict[str, Any]) -> bytes:
        closing = self._close()
        self._index += 1
        self._open = key
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        return closing + event("content_block_start", start)

    def _delta(self, delta: dict[str, Any]) -> bytes:
        data = {"type": "content_block_delta", "index": self._index, "delta": delta}
        return event("content_block_delta", data)

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        self._open = None
        return event("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def end(self, usage: dict[str, Any] | None) -> bytes:
        """The closing events: the last block's stop, `message_delta`, `message_stop`."""
        numbers = usage_of(usage, self.input_tokens, self.produced)
        stop = STOP_REASONS.get(self.finish_reason or "stop", "end_turn")
        return b"".join((
            self._close(),
            event("message_delta", {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": numbers["output_tokens"]},
            }),
            event("message_stop", {"type": "message_stop"}),
        ))  # fmt: skip

    def failed(self, message: str) -> bytes:
        """An `error` event that ends a stream cut short upstream."""
        return event("error", error_body("api_error", message))


def error_body(kind: str, message: str) -> dict[str, Any]:
    """An Anthropic error object."""
    return {"type": "error", "error": {"type": kind, "message": message}}


def event(name: str, data: dict[str, Any]) -> bytes:
    """One SSE event with a name."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {name}\ndata: {payload}\n\n".encode()
