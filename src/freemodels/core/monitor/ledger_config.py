"""Where the request ledger lives: the local history database, or a Redis server a team shares.

`FREEMODELS_LEDGER=redis://[user:password@]host:6379/0` (or `rediss://` for TLS), else the
`[ledger] url` setting of the user config file (`config.toml` in the user config dir), moves the
ledger and the 429 pauses to Redis (docs/architecture.md, "Rate budgets"). The password comes
from the URL or `FREEMODELS_LEDGER_PASSWORD`; it is never printed: every message shows the URL
through `masked_url`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from freemodels import paths
from freemodels.core.monitor.budget import Limits
from freemodels.errors import UsageError

DEFAULT_FALLBACK_SHARE = 4
"""While Redis is unreachable each machine counts locally against 1/N of every budget."""

DEFAULT_TIMEOUT_MS = 50.0
"""A grant that Redis has not answered by then is decided by the local fallback."""


@dataclass(frozen=True, slots=True)
class LedgerSettings:
    """The Redis ledger's settings; `url` None means the local SQLite ledger."""

    url: str | None = field(default=None, repr=False)  # may hold the password
    password: str | None = field(default=None, repr=False)
    fallback_share: int = DEFAULT_FALLBACK_SHARE
    timeout_s: float = DEFAULT_TIMEOUT_MS / 1000
    host: str | None = None  # the name recorded with each grant (None: the machine's)

    @property
    def shown_url(self) -> str:
        """The URL as messages may show it (no password)."""
        return masked_url(self.url) if self.url else "sqlite (local history database)"


def config_path() -> Path:
    """The user config file holding settings such as `[ledger] url`."""
    return paths.config_dir() / "config.toml"


def masked_url(url: str) -> str:
    """`redis://user:***@host:6379/0`: the URL with any password replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]  # as written: a bad port must not raise here
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def ledger_settings(env: Mapping[str, str] | None = None) -> LedgerSettings:
    """The settings from the environment, then the user config file; UsageError when bad."""
    env = os.environ if env is None else env
    table = _config_table(config_path())
    url = env.get("FREEMODELS_LEDGER", "").strip() or _text(table, "url")
    if not url or url in ("sqlite", "local"):
        return LedgerSettings()
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss"):
        raise UsageError(
            f"the ledger URL {masked_url(url)} is not redis:// or rediss://",
            hint="set FREEMODELS_LEDGER=redis://[user:password@]host:6379/0, or unset it",
        )
    # Only a Redis ledger needs its protocol module (and hashlib with it).
    from freemodels.core.monitor.ledger_resp import parse_url

    try:
        target = parse_url(url)
    except ValueError as exc:
        raise UsageError(
            f"the ledger URL {masked_url(url)} is not usable: {exc}",
            hint="FREEMODELS_LEDGER=redis://[user:password@]host:6379/0 (rediss:// for TLS)",
        ) from None
    if target.ca_file is not None and not Path(target.ca_file).is_file():
        raise UsageError(
            f"the ledger URL's ssl_ca_certs {target.ca_file} is not a file",
            hint="name the PEM file of the CA that signed the Redis server's certificate",
        )
    share = _int(env.get("FREEMODELS_LEDGER_FALLBACK_SHARE") or table.get("fallback_share"))
    timeout = _float(env.get("FREEMODELS_LEDGER_TIMEOUT_MS") or table.get("timeout_ms"))
    return LedgerSettings(
        url=url,
        password=env.get("FREEMODELS_LEDGER_PASSWORD") or None,
        fallback_share=share or DEFAULT_FALLBACK_SHARE,
        timeout_s=(timeout or DEFAULT_TIMEOUT_MS) / 1000,
        host=env.get("FREEMODELS_LEDGER_HOST") or _text(table, "host") or None,
    )


def _config_table(path: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(
            f"{path}: not readable TOML ({exc})", hint="fix or remove the file"
        ) from None
    table = data.get("ledger", {})
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [ledger] must be a table", hint="see README, 'Sharing keys'")
    unknown = set(table) - {"url", "fallback_share", "timeout_ms", "host"}
    if unknown:
        raise UsageError(
            f"{path}: unknown [ledger] setting {sorted(unknown)[0]!r}",
            hint="known: url, fallback_share, timeout_ms, host",
        )
    return table


def _text(table: Mapping[str, object], name: str) -> str:
    value = table.get(name, "")
    if not isinstance(value, str):
        raise UsageError(f"[ledger] {name} must be a string", hint=f"fix {config_path()}")
    return value.strip()


def _int(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if number < 1:
        raise UsageError(
            f"the ledger's fallback share {value!r} is not a whole number of at least 1",
            hint="FREEMODELS_LEDGER_FALLBACK_SHARE=4 counts 1/4 of each budget while Redis is down",
        )
    return number


def _float(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(str(value))
    except ValueError:
        number = 0.0
    if not number > 0:
        raise UsageError(
            f"the ledger's timeout {value!r} is not a positive number of milliseconds",
            hint="FREEMODELS_LEDGER_TIMEOUT_MS=50",
        )
    return number


def scrub(exc: BaseException, settings: LedgerSettings) -> str:
    """The error in a few words, with no password in it."""
    text = str(exc) or type(exc).__name__
    for secret in (settings.password, _url_password(settings.url)):
        if secret:
            text = text.replace(secret, "***")
    return text.splitlines()[0][:160] if text else type(exc).__name__


def _url_password(url: str | None) -> str | None:
    if not url:
        return None
    password = urlsplit(url).password
    return unquote(password) if password else None


def fallback_cap(cap: int, share: int) -> int:
    """This machine's part of a cap while Redis is down: at least one request."""
    return max(1, cap // share)


def local_limits(limits: Mapping[str, Limits], share: int) -> dict[str, Limits]:
    """The caps the local fallback counts against: 1/`share` of each."""
    return {
        budget: Limits(
            rpm=None if caps.rpm is None else fallback_cap(caps.rpm, share),
            rpd=None if caps.rpd is None else fallback_cap(caps.rpd, share),
        )
        for budget, caps in limits.items()
    }
