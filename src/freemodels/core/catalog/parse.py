"""The provider catalog: `providers.toml` parsed strictly into Provider and Model records.

Strict because every unknown key is a typo that would otherwise be silently ignored; the format
grows only through docs/catalog.md (see also docs/architecture.md, "The catalog"). Errors name
the file, the provider/model and the key.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from freemodels.core.catalog.parsed import cached_tables, keep_tables
from freemodels.core.records import FREE_KINDS, Model, ModelRef, Provider
from freemodels.errors import CatalogError, UsageError

SCHEMA_VERSION = 1
TIERS = ("S+", "S", "A+", "A", "A-", "B+", "B", "C")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")

_PROVIDER_KEYS = {
    "name": str,
    "base_url": str,
    "api_key_env": list,
    "signup_url": str,
    "key_required": bool,
    "rpm": int,
    "rpd": int,
    "budget": str,
    "headers": dict,
    "models": list,
    "free": str,
    "until": dt.date,
    "verified": dt.date,
}
# A user's own server needs only these; `api_key_env` too when a key is required (the bundled
# catalog's lint asks for every field).
_PROVIDER_REQUIRED = ("name", "base_url")
_MODEL_KEYS = {
    "id": str,
    "name": str,
    "context": int,
    "max_output": int,
    "tier": str,
    "swe_bench": (int, float),
    "reasoning": bool,
    "tool_calls": bool,
    "rpd": int,
    "until": dt.date,
}
_MODEL_REQUIRED = ("id",)
_TYPE_NAMES: dict[Any, str] = {
    str: "a string",
    int: 'an integer: token counts are plain numbers like 131072, not "128k"',
    bool: "true or false",
    list: "an array",
    dict: "a table",
    dt.date: "a date like 2026-08-17",
    (int, float): "a number; leave the key out when unknown",
}


@dataclass(frozen=True, slots=True)
class Catalog:
    """Providers in file order, and where they came from."""

    providers: tuple[Provider, ...]
    sources: tuple[str, ...] = ()
    # Built once: views look every ranked row up on each render.
    _index: dict[str, Provider] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {p.id: p for p in reversed(self.providers)})

    def provider(self, provider_id: str) -> Provider | None:
        """The provider with this id, if any."""
        return self._index.get(provider_id)

    def get(self, ref: ModelRef) -> tuple[Provider, Model] | None:
        """The catalog's provider and model that `ref` names, or None when it names neither."""
        provider = self._index.get(ref.provider)
        model = provider.model(ref.model) if provider is not None else None
        return (provider, model) if provider is not None and model is not None else None

    def find(self, ref: ModelRef) -> tuple[Provider, Model]:
        """The catalog's provider and model that `ref` names; UsageError listing the choices."""
        found = self.get(ref)
        if found is not None:
            return found
        provider = self._index.get(ref.provider)
        if provider is None:
            choices = ", ".join(p.id for p in self.providers)
            raise UsageError(
                f"unknown provider {ref.provider!r}; choose one of: {choices}",
                "'freemodels providers' lists the catalog",
            )
        choices = ", ".join(m.id for m in provider.models)
        raise UsageError(
            f"{provider.id} has no model {ref.model!r}; choose one of: {choices}",
            "'freemodels providers' lists the catalog",
        )

    def refs(self) -> Iterator[ModelRef]:
        """Every model's reference, in catalog order."""
        for provider, model in self.models():
            yield ModelRef(provider.id, model.id)

    def models(self) -> Iterator[tuple[Provider, Model]]:
        """Every (provider, model) pair, in catalog order."""
        for provider in self.providers:
            for model in provider.models:
                yield provider, model

    def only(self, provider_ids: list[str] | tuple[str, ...]) -> Catalog:
        """The catalog narrowed to these providers (callers validate the ids first)."""
        wanted = set(provider_ids)
        return Catalog(tuple(p for p in self.providers if p.id in wanted), self.sources)

    def without_expired(self, today: dt.date) -> Catalog:
        """The catalog minus the providers and models whose end date has come (`until`)."""
        providers = tuple(
            _replace_models(p, tuple(m for m in p.models if not ended(m.until, today)))
            for p in self.providers
            if not ended(p.until, today)
        )
        return Catalog(providers, self.sources)

    def ended(self, today: dt.date) -> tuple[Provider, ...]:
        """The providers whose end date has come: hidden, with a one-line notice each."""
        return tuple(p for p in self.providers if ended(p.until, today))


def ended(until: dt.date | None, today: dt.date) -> bool:
    """Whether a service with this end date no longer answers today (it stops on the date)."""
    return until is not None and until <= today


def bundled_catalog_text() -> str:
    """The providers.toml shipped inside the package."""
    # Read beside the package's files when they are on disk, as an installed wheel's are:
    # importlib.resources imports tempfile, shutil, random, bz2 and lzma, ~5 ms before every
    # command's first request (docs/architecture.md, "Performance notes").
    beside = Path(__file__).resolve().parents[2] / "providers.toml"
    if beside.is_file():
        return beside.read_text(encoding="utf-8")
    from importlib import resources  # a zipped install

    return resources.files("freemodels").joinpath("providers.toml").read_text(encoding="utf-8")


def load_catalog(
    path: Path | None = None,
    *,
    overlay: Path | None = None,
    allow_http: bool = False,
) -> Catalog:
    """Load `path` (or the bundled catalog), then merge the overlay over it when it exists.

    The bundled file must use https; `--catalog` files and overlays may use http (local servers).
    Each text's tables are kept in the user's cache folder (`parsed.py`): a command that reads
    the same text again skips the TOML parse.
    """
    if path is not None:
        return parse_catalog(_read(path), str(path), allow_http=True, cache=_file_slot(path))
    base = parse_catalog(
        bundled_catalog_text(), "bundled providers.toml", allow_http=allow_http, cache="bundled"
    )
    if overlay is None or not overlay.exists():
        return base
    raw = _parse_toml(_read(overlay), str(overlay), cache="overlay")
    return _merge(base, raw, str(overlay))


def _file_slot(path: Path) -> str:
    """The cache slot of a `--catalog` file: one per path, so that two files used in turn do not
    take each other's place (a slot shared by two paths is only a slower read)."""
    return f"file-{zlib.crc32(os.fsencode(os.path.abspath(path))):08x}"


def parse_catalog(
    text: str, source: str, *, allow_http: bool = False, cache: str | None = None
) -> Catalog:
    """Parse and validate catalog text; `source` names it in error messages; `cache` names the
    slot its parsed tables are kept in (none: parsed every time)."""
    raw = _parse_toml(text, source, cache)
    providers = _providers_table(raw, source)
    parsed = tuple(
        _parse_provider(pid, table, source, allow_http=allow_http)
        for pid, table in providers.items()
    )
    return Catalog(parsed, (source,))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"{path}: no such catalog file", "check the --catalog path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read the catalog ({exc.__class__.__name__})") from None


def _parse_toml(text: str, source: str, cache: str | None = None) -> dict[str, Any]:
    raw = None if cache is None else cached_tables(text, cache)
    if raw is None:
        import tomllib  # here: ~1.5 ms of imports, for a text not parsed before

        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CatalogError(f"{source}: not valid TOML: {exc}", "fix the syntax") from None
        if cache is not None:
            keep_tables(text, cache, raw)
    version = raw.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise CatalogError(
            f"{source}: schema_version {version!r} is not supported",
            f"this freemodels reads schema_version = {SCHEMA_VERSION}",
        )
    unknown = set(raw) - {"schema_version", "providers"}
    if unknown:
        raise CatalogError(f"{source}: unknown top-level key {sorted(unknown)[0]!r}")
    return raw


def _providers_table(raw: Mapping[str, Any], source: str) -> Mapping[str, Any]:
    providers = raw.get("providers", {})
    if not isinstance(providers, dict):
        raise CatalogError(f"{source}: 'providers' must be a table")
    return providers


def _check_types(table: Mapping[str, Any], spec: Mapping[str, Any], where: str) -> None:
    for key, value in table.items():
        if key not in spec:
            raise CatalogError(
                f"{where}: unknown key {key!r}",
                f"it may be a typo; the keys allowed here: {', '.join(sorted(spec))}",
            )
        expected = spec[key]
        # bool is an int in Python; a `true` where a number belongs is still a mistake.
        if isinstance(value, bool) and expected is not bool:
            ok = False
        else:
            ok = isinstance(value, expected)
        if not ok:
            raise CatalogError(
                f"{where}: key {key!r} has the wrong type ({type(value).__name__})",
                f"expected {_TYPE_NAMES.get(expected, 'another type')}",
            )


def _parse_provider(pid: str, table: Any, source: str, *, allow_http: bool) -> Provider:
    where = f"{source}: provider {pid!r}"
    if not isinstance(table, dict):
        raise CatalogError(f"{where}: must be a table")
    if not _ID.match(pid) or "/" in pid:
        raise CatalogError(f"{where}: ids use lowercase letters, digits, '-', '_' and '.'")
    _check_types(table, _PROVIDER_KEYS, where)
    for key in _PROVIDER_REQUIRED:
        if key not in table:
            raise CatalogError(f"{where}: missing required key {key!r}")
    base_url = table["base_url"].rstrip("/")
    scheme = base_url.split("://", 1)[0]
    if scheme != "https" and not (allow_http and scheme == "http"):
        raise CatalogError(
            f"{where}: key 'base_url' must be an https:// URL",
            "only a --catalog file or a user overlay may use http",
        )
    headers = table.get("headers", {})
    if not all(isinstance(v, str) for v in headers.values()):
        raise CatalogError(f"{where}: key 'headers' values must be strings")
    for key in ("rpm", "rpd"):
        if key in table and table[key] <= 0:
            raise CatalogError(f"{where}: key {key!r} must be positive")
    free = table.get("free", "tier")
    if free not in FREE_KINDS:
        raise CatalogError(f"{where}: key 'free' must be one of {', '.join(FREE_KINDS)}")
    # Anonymous access needs no key by definition; saying otherwise is a contradiction.
    if free == "keyless" and table.get("key_required") is True:
        raise CatalogError(
            f'{where}: free = "keyless" contradicts key_required = true',
            "a keyless provider answers without a key: drop key_required or set it to false",
        )
    env = table.get("api_key_env", [])
    key_required = table.get("key_required", free != "keyless")
    if key_required and not env:
        raise CatalogError(
            f"{where}: missing required key 'api_key_env'",
            "list the key's variable, or set key_required = false for a server without keys",
        )
    if not all(isinstance(v, str) and _ENV_NAME.match(v) for v in env):
        raise CatalogError(f"{where}: key 'api_key_env' must list environment variable names")
    models = tuple(_parse_models(table.get("models", []), where))
    return Provider(
        id=pid,
        name=table["name"],
        base_url=base_url,
        api_key_env=tuple(env),
        signup_url=table.get("signup_url", ""),
        key_required=key_required,
        rpm=table.get("rpm"),
        rpd=table.get("rpd"),
        budget=table.get("budget"),
        headers=tuple(headers.items()),
        models=models,
        free=free,
        until=_date(table.get("until")),
        verified=_date(table.get("verified")),
    )


def _parse_models(items: list[Any], where: str) -> Iterator[Model]:
    seen: set[str] = set()
    for index, item in enumerate(items):
        label = f"{where}, model #{index + 1}"
        if not isinstance(item, dict):
            raise CatalogError(f"{label}: must be a table")
        if isinstance(item.get("id"), str):
            label = f"{where}, model {item['id']!r}"
        model = _parse_model(item, label)
        if model.id in seen:
            raise CatalogError(f"{label}: duplicate model id")
        seen.add(model.id)
        yield model


def _parse_model(item: Mapping[str, Any], where: str) -> Model:
    _check_types(item, _MODEL_KEYS, where)
    for key in _MODEL_REQUIRED:
        if key not in item:
            raise CatalogError(f"{where}: missing required key {key!r}")
    if not item["id"].strip():
        raise CatalogError(f"{where}: key 'id' is empty")
    if item.get("context", 1) <= 0:
        raise CatalogError(f"{where}: key 'context' must be a positive number of tokens")
    if item.get("max_output", 1) <= 0:
        raise CatalogError(f"{where}: key 'max_output' must be positive")
    if item.get("rpd", 1) <= 0:
        raise CatalogError(f"{where}: key 'rpd' must be positive")
    tier = item.get("tier")
    if tier is not None and tier not in TIERS:
        raise CatalogError(f"{where}: key 'tier' must be one of {', '.join(TIERS)}")
    swe = item.get("swe_bench")
    if swe is not None and not 0 <= swe <= 100:
        raise CatalogError(f"{where}: key 'swe_bench' is a percentage (0 to 100)")
    until = _date(item.get("until"))
    return Model(
        id=item["id"],
        name=item.get("name", item["id"]),
        context=item.get("context"),
        max_output=item.get("max_output"),
        tier=tier,
        swe_bench=float(swe) if swe is not None else None,
        reasoning=item.get("reasoning", False),
        tool_calls=item.get("tool_calls"),
        rpd=item.get("rpd"),
        until=until,
    )


def _date(value: dt.date | None) -> dt.date | None:
    # TOML has datetimes too, and a datetime is a date to isinstance: keep the day only.
    return value.date() if isinstance(value, dt.datetime) else value


def _merge(base: Catalog, raw: Mapping[str, Any], source: str) -> Catalog:
    """Overlay semantics: same provider id → fields override, models add or override by id."""
    overlay = _providers_table(raw, source)
    merged: dict[str, Provider] = {p.id: p for p in base.providers}
    for pid, table in overlay.items():
        if not isinstance(table, dict):
            raise CatalogError(f"{source}: provider {pid!r}: must be a table")
        current = merged.get(pid)
        if current is None:
            merged[pid] = _parse_provider(pid, table, source, allow_http=True)
            continue
        filled = _provider_as_table(current)
        overlay_models = table.get("models", [])
        filled.update({k: v for k, v in table.items() if k != "models"})
        filled["models"] = []
        parsed = _parse_provider(pid, filled, source, allow_http=True)
        extra = tuple(_parse_models(overlay_models, f"{source}: provider {pid!r}"))
        by_id = {m.id: m for m in current.models}
        by_id.update({m.id: m for m in extra})
        merged[pid] = _replace_models(parsed, tuple(by_id.values()))
    return Catalog(tuple(merged.values()), (*base.sources, source))


def _provider_as_table(provider: Provider) -> dict[str, Any]:
    table: dict[str, Any] = {
        "name": provider.name,
        "base_url": provider.base_url,
        "api_key_env": list(provider.api_key_env),
        "signup_url": provider.signup_url,
        "key_required": provider.key_required,
        "headers": dict(provider.headers),
        "free": provider.free,
    }
    for key in ("rpm", "rpd", "budget", "until", "verified"):
        value = getattr(provider, key)
        if value is not None:
            table[key] = value
    return table


def _replace_models(provider: Provider, models: tuple[Model, ...]) -> Provider:
    return replace(provider, models=models)
