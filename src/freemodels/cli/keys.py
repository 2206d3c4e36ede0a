"""`freemodels keys`: list, set, rm, test and import API keys.

The key values live in `freemodels.core` (keys, keystores, keytest, migrate); this module only
parses arguments, reads the key from stdin or a hidden prompt (never argv), and prints. stdout
carries the result; notices and warnings go to stderr; no key value is printed, only masked forms.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from freemodels.core.catalog.parse import Catalog
from freemodels.core.records import Provider
from freemodels.errors import UsageError

_NO_ARGV_KEY = (
    "'keys set' takes only the provider id: a key on the command line would stay in your shell "
    "history and be visible to other users in `ps`"
)
_NO_ARGV_HINT = 'pipe it in (printf %s "$KEY" | freemodels keys set ID) or run it in a terminal'


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `keys` and its actions."""
    from freemodels.cli import _global_options

    parser: argparse.ArgumentParser = sub.add_parser(
        "keys",
        help="list, set, remove, test or import API keys",
        description="Manage provider API keys: environment first, then the OS keyring, then a "
        "0600 secrets file when no keyring is available.",
    )
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION")
    listing = actions.add_parser("list", help="every provider: key set?, source, masked (default)")
    listing.add_argument("--json", action="store_true", help="one JSON array, no key values")
    setting = actions.add_parser(
        "set",
        help="store a key read from stdin or a hidden prompt (never from the command line)",
    )
    setting.add_argument("provider", metavar="PROVIDER")
    # Everything after the provider is captured so a key typed there is refused without being
    # echoed back in an "unrecognized arguments" message.
    setting.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    removing = actions.add_parser("rm", help="delete a stored key")
    removing.add_argument("provider", metavar="PROVIDER")
    testing = actions.add_parser("test", help="one cheap authenticated request per provider")
    testing.add_argument("provider", metavar="PROVIDER", nargs="?")
    testing.add_argument("--json", action="store_true", help="one JSON array")
    importing = actions.add_parser(
        "import", help="import keys from free-coding-models (~/.free-coding-models.json)"
    )
    importing.add_argument("--yes", action="store_true", help="import without asking")
    importing.add_argument(
        "--from", dest="from_path", metavar="PATH", help="the peer's config file, if elsewhere"
    )
    for action in (listing, setting, removing, testing, importing):
        _global_options(action, suppress=True)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run the chosen `keys` action (default: list)."""
    action = getattr(args, "keys_action", None) or "list"
    if action == "set":
        _take_globals(args)
    if getattr(args, "demo", False):
        raise UsageError("'keys' has no demo mode", "the simulated fleet needs no keys")
    catalog = _load_catalog(args)
    if action == "list":
        return _list(catalog, as_json=getattr(args, "json", False))
    if action == "set":
        return _set(catalog, args.provider)
    if action == "rm":
        return _rm(catalog, args.provider)
    if action == "test":
        return _test(catalog, args.provider, as_json=args.json)
    return _import(catalog, yes=args.yes, from_path=args.from_path)


def _load_catalog(args: argparse.Namespace) -> Catalog:
    from freemodels.cli.context import load_catalog_for

    return load_catalog_for(args)


def _take_globals(args: argparse.Namespace) -> None:
    """Accept the global options after `set PROVIDER`; refuse anything else, unechoed."""
    from freemodels.cli import _global_options

    extra = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    _global_options(extra, suppress=True)
    try:
        known, unknown = extra.parse_known_args(list(args.rest))
    except argparse.ArgumentError:
        unknown = ["?"]
    if unknown:
        raise UsageError(_NO_ARGV_KEY, _NO_ARGV_HINT)
    for name, value in vars(known).items():
        setattr(args, name, value)
    if getattr(args, "debug", None):
        from freemodels.debuglog import configure

        configure(args.debug)


def _provider(catalog: Catalog, provider_id: str) -> Provider:
    provider = catalog.provider(provider_id)
    if provider is None:
        known = ", ".join(p.id for p in catalog.providers) or "none"
        raise UsageError(f"unknown provider '{provider_id}'", f"known providers: {known}")
    return provider


def _interactive() -> bool:
    # A person at a terminal can answer a keyring unlock prompt; a script cannot.
    return sys.stdin is not None and sys.stdin.isatty()


def _keyring(*, announce: bool) -> Any:
    from freemodels.core.keys.os_keyring import default_keyring, say_once

    keyring = default_keyring(interactive=_interactive(), fallback_notice="always")
    if announce:
        first = keyring.stores[0] if keyring.stores else None
        if first is not None and first.name == "keyring":
            say_once(f"keys are kept in {getattr(first, 'location', 'the OS keyring')}")
    return keyring


def _err(message: str) -> None:
    print(f"freemodels: {message}", file=sys.stderr)


def _list(catalog: Catalog, *, as_json: bool) -> int:
    keyring = _keyring(announce=not as_json)
    statuses = keyring.statuses(catalog.providers)
    if as_json:
        records = [
            {
                "provider": s.provider_id,
                "name": s.name,
                "configured": s.configured,
                "source": s.source,
                "masked": s.masked,
                "key_required": s.key_required,
                "signup_url": s.signup_url,
                "overrides": list(s.shadowed),
            }
            for s in statuses
        ]
        print(json.dumps(records, ensure_ascii=False))
        return 0
    rows = [("PROVIDER", "KEY", "SOURCE", "")]
    for s in statuses:
        if s.configured:
            note = f"overrides the key in {', '.join(s.shadowed)}" if s.shadowed else ""
            rows.append((s.provider_id, s.masked or "", s.source or "", note))
        elif s.key_required:
            rows.append((s.provider_id, "-", "not set", f"get one: {s.signup_url}"))
        else:
            rows.append((s.provider_id, "-", "not needed", ""))
    print(_table(rows))
    return 0


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
        for r in rows
    )


def _read_key(provider: Provider) -> str:
    if _interactive():
        try:
            return getpass.getpass(f"{provider.name} API key (input hidden): ")
        except EOFError:
            return ""
    return sys.stdin.read() if sys.stdin is not None else ""


def _set(catalog: Catalog, provider_id: str) -> int:
    from freemodels.core.keys.lookup import clean_key, key_format_warning, mask

    provider = _provider(catalog, provider_id)
    keyring = _keyring(announce=True)
    value = clean_key(_read_key(provider))
    warning = key_format_warning(provider.id, value)
    if warning:
        _err(warning)
    stored = keyring.store_key(provider, value)
    if stored.fallback_reason:
        _err(f"could not use {stored.fallback_reason}; used {stored.location} instead")
    if stored.replaced:
        _err(f"replaced the {provider.id} key that was stored there ({stored.replaced})")
    if stored.env_override:
        _err(f"{stored.env_override} is set in the environment and takes precedence over it")
    print(f"{provider.id}: key {mask(value)} stored in {stored.location}")
    return 0


def _rm(catalog: Catalog, provider_id: str) -> int:
    provider = _provider(catalog, provider_id)
    keyring = _keyring(announce=False)
    removed = keyring.remove_key(provider.id)
    if removed:
        print(f"{provider.id}: key removed from {', '.join(removed)}")
    else:
        print(f"{provider.id}: no stored key")
    env_name = keyring.env_variable(provider)
    if env_name:
        _err(f"{env_name} is still set in the environment; unset it to stop using that key")
    return 0


def _test(catalog: Catalog, provider_id: str | None, *, as_json: bool) -> int:
    from freemodels import paths
    from freemodels.core.keys.verify import verify_keys
    from freemodels.core.monitor.budget import RequestGate
    from freemodels.core.monitor.ledger_select import open_ledger
    from freemodels.core.probe.clients import ClientPool
    from freemodels.core.store.history import History

    providers = [_provider(catalog, provider_id)] if provider_id else list(catalog.providers)
    keyring = _keyring(announce=False)
    keyed = [(p, keyring.resolve(p)) for p in providers]

    history = History(paths.history_path())
    try:
        # Key tests count against the same shared budgets as probes
        # (docs/architecture.md, "Rate budgets").
        gate = RequestGate(open_ledger(history.db, catalog.providers, keyring))

        async def main() -> list[Any]:
            async with ClientPool() as pool:
                return await verify_keys(keyed, pool=pool, gate=gate, env=keyring.env)

        import asyncio

        results = asyncio.run(main())
    finally:
        history.close()
    if as_json:
        records = [
            {
                "provider": r.provider_id,
                "verdict": r.verdict.value,
                "http_status": r.http_status,
                "detail": r.detail,
                "source": r.source,
                "masked": r.masked,
                "requests": r.requests,
            }
            for r in results
        ]
        print(json.dumps(records, ensure_ascii=False))
        return 0
    rows = [("PROVIDER", "RESULT", "KEY", "DETAIL")]
    for r in results:
        key = f"{r.masked} ({r.source})" if r.masked else "-"
        rows.append((r.provider_id, r.verdict.label, key, r.detail))
    print(_table(rows))
    return 0


def _import(catalog: Catalog, *, yes: bool, from_path: str | None) -> int:
    from freemodels.core.keys.peer_import import (
        ImportAction,
        apply_import,
        peer_config_path,
        plan_import,
        read_peer_keys,
    )

    path = Path(from_path) if from_path else peer_config_path()
    if not path.is_file():
        _err(f"no {path} found: nothing to import")
        return 0
    keyring = _keyring(announce=True)
    plan = plan_import(read_peer_keys(path), catalog, keyring)
    if not plan:
        _err(f"{path} holds no API keys: nothing to import")
        return 0
    rows = [("PEER", "KEY", "ACTION")]
    for item in plan:
        if item.action is ImportAction.NEW:
            what = f"import as {item.provider_id}"
        elif item.action is ImportAction.REPLACE:
            what = f"import as {item.provider_id}, REPLACING the stored key {item.replaces}"
        elif item.action is ImportAction.SAME:
            what = "already stored"
        else:
            what = "skip: no such provider in the catalog"
        if item.extra_keys:
            what += f" (the first of {item.extra_keys + 1} keys)"
        rows.append((item.peer_id, item.masked, what))
    print(_table(rows))
    todo = [i for i in plan if i.action in (ImportAction.NEW, ImportAction.REPLACE)]
    if not todo:
        _err("nothing to import")
        return 0
    if not yes:
        if not _interactive():
            _err(
                "nothing imported: stdin is not a terminal, so nothing could be asked; "
                "run 'freemodels keys import --yes' to import the keys listed above"
            )
            return 0
        replacing = sum(i.action is ImportAction.REPLACE for i in todo)
        question = f"Import {len(todo)} key(s)" + (
            f", replacing {replacing} stored key(s)" if replacing else ""
        )
        print(f"{question}? [y/N] ", end="", file=sys.stderr, flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            _err("nothing imported")
            return 0
    for stored in apply_import(plan, catalog, keyring):
        replaced = f", replacing {stored.replaced}" if stored.replaced else ""
        print(f"{stored.provider_id}: imported into {stored.location}{replaced}")
        if stored.env_override:
            _err(f"{stored.env_override} is set in the environment and takes precedence")
    return 0
