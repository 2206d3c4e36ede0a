"""What went wrong: error texts from answers, Retry-After, and network failures by their cause."""

from __future__ import annotations

import json
import re
import socket
import ssl
import sys
from typing import Any

ERROR_TEXT_MAX = 200
# Cloudflare's "this model needs the Workers Paid plan" (its errors page: 403, code 5035).
CLOUDFLARE_PAID_PLAN = 5035
# How providers word a refusal of the account's plan rather than of its key (Cloudflare,
# Ollama Cloud "this model requires a subscription", SambaNova PAYMENT_METHOD_REQUIRED, ...).
_PLAN_WORDING = re.compile(
    r"paid plan|requires? (?:a |an )?(?:paid |active )?subscription"
    r"|upgrade (?:your plan|for access)|payment[ _]method[ _]required"
    r"|not available on (?:the|your) free"
    r"|free (?:plan|tier) (?:does not|doesn.t) (?:include|allow)",
    re.IGNORECASE,
)


def error_message(doc: Any) -> str:
    if isinstance(doc, dict):
        errors = doc.get("errors")
        # Cloudflare's API envelope: {"success": false, "errors": [{"code": .., "message": ..}]}.
        if "error" not in doc and isinstance(errors, list) and errors:
            first = errors[0]
            if isinstance(first, dict) and first.get("message"):
                return str(first["message"])
        error = doc.get("error", doc)
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or error.get("type")
            if message:
                return str(message)
        elif isinstance(error, str):
            return error
    return "unexpected body"


def error_message_from_body(text: str) -> str | None:
    try:
        doc = json.loads(text)
    except ValueError:
        stripped = text.strip()
        if not stripped or stripped.startswith("<"):
            return None
        return stripped[:ERROR_TEXT_MAX]
    message = error_message(doc)
    return None if message == "unexpected body" else message


def plan_refusal(text: str) -> bool:
    """Whether a 401/403 body says the model needs a paid plan: the key is fine, the plan is not."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        errors = doc.get("errors")
        if isinstance(errors, list) and any(
            isinstance(e, dict) and e.get("code") == CLOUDFLARE_PAID_PLAN for e in errors
        ):
            return True
    return bool(_PLAN_WORDING.search(text[:4096]))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    # Imported here: an HTTP date is rare, and the email package costs every start a few ms.
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def is_transport_error(exc: BaseException) -> bool:
    """Whether an exception from a wire is a network failure (an outcome), not a bug.

    The HTTP libraries are looked up, not imported: one that is not loaded raised nothing.
    """
    if isinstance(exc, OSError):
        return True
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None and isinstance(exc, aiohttp.ClientError):
        return True
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(exc, httpx.TransportError)


def network_error(exc: BaseException) -> str | None:
    """What went wrong on the network, or None when it was really a timeout.

    The cause chain decides, not the library's class: the httpx-aiohttp transport reports a
    refused or reset connection as httpx.ConnectTimeout.
    """
    causes = _causes(exc)
    if any(isinstance(c, ssl.SSLError) for c in causes):
        return "TLS handshake failed"
    if any(isinstance(c, socket.gaierror) for c in causes):
        return "DNS lookup failed"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    if any(isinstance(c, ConnectionResetError) for c in causes):
        return "connection reset by the server"
    if any(isinstance(c, TimeoutError) for c in causes[1:]):
        return None
    text = " ".join(str(c) for c in causes).lower()
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "TLS handshake failed"
    if "name or service" in text or "nodename" in text or "resolve" in text:
        return "DNS lookup failed"
    if "disconnect" in text or "closed" in text or "reset" in text:
        return "connection closed by the server"
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        if isinstance(exc, httpx.TimeoutException) and len(causes) == 1:
            return None
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return "could not connect"
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None and isinstance(exc, aiohttp.ClientConnectorError):
        return "could not connect"
    return "connection closed by the server"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from (transports wrap the OS error)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 16:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def refused_fields(error: str | None) -> frozenset[str]:
    """Request fields a 400 answer says this model does not take ("max_tokens", "temperature").

    Reasoning models behind OpenAI-style APIs refuse `max_tokens` (they want
    `max_completion_tokens`) and any `temperature` but the default, and say so in the error.
    """
    text = (error or "").lower()
    refused = set()
    if "max_completion_tokens" in text or ("max_tokens" in text and "not supported" in text):
        refused.add("max_tokens")
    if "temperature" in text and ("unsupported" in text or "not support" in text):
        refused.add("temperature")
    return frozenset(refused)
