"""The fake fleet's answers, one coroutine per stream shape, written like OpenAI's.

Every delay is measured from the request's arrival (`arrival`, a time.monotonic() value), not from
when the coroutine runs, so `ttft_s` is ground truth a client's measured TTFT can be held to.
Each SSE event is written and flushed on its own so its timing is exact.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from itertools import count
from typing import Any

from aiohttp import web

from freemodels.fleet.behaviour import Behaviour, SentTimes
from freemodels.fleet.payloads import error_json, example_arguments, is_json, json_response

WORDS = ("Hello", " from", " the", " fake", " fleet", ".", " All", " good", " here", "!")
HUGE_EVENT_CHARS = 32 * 1024
HUGE_TOTAL_BYTES = 2 * 1024 * 1024 + 64 * 1024
# What OpenAI-style APIs answer to a field a reasoning model does not take (their wording).
REFUSALS = {
    "max_tokens": "Unsupported parameter: 'max_tokens' is not supported with this model. "
    "Use 'max_completion_tokens' instead.",
    "temperature": "Unsupported value: 'temperature' does not support 0 with this model. "
    "Only the default (1) value is supported.",
}
HTML_PAGE = "<!doctype html><html><head><title>Sign in</title></head><body>Log in</body></html>"
_ids = count(1)


async def sleep_until(deadline: float) -> None:
    """Sleep until time.monotonic() reaches `deadline` (at once when it already has)."""
    delay = deadline - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


class Answer:
    """One chat-completion answer of one model to one request."""

    _response: web.StreamResponse | None = None
    _dropped = False

    def __init__(
        self,
        request: web.Request,
        behaviour: Behaviour,
        *,
        arrival: float,
        model: str,
        body: Mapping[str, Any],
        sent: SentTimes | None = None,
    ) -> None:
        self.request = request
        self.sent = sent if sent is not None else SentTimes()
        self.b = behaviour
        self.arrival = arrival
        self.model = model
        self.body = body
        self.id = f"chatcmpl-fleet{next(_ids)}"
        self.created = int(time.time())
        # Every chunk shares this prefix; formatting by hand keeps server CPU per event low.
        self._prefix = (
            f'data: {{"id":"{self.id}","object":"chat.completion.chunk",'
            f'"created":{self.created},"model":{json.dumps(model)},'
            f'"choices":[{{"index":0,"delta":'
        )
        self.tools = body.get("tools") if isinstance(body.get("tools"), list) else None

    def extra_headers(self) -> dict[str, str]:
        """Headers every answer carries (Retry-After when configured)."""
        return {"Retry-After": self.b.retry_after} if self.b.retry_after is not None else {}

    async def respond(self) -> web.StreamResponse:
        """Answer as the behaviour says, noting when the answer left in `sent`."""
        try:
            response = await self._answer()
        except ConnectionError:
            # The client hung up mid-answer: an ordinary event for a fake server, not an error.
            self.sent.hung_up = time.monotonic()
            return self._response if self._response is not None else web.Response()
        except asyncio.CancelledError:
            # handler_cancellation: aiohttp cancels the handler of a client that hung up.
            self.sent.hung_up = time.monotonic()
            raise
        now = time.monotonic()
        if self._dropped:
            return response
        if self._response is None:
            # A whole body: aiohttp writes it right after the handler returns.
            self.sent.headers = now
            if response.status == 200:
                self.sent.first_content = now
        self.sent.end = now
        return response

    async def _answer(self) -> web.StreamResponse:
        b = self.b
        if b.redirect_to is not None:
            await sleep_until(self.arrival + b.headers_delay_s)
            headers = {"Location": b.redirect_to, **self.extra_headers()}
            return web.Response(status=307, headers=headers)
        status = b.status if b.real_status is None or self.probe_sized() else b.real_status
        if status != 200:
            await sleep_until(self.arrival + b.headers_delay_s)
            return self.error_response(status)
        too_many = self.over_output_cap()
        if too_many is not None:
            await sleep_until(self.arrival + b.headers_delay_s)
            return web.Response(
                status=400, text=error_json(400, too_many), content_type="application/json"
            )
        refused = [p for p in b.reject_params if p in self.body]
        if refused:
            await sleep_until(self.arrival + b.headers_delay_s)
            return web.Response(
                status=400,
                text=error_json(400, REFUSALS.get(refused[0], f"Unsupported: '{refused[0]}'.")),
                content_type="application/json",
            )
        shaped: dict[str, Callable[[], Awaitable[web.StreamResponse]]] = {
            "sse": self.sse,
            "json": self.plain_json,
            "html": self.html,
            "bad_json": self.bad_json,
            "error_event": self.error_event,
            "no_content": self.no_content,
            "forever": self.forever,
            "keepalive_forever": self.keepalive_forever,
            "reset": self.reset,
            "huge": self.huge,
        }
        handler = shaped.get(b.shape)
        if handler is None:
            return json_response(error_json(500, f"fleet: unknown shape {b.shape!r}"), 500)
        return await handler()

    # -- non-stream answers ---------------------------------------------------------------

    def over_output_cap(self) -> str | None:
        """OpenAI's refusal when the request asks for more completion tokens than the cap."""
        cap = self.b.max_output
        for field in ("max_tokens", "max_completion_tokens"):
            asked = self.body.get(field)
            if cap is not None and isinstance(asked, int) and asked > cap:
                return (
                    f"{field} is too large: {asked}. This model supports at most {cap} "
                    f"completion tokens, whereas you provided {asked}."
                )
        return None

    def probe_sized(self) -> bool:
        """Whether the request caps its answer at 256 tokens or fewer, as probes do."""
        limit = self.body.get("max_tokens", self.body.get("max_completion_tokens"))
        return isinstance(limit, int) and limit <= 256

    def error_response(self, status: int | None = None) -> web.Response:
        """The error answer for a status other than 200 (the behaviour's, unless given)."""
        b = self.b
        status = b.status if status is None else status
        if b.body is not None:
            text = b.body
        else:
            message = None
            if status in (404, 410):
                message = f"The model `{self.model}` does not exist."
            if b.echo_auth:
                message = f"Incorrect API key provided: {self.request.headers.get('Authorization')}"
            text = error_json(status, message)
        content_type = "application/json" if is_json(text) else "text/plain"
        return web.Response(
            status=status, text=text, content_type=content_type, headers=self.extra_headers()
        )

    async def plain_json(self) -> web.StreamResponse:
        """A whole chat.completion body at ttft_s, even when a stream was asked for."""
        b = self.b
        await sleep_until(self.arrival + max(b.headers_delay_s, b.ttft_s))
        message: dict[str, Any] = {"role": "assistant", "content": self.text()}
        if b.reasoning:
            message["reasoning_content"] = "Thinking about it."
        finish = "stop"
        call = self.tool_call()
        if call is not None:
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            finish = "tool_calls"
        payload = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": self.usage_numbers(),
        }
        return json_response(payload, headers=self.extra_headers())

    async def html(self) -> web.StreamResponse:
        """A 200 HTML page where a completion belongs."""
        await sleep_until(self.arrival + self.b.headers_delay_s)
        return web.Response(text=HTML_PAGE, content_type="text/html", headers=self.extra_headers())

    async def bad_json(self) -> web.StreamResponse:
        """A 200 application/json body that does not parse."""
        await sleep_until(self.arrival + self.b.headers_delay_s)
        return web.Response(
            text='{"id": "chatcmpl-broken", "choices": [',
            content_type="application/json",
            headers=self.extra_headers(),
        )

    async def reset(self) -> web.StreamResponse:
        """Drop the connection with a TCP reset and no response at all."""
        await sleep_until(self.arrival + self.b.headers_delay_s)
        transport = self.request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # Linger 0 turns close() into an RST, as a crashed proxy would send.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        self._dropped = True
        # aiohttp sees the closed transport and drops this response quietly.
        return web.Response(status=500)

    # -- streams --------------------------------------------------------------------------

    async def sse(self) -> web.StreamResponse:
        """A normal stream: role chunk, content events, stop chunk, usage, [DONE]."""
        response = await self.open_stream()
        await self.role()
        call = self.tool_call()
        if call is not None:
            await self.stream_tool_call(call)
            await self.finish("tool_calls")
        else:
            await self.stream_tokens(self.b.tokens)
            await self.finish("stop")
        return response

    async def error_event(self) -> web.StreamResponse:
        """One content event, then an error event, and the stream ends without [DONE]."""
        response = await self.open_stream()
        await self.role()
        await self.stream_tokens(1)
        error = error_json(500, "The server had an error while processing your request.")
        await self.write(f"data: {error}\n\n")
        return response

    async def no_content(self) -> web.StreamResponse:
        """A role chunk and a stop chunk, no content, then [DONE]."""
        response = await self.open_stream()
        await self.write(self.event('{"role":"assistant","content":""}'))
        await sleep_until(self.arrival + self.b.ttft_s)
        await self.finish("stop")
        return response

    async def forever(self) -> web.StreamResponse:
        """Content events until the client hangs up."""
        response = await self.open_stream()
        await self.role()
        await sleep_until(self.arrival + self.b.ttft_s)
        for index in count():
            if not await self.try_write(self.content_event(index)):
                self.sent.hung_up = time.monotonic()
                break
            if index == 0:
                self.sent.first_content = time.monotonic()
            await asyncio.sleep(self.b.token_interval_s)
        return response

    async def keepalive_forever(self) -> web.StreamResponse:
        """SSE comment lines until the client hangs up; never any content."""
        response = await self.open_stream()
        await self.role()
        for _ in count():
            if not await self.try_write(": keep-alive\n\n"):
                break
            await asyncio.sleep(self.b.keepalive_interval_s)
        return response

    async def huge(self) -> web.StreamResponse:
        """Content events totalling more than 2 MiB, then a normal ending."""
        response = await self.open_stream()
        await self.role()
        await sleep_until(self.arrival + self.b.ttft_s)
        piece = json.dumps({"content": "x" * HUGE_EVENT_CHARS})
        sent = 0
        while sent < HUGE_TOTAL_BYTES:
            event = self.event(piece)
            if not await self.try_write(event):
                return response
            if not sent:
                self.sent.first_content = time.monotonic()
            sent += len(event)
        await self.finish("stop")
        return response

    # -- stream pieces --------------------------------------------------------------------

    async def open_stream(self) -> web.StreamResponse:
        """Send the SSE headers at headers_delay_s after arrival."""
        await sleep_until(self.arrival + self.b.headers_delay_s)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                **self.extra_headers(),
            }
        )
        await response.prepare(self.request)
        self.sent.headers = time.monotonic()
        self._response = response
        return response

    async def role(self) -> None:
        """The role-only chunk, when the behaviour sends one."""
        if self.b.role_chunk:
            await self.write(self.event('{"role":"assistant","content":""}'))

    async def stream_tokens(self, tokens: int) -> None:
        """`tokens` content events, the first at ttft_s after arrival."""
        first = self.arrival + self.b.ttft_s
        for index in range(tokens):
            if index == 0:
                await sleep_until(first)
            else:
                await asyncio.sleep(self.b.token_interval_s)
            await self.write(self.content_event(index))
            if index == 0:
                self.sent.first_content = time.monotonic()

    async def stream_tool_call(self, call: Mapping[str, Any]) -> None:
        """A tool call streamed OpenAI's way: name first, then the arguments in pieces."""
        function = call["function"]
        head = {
            "index": 0,
            "id": call["id"],
            "type": "function",
            "function": {"name": function["name"], "arguments": ""},
        }
        await sleep_until(self.arrival + self.b.ttft_s)
        await self.write(self.event(json.dumps({"tool_calls": [head]})))
        self.sent.first_content = time.monotonic()
        arguments = function["arguments"]
        middle = len(arguments) // 2
        for part in (arguments[:middle], arguments[middle:]):
            await asyncio.sleep(self.b.token_interval_s)
            delta = {"tool_calls": [{"index": 0, "function": {"arguments": part}}]}
            await self.write(self.event(json.dumps(delta)))

    async def finish(self, reason: str) -> None:
        """The stop chunk, the usage chunk when asked for, and [DONE]."""
        await self.write(self.event("{}", finish=f'"{reason}"'))
        options = self.body.get("stream_options")
        if self.b.usage and isinstance(options, dict) and options.get("include_usage"):
            usage = json.dumps(self.usage_numbers())
            await self.write(
                f'data: {{"id":"{self.id}","object":"chat.completion.chunk",'
                f'"created":{self.created},"model":{json.dumps(self.model)},'
                f'"choices":[],"usage":{usage}}}\n\n'
            )
        await self.write("data: [DONE]\n\n")

    def event(self, delta_json: str, *, finish: str = "null") -> str:
        """One `data:` chunk event with this delta."""
        return f'{self._prefix}{delta_json},"finish_reason":{finish}}}]}}\n\n'

    def content_event(self, index: int) -> str:
        """Content event number `index` (reasoning_content for the first half when reasoning)."""
        word = json.dumps(WORDS[index % len(WORDS)])
        field = "content"
        if self.b.reasoning and index < (self.b.tokens + 1) // 2:
            field = "reasoning_content"
        return self.event(f'{{"{field}":{word}}}')

    async def write(self, text: str) -> None:
        """Write and flush one piece of the stream."""
        assert self._response is not None, "open_stream() comes first"
        await self._response.write(text.encode())

    async def try_write(self, text: str) -> bool:
        """Write one piece; False once the client has gone away."""
        try:
            await self.write(text)
        except ConnectionError:
            return False
        return True

    # -- content --------------------------------------------------------------------------

    def text(self) -> str:
        """The whole answer text of a non-stream completion."""
        return "".join(WORDS[i % len(WORDS)] for i in range(self.b.tokens))

    def usage_numbers(self) -> dict[str, int]:
        """Token counts for the usage block."""
        prompt = 12
        return {
            "prompt_tokens": prompt,
            "completion_tokens": self.b.tokens,
            "total_tokens": prompt + self.b.tokens,
        }

    def tool_call(self) -> dict[str, Any] | None:
        """A well-formed call of the request's first tool, when the behaviour makes one."""
        if not self.b.tool_call or not self.tools:
            return None
        first = self.tools[0]
        function = first.get("function", {}) if isinstance(first, dict) else {}
        name = function.get("name", "tool") if isinstance(function, dict) else "tool"
        parameters = function.get("parameters", {}) if isinstance(function, dict) else {}
        arguments = json.dumps(example_arguments(parameters))
        return {
            "id": f"call_{self.id[-8:]}",
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
