"""What every command needs: the catalog, the keys and the history, honouring --demo and --catalog.

With `--demo`, a simulated fleet starts on 127.0.0.1 in a background thread; its providers have
their own ids (`demo-…`) and key variables, and its samples go to a history file of their own, so
a real key is never sent to the simulator and demo numbers never mix with real ones.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from freemodels import paths
from freemodels.core.catalog.parse import Catalog, load_catalog, parse_catalog
from freemodels.core.keys.lookup import KeyRing
from freemodels.errors import CatalogError, UsageError


@dataclass(frozen=True, slots=True)
class Context:
    """The catalog, keys and history location one command runs with."""

    catalog: Catalog
    keys: KeyRing
    history_path: Path
    demo: bool = False

    @property
    def env(self) -> Mapping[str, str]:
        """The environment keys and URL variables are read from."""
        return self.keys.env


def load_catalog_for(args: argparse.Namespace) -> Catalog:
    """The catalog `--catalog` names, else the bundled one with the user overlay merged in.

    Providers and models whose end date has come are left out; a retired provider and a stale
    bundled catalog are each said once on stderr (diagnostics, never the result on stdout).
    An empty `--catalog` is bad input: it would rank nothing and exit 0.
    """
    from freemodels.core.catalog.notices import catalog_notices, catalog_today

    path = getattr(args, "catalog", None)
    catalog = load_catalog(Path(path) if path else None, overlay=paths.overlay_catalog_path())
    if path and not catalog.providers:
        raise CatalogError(f"{path} lists no provider", _ADD_PROVIDER)
    today = catalog_today()
    for line in catalog_notices(catalog, today, bundled=path is None):
        print(f"freemodels: note: {line}", file=sys.stderr)
    return catalog.without_expired(today)


_ADD_PROVIDER = "add a [providers.ID] table with [[providers.ID.models]]"


def require_models(catalog: Catalog, args: argparse.Namespace) -> None:
    """CatalogError when there is no model to rank (a catalog of providers only)."""
    if not any(True for _ in catalog.models()):
        source = getattr(args, "catalog", None) or "the catalog"
        raise CatalogError(f"{source} lists no model", _ADD_PROVIDER)


def expired_models(args: argparse.Namespace) -> list[str]:
    """`provider/model (until DATE)` for each model hidden because its shutdown date passed."""
    path = getattr(args, "catalog", None)
    if getattr(args, "demo", False):
        return []
    from freemodels.core.catalog.notices import catalog_today
    from freemodels.core.catalog.parse import ended

    catalog = load_catalog(Path(path) if path else None, overlay=paths.overlay_catalog_path())
    today = catalog_today()
    # A retired provider's models are covered by its own notice (load_catalog_for).
    return [
        f"{provider.id}/{model.id} (until {model.until.isoformat()})"
        for provider, model in catalog.models()
        if model.until is not None
        and ended(model.until, today)
        and not ended(provider.until, today)
    ]


def make_keyring(env: Mapping[str, str] | None = None, *, interactive: bool = False) -> KeyRing:
    """The key lookup chain (environment, then the key stores)."""
    try:
        from freemodels.core.keys.os_keyring import default_keyring
    except ImportError:
        return KeyRing(env=env)
    # With --debug a person is looking into what happens: say where keys are kept every time.
    debugging = bool(getattr(logging.getLogger("freemodels"), "handlers", None))
    return default_keyring(
        interactive=interactive, env=env, fallback_notice="always" if debugging else "once"
    )


@contextmanager
def open_context(args: argparse.Namespace, *, interactive: bool = False) -> Iterator[Context]:
    """Set up the catalog, keys and history for a command; with --demo, run the fleet meanwhile."""
    if not getattr(args, "demo", False):
        yield Context(
            load_catalog_for(args), make_keyring(interactive=interactive), paths.history_path()
        )
        return
    from freemodels.fleet.demo import configure_demo, demo_catalog_toml, demo_env
    from freemodels.fleet.server import Fleet, FleetThread

    fleet = Fleet(seed=int(os.environ.get("FREEMODELS_DEMO_SEED", "0")))
    configure_demo(fleet)
    with FleetThread(fleet):
        catalog = parse_catalog(demo_catalog_toml(fleet), "demo fleet", allow_http=True)
        env = {**os.environ, **demo_env()}
        # No key stores: the simulator needs only its own demo keys, and a stored real key
        # must never be sent to it.
        yield Context(
            catalog,
            KeyRing(env=env),
            paths.history_path(demo=True),
            demo=True,
        )


def select_providers(catalog: Catalog, wanted: list[str] | None) -> Catalog:
    """The catalog narrowed to `--provider` ids; an unknown id is a usage error."""
    if not wanted:
        return catalog
    known = [p.id for p in catalog.providers]
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise UsageError(f"unknown provider {unknown[0]!r}", f"known providers: {', '.join(known)}")
    return catalog.only(wanted)
