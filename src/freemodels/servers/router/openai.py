"""OpenAI `POST /v1/chat/completions`: relayed chunk by chunk, or gathered into one completion.

The client's body goes upstream as is (tools, tool_choice, response_format...), with the model's
own id and `stream: true` with usage. Each chunk is written as it arrives, its `model` rewritten
to `provider/model`; a usage-only chunk is passed on only when the client asked for usage.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from freemodels.servers.router.body import (
    BadRequest,
    check_messages,
    dispatch,
    read_json,
    retry_headers,
    routed_headers,
    tried_list,
    unavailable_text,
)
from freemodels.servers.router.route import Refused, Routed, Router, Unavailable
from freemodels.servers.router.stream import EventStreamResponse, StreamBroken, carries_usage
from freemodels.servers.router.tokens import estimate
from freemodels.servers.router.toolcalls import carry_calls

_DONE = b"data: [DONE]\n\n"


def error_response(
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> web.Response:
    """An OpenAI error object."""
    error: dict[str, Any] = {"message": message, "type": kind, "param": None, "code": code}
    error.update(extra or {})
    return web.json_response({"error": error}, status=status, headers=headers)


async def chat_completions(router: Router, request: web.Request) -> web.StreamResponse:
    """The OpenAI chat completions endpoint."""
    body = await read_json(request)
    if isinstance(body, BadRequest):
        return error_response(body.status, body.message, body.kind)
    bad = check_messages(body)
    if bad is not None:
        return error_response(bad.status, bad.message, bad.kind)
    tokens = estimate(body)
    result = await dispatch(router, body.get("model"), body, tokens)
    if isinstance(result, BadRequest):
        return error_response(result.status, result.message, result.kind, code="model_not_found")
    if isinstance(result, Refused):
        return refused_response(result)
    if isinstance(result, Unavailable):
        return unavailable_response(result)
    if body.get("stream"):
        return await _relay(router, request, result, body, tokens)
    return await _gather(router, result, tokens)


def unavailable_response(result: Unavailable) -> web.Response:
    """The 503 that lists what was tried."""
    return error_response(
        503, unavailable_text(result), "service_unavailable", code="no_model_available",
        headers=retry_headers(result.retry_after_s), extra={"tried": tried_list(result)},
    )  # fmt: skip


def refused_response(result: Refused) -> web.Response:
    """The upstream error, relayed (its own body when it is an OpenAI error object)."""
    headers = {
        "x-freemodels-model": str(result.ref),
        "x-freemodels-attempts": str(result.attempts),
        **retry_headers(result.retry_after_s),
    }
    if result.body:
        try:
            doc = json.loads(result.body)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
            return web.json_response(doc, status=result.status, headers=headers)
    kind = "rate_limit_error" if result.status == 429 else "upstream_error"
    return error_response(result.status, result.message, kind, headers=headers)


async def _relay(
    router: Router, request: web.Request, routed: Routed, body: dict[str, Any], tokens: int
) -> web.StreamResponse:
    response = EventStreamResponse(routed_headers(routed))
    options = body.get("stream_options")
    wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    rewrite = ModelRewriter(routed.candidate.model.id, str(routed.ref))
    opened = routed.opened
    produced = 0
    calls = False
    error: str | None = None
    try:
        await response.prepare(request)
        try:
            async for batch in opened.batches():
                calls = calls or carry_calls(batch)
                out = b"".join(
                    b"data: " + rewrite(data).encode() + b"\n\n"
                    for data in batch
                    if wants_usage or not _usage_only(data)
                )
                produced += len(batch)
                if opened.finished:
                    # The last read: sent with [DONE] and the stream's end, in one system call.
                    await response.write_eof(out + _DONE)
                    break
                if out:
                    # One write per upstream read: as soon as it came, in one system call.
                    await response.write(out)
            else:
                await response.write_eof(_DONE)
        except StreamBroken as exc:
            error = str(exc)
            event = {"error": {"message": f"{routed.ref}: {error}", "type": "upstream_error",
                               "code": "stream_broken"}}  # fmt: skip
            await response.write_eof(b"data: " + json.dumps(event).encode() + b"\n\n")
        else:
            await opened.aclose()
    except (ConnectionError, asyncio.CancelledError):
        # The client hung up: the upstream request is dropped in `finally`, at once.
        router.finish(routed, tokens_in=tokens, tokens_out=produced)
        raise
    finally:
        opened.close()
    router.finish(routed, error=error, tokens_in=tokens, tokens_out=produced, tool_calls=calls)
    return response


async def _gather(router: Router, routed: Routed, tokens: int) -> web.Response:
    """The whole answer as one chat.completion."""
    result = await gather_whole(router, routed, tokens)
    if isinstance(result, Refused):
        return refused_response(result)
    if isinstance(result, Unavailable):
        return unavailable_response(result)
    if isinstance(result, Broken):
        return error_response(
            502, f"{result.routed.ref}: {result.error}", "upstream_error", code="stream_broken",
            headers=routed_headers(result.routed),
        )  # fmt: skip
    routed, gathered = result
    return web.json_response(
        gathered.completion(str(routed.ref), routed.opened.usage), headers=routed_headers(routed)
    )


@dataclass(frozen=True, slots=True)
class Broken:
    """A pinned model's answer that broke before its end."""

    routed: Routed
    error: str


async def gather_whole(
    router: Router, routed: Routed, tokens: int
) -> tuple[Routed, Gathered] | Refused | Unavailable | Broken:
    """Read a whole answer for a client that did not ask for a stream. Nothing has reached that
    client yet, so an answer that breaks fails over to the next candidate like any attempt."""
    while True:
        opened = routed.opened
        gathered = Gathered()
        try:
            async for chunk in opened.chunks():
                gathered.add(chunk)
            await opened.aclose()
        except StreamBroken as exc:
            router.finish(routed, error=str(exc))
            following = await router.resume(routed, str(exc))
            if following is None:
                return Broken(routed, str(exc))
            if not isinstance(following, Routed):
                return following
            routed = following
            continue
        finally:
            opened.close()
        router.finish(
            routed, tokens_in=tokens, tokens_out=gathered.chunks, tool_calls=bool(gathered.calls)
        )
        return routed, gathered


def _usage_only(data: str) -> bool:
    """Whether an event is the usage chunk (no choices), which only clients that asked get."""
    if not carries_usage(data):
        return False
    parsed = json.loads(data) if data.startswith("{") else None
    return isinstance(parsed, dict) and not parsed.get("choices")


class ModelRewriter:
    """Puts `provider/model` in place of the upstream model id in each chunk's text.

    A plain text replacement when the chunk spells the id the usual way (JSON strings escape
    quotes, so a `"model":` inside content or tool arguments cannot match); otherwise the chunk
    is parsed and dumped again.
    """

    __slots__ = ("_ours", "_spellings", "_target")

    def __init__(self, upstream_id: str, ours: str) -> None:
        quoted = json.dumps(upstream_id)
        self._spellings = (f'"model":{quoted}', f'"model": {quoted}')
        self._ours = ours
        self._target = f'"model":{json.dumps(ours)}'

    def __call__(self, data: str) -> str:
        for spelling in self._spellings:
            if spelling in data:
                return data.replace(spelling, self._target, 1)
        try:
            parsed = json.loads(data)
        except ValueError:
            return data
        if not isinstance(parsed, dict):
            return data
        parsed["model"] = self._ours
        return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)


class Gathered:
    """Chunks of a stream added up into one message (text, reasoning, tool calls)."""

    def __init__(self) -> None:
        self.id: str | None = None
        self.created: int | None = None
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.chunks = 0

    def add(self, chunk: dict[str, Any]) -> None:
        """Take one chunk."""
        self.id = self.id or chunk.get("id")
        self.created = self.created or chunk.get("created")
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return
        self.chunks += 1
        choice = choices[0]
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return
        if isinstance(delta.get("content"), str):
            self.content.append(delta["content"])
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str):
            self.reasoning.append(reasoning)
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                self._add_call(call)

    def _add_call(self, call: dict[str, Any]) -> None:
        index = call.get("index", len(self.calls))
        known = self.calls.setdefault(
            int(index), {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if call.get("id"):
            known["id"] = call["id"]
        function = call.get("function")
        if isinstance(function, dict):
            if function.get("name"):
                known["function"]["name"] = function["name"]
            if function.get("arguments"):
                known["function"]["arguments"] += function["arguments"]

    def tool_calls(self) -> list[dict[str, Any]]:
        """The tool calls, in index order."""
        return [self.calls[index] for index in sorted(self.calls)]

    def text(self) -> str:
        """The answer's text."""
        return "".join(self.content)

    def completion(self, model: str, usage: dict[str, Any] | None) -> dict[str, Any]:
        """A chat.completion object."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text() or None}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.calls:
            message["tool_calls"] = self.tool_calls()
        doc: dict[str, Any] = {
            "id": self.id or "chatcmpl-freemodels",
            "object": "chat.completion",
            "created": self.created or int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": self.finish_reason or "stop"}
            ],
        }
        if usage:
            doc["usage"] = usage
        return doc
