"""Anthropic `POST /v1/messages` and `/v1/messages/count_tokens` (Claude Code's protocol).

Requests are translated to OpenAI chat (see messages.py) and routed like any other; answers and
errors come back in Anthropic's shapes: `{"type": "error", "error": {"type", "message"}}`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from freemodels.servers.router import messages as translate
from freemodels.servers.router.body import (
    BadRequest,
    dispatch,
    read_json,
    retry_headers,
    routed_headers,
    tried_list,
    unavailable_text,
)
from freemodels.servers.router.openai import Broken, gather_whole
from freemodels.servers.router.route import Refused, Routed, Router, Unavailable
from freemodels.servers.router.stream import EventStreamResponse, StreamBroken
from freemodels.servers.router.tokens import estimate
from freemodels.servers.router.toolcalls import carry_calls

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_response(
    status: int,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> web.Response:
    """An Anthropic error object with the type its status means."""
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    body = translate.error_body(kind, message)
    body["error"].update(extra or {})
    return web.json_response(body, status=status, headers=headers)


def _refused(result: Refused) -> web.Response:
    headers = {
        "x-freemodels-model": str(result.ref),
        "x-freemodels-attempts": str(result.attempts),
        **retry_headers(result.retry_after_s),
    }
    return error_response(result.status, result.message, headers=headers)


def _unavailable(result: Unavailable) -> web.Response:
    return error_response(
        503, unavailable_text(result), headers=retry_headers(result.retry_after_s),
        extra={"tried": tried_list(result)},
    )  # fmt: skip


def _check(body: dict[str, Any]) -> BadRequest | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return BadRequest(400, "messages: a non-empty array is required")
    if not all(isinstance(m, dict) for m in messages):
        return BadRequest(400, "messages: each item must be an object")
    return None


async def count_tokens(request: web.Request) -> web.Response:
    """An estimate of the request's input tokens (no model is asked)."""
    body = await read_json(request)
    if isinstance(body, BadRequest):
        return error_response(body.status, body.message)
    bad = _check(body)
    if bad is not None:
        return error_response(bad.status, bad.message)
    return web.json_response({"input_tokens": estimate(translate.to_openai(body))})


async def create_message(router: Router, request: web.Request) -> web.StreamResponse:
    """The Messages endpoint."""
    body = await read_json(request)
    if isinstance(body, BadRequest):
        return error_response(body.status, body.message)
    bad = _check(body)
    if bad is not None:
        return error_response(bad.status, bad.message)
    chat = translate.to_openai(body)
    tokens_in = estimate(chat)
    result = await dispatch(router, body.get("model"), chat, tokens_in)
    if isinstance(result, BadRequest):
        return error_response(result.status, result.message)
    if isinstance(result, Refused):
        return _refused(result)
    if isinstance(result, Unavailable):
        return _unavailable(result)
    if body.get("stream"):
        return await _relay(router, request, result, tokens_in)
    return await _gather(router, result, tokens_in)


async def _relay(
    router: Router, request: web.Request, routed: Routed, tokens_in: int
) -> web.StreamResponse:
    response = EventStreamResponse(routed_headers(routed))
    stream = translate.EventStream(str(routed.ref), tokens_in)
    opened = routed.opened
    error: str | None = None
    calls = False
    try:
        await response.prepare(request)
        start = stream.start()  # sent with the first content, in one system call
        try:
            async for batch in opened.batches():
                calls = calls or carry_calls(batch)
                events = start + b"".join(stream.chunk(chunk) for chunk in _parsed(batch))
                start = b""
                if opened.finished:
                    await response.write_eof(events + stream.end(opened.usage))
                    break
                if events:
                    # One write per upstream read (see openai._relay).
                    await response.write(events)
            else:
                await response.write_eof(start + stream.end(opened.usage))
        except StreamBroken as exc:
            error = str(exc)
            await response.write_eof(start + stream.failed(f"{routed.ref}: {error}"))
        else:
            await opened.aclose()
    except (ConnectionError, asyncio.CancelledError):
        router.finish(routed, tokens_in=tokens_in, tokens_out=stream.produced)
        raise
    finally:
        opened.close()
    router.finish(
        routed, error=error, tokens_in=tokens_in, tokens_out=stream.produced, tool_calls=calls
    )
    return response


def _parsed(batch: list[str]) -> list[dict[str, Any]]:
    chunks = []
    for data in batch:
        try:
            chunk = json.loads(data)
        except ValueError:
            continue
        if isinstance(chunk, dict):
            chunks.append(chunk)
    return chunks


async def _gather(router: Router, routed: Routed, tokens_in: int) -> web.Response:
    result = await gather_whole(router, routed, tokens_in)
    if isinstance(result, Refused):
        return _refused(result)
    if isinstance(result, Unavailable):
        return _unavailable(result)
    if isinstance(result, Broken):
        message = f"{result.routed.ref}: {result.error}"
        return error_response(502, message, headers=routed_headers(result.routed))
    routed, gathered = result
    usage = translate.usage_of(routed.opened.usage, tokens_in, gathered.chunks)
    doc = translate.message(
        str(routed.ref),
        gathered.text(),
        gathered.tool_calls(),
        gathered.finish_reason,
        usage,
        "".join(gathered.reasoning),
    )
    return web.json_response(doc, headers=routed_headers(routed))
