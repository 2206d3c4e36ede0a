"""The `--debug FILE` log: everything useful for a bug report, and never a key.

Secrets are registered as they are looked up (`register_secret`) and masked by a logging filter
on the handler, so a key echoed back by a server cannot reach the file either.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

_secrets: set[str] = set()
# Shapes of bearer credentials, masked even when they were never registered.
_PATTERNS = re.compile(r"(Bearer\s+)\S+|\b(sk|gsk|nvapi|csk|sk-or-v1|AIza)[-_A-Za-z0-9]{8,}")

logger = logging.getLogger("freemodels")


def register_secret(value: str) -> None:
    """Remember a secret so every later log line masks it."""
    if len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret and every key-shaped token masked."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return _PATTERNS.sub(lambda m: (m.group(1) or "") + "[redacted]", text)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def configure(path: str | None) -> None:
    """Send freemodels' log to `path` (redacted); without a path, log nothing."""
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.addFilter(_RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
