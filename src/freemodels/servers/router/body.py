"""Reading a client's request body, and the routing step both protocols share."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from freemodels.servers.router import pick
from freemodels.servers.router.deadlines import BODY_S, BODY_TIMEOUT
from freemodels.servers.router.route import Refused, Routed, Router, Unavailable

MAX_BODY_BYTES = 20 * 1024 * 1024
TRIED_LISTED = 20


@dataclass(frozen=True, slots=True)
class BadRequest:
    """What is wrong with a request, in words for the client."""

    status: int
    message: str
    kind: str = "invalid_request_error"


async def read_json(request: web.Request) -> dict[str, Any] | BadRequest:
    """The JSON object of the body, or why there is none."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _too_large()
    deadline = request.app.get(BODY_TIMEOUT, BODY_S)
    try:
        async with asyncio.timeout(deadline):
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _too_large()
    except TimeoutError:
        # A body that trickles would hold the handler (and its socket) for as long as it likes.
        return BadRequest(408, f"the request body did not arrive within {deadline:g} s")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return BadRequest(400, f"the body is not valid JSON ({exc})")
    if not isinstance(doc, dict):
        return BadRequest(400, "the body must be a JSON object")
    return doc


def _too_large() -> BadRequest:
    return BadRequest(413, f"the body is over {MAX_BODY_BYTES // (1024 * 1024)} MiB")


def check_messages(body: dict[str, Any]) -> BadRequest | None:
    """Why `messages` is unusable, if it is."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return BadRequest(400, "'messages' is required: a non-empty array")
    if not all(isinstance(message, dict) for message in messages):
        return BadRequest(400, "each item of 'messages' must be an object")
    return None


def upstream_body(body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI request sent upstream: always a stream, always with usage."""
    sent = dict(body)
    sent["stream"] = True
    options = sent.get("stream_options")
    sent["stream_options"] = {
        **(options if isinstance(options, dict) else {}),
        "include_usage": True,
    }
    return sent


async def dispatch(
    router: Router, requested: object, body: dict[str, Any], tokens: int
) -> Routed | Refused | Unavailable | BadRequest:
    """Route an OpenAI chat request named `requested` (the client's model name) of about
    `tokens` prompt tokens."""
    alias = pick.alias_for(requested, has_tools=bool(body.get("tools")), groups=router.groups)
    plan = router.plan(alias, tokens)
    if plan is None:
        return BadRequest(
            404,
            f"unknown model {alias!r}: use auto, auto:tools or a provider/model "
            "from GET /v1/models",
            "not_found_error",
        )
    return await router.route(plan, upstream_body(body))


def unavailable_text(result: Unavailable) -> str:
    """One sentence saying that no model answered, and why each was passed over."""
    if not result.tried:
        return "no model can answer now: none is usable (see `freemodels stats`)"
    reasons = "; ".join(f"{skip.ref}: {skip.reason}" for skip in result.tried[:8])
    return f"no model could answer ({result.attempts} attempts): {reasons}"


def tried_list(result: Unavailable) -> list[dict[str, Any]]:
    """The candidates tried, and why each failed, as JSON."""
    listed = result.tried[:TRIED_LISTED]
    return [{"model": str(skip.ref), "reason": skip.reason} for skip in listed]


def retry_headers(retry_after_s: float | None) -> dict[str, str]:
    """A Retry-After header when a wait is known."""
    if retry_after_s is None:
        return {}
    return {"Retry-After": str(max(1, int(retry_after_s + 0.999)))}


def routed_headers(routed: Routed) -> dict[str, str]:
    """The headers that say which model answered, and after how many attempts."""
    return {
        "x-freemodels-model": str(routed.ref),
        "x-freemodels-attempts": str(routed.attempts),
    }
