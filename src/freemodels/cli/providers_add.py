"""`freemodels providers add ID URL [--key-env VAR]` and `providers add --detect`.

Your own servers (Ollama, LM Studio, llama.cpp, vLLM) ranked beside the free clouds: ask the
server's `GET /models`, show what it lists, and write it into the user overlay.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freemodels.errors import CatalogError, UsageError

if TYPE_CHECKING:
    from freemodels.core.catalog.local import Server
    from freemodels.core.records import Provider


def add_parser(actions: Any, global_options: dict[str, dict[str, Any]]) -> None:
    """Register `providers add` under the `providers` actions."""
    add = actions.add_parser(
        "add",
        help="add your own OpenAI-compatible server (Ollama, LM Studio, llama.cpp, vLLM)",
        description="Ask the server's GET /models (one request, within the budget), show the "
        "models it lists, and add it to your overlay, $XDG_CONFIG_HOME/freemodels/providers.toml "
        "(comments kept). --detect tries the usual local ports: Ollama 11434, LM Studio 1234, "
        "llama.cpp 8080, vLLM 8000.",
    )
    add.add_argument("id", nargs="?", metavar="ID", help="the provider id to use, e.g. ollama")
    add.add_argument(
        "url", nargs="?", metavar="URL", help="its base URL, e.g. http://127.0.0.1:11434/v1"
    )
    add.add_argument(
        "--key-env", metavar="VAR", help="the variable holding its key, if it needs one"
    )
    add.add_argument("--name", help="a display name (default: the id)")
    add.add_argument("--detect", action="store_true", help="find servers on the usual local ports")
    add.add_argument("--yes", action="store_true", help="add what --detect finds without asking")
    for option, kwargs in global_options.items():
        add.add_argument(option, default=argparse.SUPPRESS, **kwargs)


def run(args: argparse.Namespace) -> int:
    """Add one server (ID URL) or the ones --detect finds."""
    from freemodels.core.catalog.local import candidates, own_provider

    if getattr(args, "demo", False):
        raise UsageError("providers add writes your real overlay; it does not take --demo")
    if args.detect:
        if args.id or args.url or args.key_env or args.name:
            raise UsageError("--detect takes no ID, URL, --key-env or --name")
        return _detect(candidates(os.environ), yes=args.yes)
    if not args.id or not args.url:
        raise UsageError("providers add needs ID and URL (or --detect)")
    provider = own_provider(args.id, args.url, key_env=args.key_env, name=args.name)
    _refuse_known([provider])
    (server,) = _ask([provider], timeout_s=None)
    if server.error is not None:
        raise UsageError(
            f"{provider.base_url}/models: {server.error}; nothing was written",
            "is the server running, and is this its OpenAI-compatible base URL (often …/v1)?",
        )
    if not server.models:
        raise UsageError(f"{server.provider.base_url} lists no model; nothing was written")
    _show(server)
    _write([server])
    return 0


def _detect(tried: Sequence[Provider], *, yes: bool) -> int:
    from freemodels.core.catalog.local import DETECT_TIMEOUT_S

    known = _known_ids()
    fresh = [p for p in tried if p.id not in known]
    for provider in tried:
        if provider.id in known:
            print(f"{provider.id}: already in your catalog", file=sys.stderr)
    servers = _ask(fresh, timeout_s=DETECT_TIMEOUT_S) if fresh else []
    found = [s for s in servers if s.error is None and s.models]
    for server in servers:
        if server not in found:
            why = server.error or "lists no model"
            print(
                f"{server.provider.id}: nothing at {server.provider.base_url} ({why})",
                file=sys.stderr,
            )
    if not found:
        print("freemodels: no local server answered", file=sys.stderr)
        return 0
    for server in found:
        _show(server)
    if not yes and not _confirm(f"add {', '.join(s.provider.id for s in found)} to your catalog?"):
        print("freemodels: nothing written (add them with --yes)", file=sys.stderr)
        return 0
    _write(found)
    return 0


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    answer = input(f"{question} [Y/n] ").strip().lower()
    return answer in ("", "y", "yes")


def _show(server: Server) -> None:
    ids = [m.id if m.context is None else f"{m.id} ({m.context:,} tokens)" for m in server.models]
    count = len(ids)
    print(
        f"{server.provider.id}: {count} model{'s' if count != 1 else ''} at "
        f"{server.provider.base_url}: {', '.join(ids)}"
    )


def _ask(providers: Sequence[Provider], *, timeout_s: float | None) -> list[Server]:
    """Each server's model list, through the shared budget ledger."""
    return asyncio.run(_ask_all(providers, timeout_s))


async def _ask_all(providers: Sequence[Provider], timeout_s: float | None) -> list[Server]:
    from freemodels import paths
    from freemodels.core.catalog.local import REQUEST_TIMEOUT_S, ask_server
    from freemodels.core.keys.lookup import KeyRing
    from freemodels.core.monitor.budget import Ledger, RequestGate, budget_limits
    from freemodels.core.probe.clients import ClientPool
    from freemodels.core.store.history import History

    keys = KeyRing(env=os.environ)  # a local server's key comes from its variable only
    history = History(paths.history_path())
    try:
        gate = RequestGate(Ledger(history.db, budget_limits(providers)))
        async with ClientPool() as pool:
            found = await asyncio.gather(
                *(
                    ask_server(
                        p, pool.client(p.base_url, p.id), keys.resolve(p), gate,
                        timeout_s=timeout_s or REQUEST_TIMEOUT_S,
                    )
                    for p in providers
                )
            )  # fmt: skip
    finally:
        history.close()
    return list(found)


def _known_ids() -> set[str]:
    from freemodels import paths
    from freemodels.core.catalog.parse import load_catalog

    catalog = load_catalog(None, overlay=paths.overlay_catalog_path())
    return {p.id for p in catalog.providers}


def _refuse_known(providers: Sequence[Provider]) -> None:
    from freemodels import paths

    known = _known_ids()
    for provider in providers:
        if provider.id in known:
            raise UsageError(
                f"provider {provider.id!r} is already in your catalog",
                f"pick another id, or edit {paths.overlay_catalog_path()}",
            )


def _write(servers: Sequence[Server]) -> None:
    from freemodels import paths
    from freemodels.core.catalog.local import add_to_overlay
    from freemodels.core.catalog.overlay import replace_overlay
    from freemodels.core.catalog.parse import load_catalog

    path = paths.overlay_catalog_path()
    text = add_to_overlay(path, servers, sorted(_known_ids()))

    def check(temp: Path) -> None:
        try:
            load_catalog(None, overlay=temp)
        except CatalogError as exc:
            # The temporary file is what was parsed; the user knows the overlay's name.
            raise CatalogError(exc.message.replace(str(temp), str(path)), exc.hint) from None

    replace_overlay(path, text, check)
    names = ", ".join(s.provider.id for s in servers)
    print(f"added {names} to {path}", file=sys.stderr)
