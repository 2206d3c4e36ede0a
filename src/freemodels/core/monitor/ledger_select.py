"""Picks the request ledger in one place: the local SQLite one, or Redis when configured.

Every command and the monitor build their ledger here, so `FREEMODELS_LEDGER` (or the user
config's `[ledger] url`) moves all of them at once (docs/architecture.md, "Rate budgets").
"""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping

from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor.budget import BudgetLedger, Ledger, budget_limits
from freemodels.core.monitor.ledger_config import LedgerSettings, ledger_settings, local_limits
from freemodels.core.records import BudgetState, Provider


def open_ledger(
    db: sqlite3.Connection,
    providers: Iterable[Provider],
    keys: KeyRing | None,
    *,
    clock: Callable[[], float] = time.time,
    env: Mapping[str, str] | None = None,
    settings: LedgerSettings | None = None,
    routed_reserve: float = 0.0,
) -> BudgetLedger:
    """The ledger the settings name, over these providers' budgets; `keys` names each budget's
    key in Redis (by fingerprint), so only machines on the same key share a budget.

    `routed_reserve` (see budget.Ledger) applies to either, while a router is live: on Redis
    while one serves on any machine of the team (see ledger_lua.GRANT)."""
    providers = list(providers)
    limits = budget_limits(providers)
    settings = ledger_settings(env) if settings is None else settings
    if settings.url is None:
        return Ledger(db, limits, clock=clock, routed_reserve=routed_reserve)
    # Imported here: the redis client is needed only by those who configured it.
    from freemodels.core.monitor.ledger_redis import RedisLedger

    local = Ledger(
        db,
        local_limits(limits, settings.fallback_share),
        clock=clock,
        routed_reserve=routed_reserve,
    )

    def key_of(provider: Provider) -> str | None:
        resolved = keys.resolve(provider) if keys is not None else None
        return resolved.value if resolved is not None else None

    ledger = RedisLedger(
        settings, limits, local, key_of, clock=clock, routed_reserve=routed_reserve
    )
    ledger.add_providers(providers)
    return ledger


def ledger_health(ledger: BudgetLedger) -> tuple[str, str, bool, str]:
    """(backend, masked URL, healthy, detail) of a ledger, for `freemodels ledger` and metrics."""
    from freemodels.core.monitor.ledger_redis import RedisLedger

    if isinstance(ledger, RedisLedger):
        health = ledger.health()
        return health.backend, health.url, health.healthy, health.detail
    return "sqlite", "local history database", True, "shared by the processes of this machine"


def spenders(ledger: BudgetLedger, budget: str) -> dict[str, int]:
    """Requests per host name in the budget's last day (never a key)."""
    from freemodels.core.monitor.ledger_redis import RedisLedger

    if isinstance(ledger, RedisLedger):
        return ledger.spenders(budget)
    used = ledger.state(budget).used_day
    return {socket.gethostname(): used} if used else {}


def ledger_status(ledger: BudgetLedger | None) -> tuple[str, bool]:
    """(backend, healthy) as of the last exchange, without a round trip (for metrics)."""
    from freemodels.core.monitor.ledger_redis import RedisLedger

    if isinstance(ledger, RedisLedger):
        return "redis", ledger.healthy
    return "sqlite", True


def budget_states(ledger: BudgetLedger, budgets: Iterable[str]) -> dict[str, BudgetState]:
    """Several budgets' states; Redis answers them in one round trip."""
    from freemodels.core.monitor.ledger_redis import RedisLedger

    names = list(budgets)
    if isinstance(ledger, RedisLedger):
        return dict(zip(names, ledger.states(names), strict=True))
    return {budget: ledger.state(budget) for budget in names}
