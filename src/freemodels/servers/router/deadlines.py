"""How long a client may take to send its request: a slow or stuck client is cut off.

A client that connects and never sends a whole request (or sends its headers a byte at a time,
slowloris) would hold a socket and a slot forever. aiohttp's keep-alive timer closes a
connection that has no complete request `headers_s` after it opened or after its last answer
(aiohttp 3.14.4 and later also arm it before the first request), whatever trickles meanwhile;
a running request is never cut by it. A body is read under its own deadline, `body_s`: one that
has not fully arrived by then gets a 408 and the connection is closed, after at most `LINGER_S`
more of draining what the client still sends (so it can read the 408 before the socket goes;
aiohttp's own default is 10 s).

Both are set in `router.toml` (README, "The router"):

    [timeouts]
    headers = 30   # seconds from connecting (or the last answer) to a complete request head
    body = 60      # seconds to read a request's body
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from freemodels.errors import UsageError

HEADERS_S = 30.0
BODY_S = 60.0
LINGER_S = 2.0
MAX_S = 3600.0


@dataclass(frozen=True, slots=True)
class ClientTimeouts:
    """The deadlines a client's request must meet."""

    headers_s: float = HEADERS_S
    body_s: float = BODY_S


BODY_TIMEOUT = web.AppKey("body_timeout_s", float)
"""The app's body deadline, read by `body.read_json`."""


def load_client_timeouts(path: Path) -> ClientTimeouts:
    """The `[timeouts]` of `router.toml` (the defaults when absent); UsageError when wrong."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ClientTimeouts()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _bad(path, f"cannot be read ({exc})") from None
    table = raw.get("timeouts", {})
    if not isinstance(table, dict):
        raise _bad(path, "'timeouts' must be a table: headers = SECONDS, body = SECONDS")
    unknown = set(table) - {"headers", "body"}
    if unknown:
        raise _bad(path, f"[timeouts]: unknown key {sorted(unknown)[0]!r} (headers, body)")
    return ClientTimeouts(
        _seconds(path, table, "headers", HEADERS_S), _seconds(path, table, "body", BODY_S)
    )


def _seconds(path: Path, table: dict[str, object], key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(path, f"[timeouts] {key}: expected seconds, got {value!r}")
    if not (0 < value <= MAX_S) or not math.isfinite(value):
        raise _bad(path, f"[timeouts] {key}: must be above 0 and at most {MAX_S:g} seconds")
    return float(value)


def _bad(path: Path, problem: str) -> UsageError:
    return UsageError(f"{path}: {problem}", "fix or remove the file; see README 'The router'")
