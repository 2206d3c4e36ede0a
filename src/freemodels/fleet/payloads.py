"""Bodies the fleet sends besides streams: OpenAI-style errors, JSON, example tool arguments."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web


def error_json(status: int, message: str | None = None, *, code: str | None = None) -> str:
    """An OpenAI-style error body for this status."""
    phrase = _phrase(status)
    kind = "server_error" if status >= 500 else "invalid_request_error"
    if status == 429:
        kind = "rate_limit_exceeded"
    error = {"message": message or phrase, "type": kind, "code": code or str(status)}
    return json.dumps({"error": error})


def json_response(
    payload: Mapping[str, Any] | str, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON response from a mapping or an already-encoded body."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return web.Response(status=status, text=text, content_type="application/json", headers=headers)


def example_arguments(schema: Any) -> dict[str, Any]:
    """A value for every required property of a JSON schema object."""
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties", {})
    required = schema.get("required", list(properties) if isinstance(properties, dict) else [])
    if not isinstance(properties, dict) or not isinstance(required, list):
        return {}
    defaults = {"string": "Paris", "integer": 1, "number": 1.0, "boolean": True}
    arguments: dict[str, Any] = {}
    for name in required:
        spec = properties.get(name, {})
        if not isinstance(spec, dict):
            spec = {}
        if isinstance(spec.get("enum"), list) and spec["enum"]:
            arguments[name] = spec["enum"][0]
        elif spec.get("type") == "array":
            arguments[name] = []
        elif spec.get("type") == "object":
            arguments[name] = example_arguments(spec)
        else:
            arguments[name] = defaults.get(str(spec.get("type")), "x")
    return arguments


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def is_json(text: str) -> bool:
    """Whether the text parses as JSON."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
