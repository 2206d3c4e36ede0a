"""The request ledger on Redis: one budget for every machine that shares a key.

Same contract as the SQLite `Ledger` (docs/architecture.md, "Rate budgets"): `try_acquire`
records a request before it is sent, or says how long until one fits; `pause` holds a budget for
everyone after a 429. Budgets are keyed by provider budget and a fingerprint of the API key
(HMAC with a fixed application salt), so colleagues on one key share one budget and colleagues
with their own keys do not; keyless requests share the provider's budget.

When Redis does not answer within the grant deadline (`timeout_s`, 50 ms by default) the local
SQLite ledger decides instead, at 1/N of each budget (`fallback_share`, default 4): a warning is
printed once, a background thread reconnects, and on reconnecting this process's own grants of
the last day (made through Redis or locally) are written back, so a restarted, empty Redis
still counts them.

Redis is spoken to through `ledger_resp`, the ledger's own small RESP client: a general client
library costs more to import than a whole sweep's grants (bench/ledger.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from freemodels.core.monitor import ledger_lua as lua
from freemodels.core.monitor import ledger_resp as resp
from freemodels.core.monitor.budget import DAY, Ledger, Limits
from freemodels.core.monitor.ledger_config import LedgerSettings, fallback_cap, scrub
from freemodels.core.records import BudgetState, Model, ProbeKind, Provider

log = logging.getLogger("freemodels.ledger")

RECONNECT_S = 1.0
KEEP_OWN = 20_000
REPLAY_MEMBERS = 256  # grants written back per ZADD
REPLAY_COMMANDS = 32  # commands per round trip of the write-back
# Any error of Redis's (unreachable, a timeout, a wrong password, a server that refuses scripts)
# hands the decision to the local fallback: probing must never stop on the shared ledger.
REDIS_ERRORS = (resp.RespError, OSError)
GRANT = resp.Script(lua.GRANT)
PAUSE = resp.Script(lua.PAUSE)
STATE = resp.Script(lua.STATE)

KeyOf = Callable[[Provider], str | None]
"""The API key a provider's requests carry (None when keyless)."""

Request = tuple[Provider, Model | None, ProbeKind]


@dataclass(frozen=True, slots=True)
class _Grant:
    """One request this process recorded, kept to write back after an outage."""

    keys: tuple[str, str | None]  # budget set, model set (None: no own cap)
    at: float  # server time
    member: str


@dataclass(frozen=True, slots=True)
class LedgerHealth:
    """Which ledger counts right now, for `freemodels ledger` and the metrics."""

    backend: str  # "redis" or "sqlite"
    url: str  # masked
    healthy: bool
    detail: str


class RedisLedger:
    """Checks and records requests against budgets in Redis, falling back to a local share."""

    def __init__(
        self,
        settings: LedgerSettings,
        limits: Mapping[str, Limits],
        local: Ledger,
        key_of: KeyOf,
        *,
        clock: Callable[[], float] = time.time,
        warn: Callable[[str], None] | None = None,
        routed_reserve: float = 0.0,
    ) -> None:
        assert settings.url is not None
        self.settings = settings
        self._reserve = routed_reserve
        self._live = True  # as budget.Ledger: the reserve holds until told no router runs here
        self._limits = dict(limits)
        self._local = local
        self._key_of = key_of
        self._clock = clock
        self._warn = warn or _stderr
        self._warned = False
        self._fingerprints: dict[str, str] = {}
        self._plans: dict[str, tuple[str, str, int, int]] = {}
        self._budget_providers: dict[str, Provider] = {}
        self._host = (settings.host or socket.gethostname()).replace("|", "_")
        self._seq = 0
        self._own: deque[_Grant] = deque(maxlen=KEEP_OWN)
        self._offset = 0.0  # server clock - local clock, from the last answer
        self._down = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._last_error = ""
        self._target = resp.parse_url(settings.url, settings.password)
        # One connection for grants, pauses and states (its lock keeps them in turn); the
        # reconnect thread opens its own.
        self._redis = resp.Connection(self._target, settings.timeout_s)

    # -- the Ledger interface ------------------------------------------------------------------

    def limits(self, budget: str) -> Limits:
        """The caps of one budget (the whole team's)."""
        return self._limits.get(budget, Limits())

    def try_acquire(self, provider: Provider, model: Model | None, kind: ProbeKind) -> float:
        """Record one request and return 0 when it fits; else the seconds until it may fit."""
        return self.try_acquire_many([(provider, model, kind)])[0]

    def try_acquire_many(self, requests: Sequence[Request]) -> list[float]:
        """Check and record requests in order, in one round trip: 0 for each one recorded."""
        return self._grant_many(requests, look=False)

    def wait(self, provider: Provider, model: Model | None) -> float:
        """Seconds until one more request to `model` would fit (0: now); records nothing."""
        return self._grant_many([(provider, model, ProbeKind.PROBE)], look=True)[0]

    def _grant_many(self, requests: Sequence[Request], *, look: bool) -> list[float]:
        if self._down.is_set():
            if look:
                return [self._local.wait(p, self._local_model(m)) for p, m, _ in requests]
            return self._local_many(requests)
        keys: list[str] = []
        index: dict[str, int] = {}  # each key once: the script finds it by its place in KEYS

        def at(key: str) -> int:
            found = index.get(key)
            if found is None:
                keys.append(key)
                found = index[key] = len(keys)
            return found

        args: list[str | int | float] = [
            lua.KEEP_UNCAPPED, "1" if look else "0", self._reserve, "1" if self._live else "0",
            at(lua.router_key()),
        ]  # fmt: skip
        plan: list[tuple[str, str | None, str]] = []
        prefix = f"{self._host}|{os.getpid()}|"
        for provider, model, kind in requests:
            grants, pause, rpm, rpd = self._budget_keys(provider)
            own_rpd = 0
            per_model = None
            if model is not None and model.rpd:
                own_rpd = model.rpd
                fp = self._fingerprint(provider)
                per_model = lua.model_key(provider.budget_id, fp, f"{provider.id}/{model.id}")
            self._seq += 1
            tag = f"{prefix}{self._seq}|{kind.value}"
            where = at(grants)
            args += [
                where,
                at(per_model) if per_model else where,
                at(pause),
                rpm,
                rpd,
                own_rpd,
                tag,
                "1" if kind is ProbeKind.ROUTED else "0",
            ]
            plan.append((grants, per_model, tag))
        sent = self._clock()
        try:
            reply = self._eval_grant(keys, args)
        except REDIS_ERRORS as exc:
            self._lost(exc)
            return self._grant_many(requests, look=look)
        server_now = float(reply[0])
        self._offset = server_now - sent
        waits = [float(wait) for wait in reply[1:]]
        if look:
            return waits
        for (grants, per_model, tag), wait in zip(plan, waits, strict=True):
            if wait <= 0:
                member = f"{reply[0]}|{tag}"
                self._own.append(_Grant((grants, per_model), server_now, member))
        return waits

    def _eval_grant(self, keys: list[str], args: list[str | int | float]) -> list[str]:
        return _strings(self._redis.run(GRANT, keys, args), "the grant script")

    def router_live(self, live: bool) -> None:
        """Whether a router serves on this machine now; while one does, its mark in Redis
        (refreshed by each call) makes every machine's probes leave the reserve to it."""
        self._live = live
        self._local.router_live(live)
        if not live or self._down.is_set():
            return
        try:
            self._redis.call("SET", lua.router_key(), self._host, "PX", lua.ROUTER_TTL_MS)
        except REDIS_ERRORS as exc:
            self._lost(exc)

    def pause(self, budget: str, until: float, reason: str) -> None:
        """Pause a budget for every machine until the local wall-clock time `until`."""
        self._local.pause(budget, until, reason)  # also here: it holds while Redis is down
        if self._down.is_set():
            return
        try:
            self._redis.run(PAUSE, [self._pause_key(budget)], [max(0.0, until - self._clock())])
        except REDIS_ERRORS as exc:
            self._lost(exc)

    def pauses(self) -> dict[str, float]:
        """Every budget paused now (here or by any machine), with its local resume time."""
        found = self._local.pauses()
        for state in self.states(self._budgets()):
            if state.paused_until is not None:
                found[state.budget] = max(found.get(state.budget, 0.0), state.paused_until)
        return found

    def paused_until(self, budget: str) -> float | None:
        """When a paused budget resumes (None when it is not paused)."""
        return self.state(budget).paused_until

    def state(self, budget: str) -> BudgetState:
        """Requests used and left in the budget's windows, across every machine."""
        return self.states([budget])[0]

    def states(self, budgets: Sequence[str]) -> list[BudgetState]:
        """`state` of several budgets in one round trip."""
        if not budgets:
            return []
        if not self._down.is_set():
            keys: list[str] = []
            for budget in budgets:
                keys += [self._grants_key(budget), self._pause_key(budget)]
            try:
                reply = _strings(self._redis.run(STATE, keys, []), "the state script")
            except REDIS_ERRORS as exc:
                self._lost(exc)
            else:
                offset = float(reply[0]) - self._clock()
                return [
                    self._budget_state(budget, reply[1 + 3 * i : 4 + 3 * i], offset)
                    for i, budget in enumerate(budgets)
                ]
        return [self._local.state(budget) for budget in budgets]

    def _budget_state(self, budget: str, row: Sequence[str], offset: float) -> BudgetState:
        caps = self.limits(budget)
        until = float(row[2]) - offset
        paused = until if until > self._clock() else None
        return BudgetState(budget, caps.rpm, caps.rpd, int(row[0]), int(row[1]), paused)

    # -- who spent it, health --------------------------------------------------------------------

    def spenders(self, budget: str, span: float = DAY) -> dict[str, int]:
        """Requests per host in the budget's last `span` seconds (empty while Redis is down)."""
        if self._down.is_set():
            return {}
        try:
            now = _server_time(self._redis)
            members = self._redis.call(
                "ZRANGEBYSCORE", self._grants_key(budget), repr(now - span), "+inf"
            )
        except REDIS_ERRORS as exc:
            self._lost(exc)
            return {}
        if not isinstance(members, list):
            return {}
        hosts: dict[str, int] = {}
        for member in members:
            host = str(member).split("|")[1]
            hosts[host] = hosts.get(host, 0) + 1
        return hosts

    def health(self) -> LedgerHealth:
        """Whether Redis answers now (one PING within the grant deadline)."""
        url = self.settings.shown_url
        if not self._down.is_set():
            try:
                self._redis.call("PING")
            except REDIS_ERRORS as exc:
                self._lost(exc)
            else:
                return LedgerHealth("redis", url, True, "shared budgets")
        share = self.settings.fallback_share
        detail = f"unreachable ({self._last_error}); counting locally at 1/{share} of each budget"
        return LedgerHealth("redis", url, False, detail)

    @property
    def healthy(self) -> bool:
        """Whether the last exchange with Redis worked."""
        return not self._down.is_set()

    def close(self) -> None:
        """Close the connections and end the reconnect thread."""
        self._closed.set()
        self._redis.close()

    # -- keys -------------------------------------------------------------------------------

    def _budget_keys(self, provider: Provider) -> tuple[str, str, int, int]:
        """A provider's budget set, pause key, rpm and rpd (0: uncapped), worked out once."""
        found = self._plans.get(provider.id)
        if found is None:
            budget, fp = provider.budget_id, self._fingerprint(provider)
            caps = self.limits(budget)
            found = self._plans[provider.id] = (
                lua.budget_key(budget, fp),
                lua.pause_key(budget, fp),
                caps.rpm or 0,
                caps.rpd or 0,
            )
        return found

    def _fingerprint(self, provider: Provider) -> str:
        fp = self._fingerprints.get(provider.id)
        if fp is None:
            fp = self._fingerprints[provider.id] = lua.fingerprint(
                provider.budget_id, self._key_of(provider)
            )
            self._budget_providers.setdefault(provider.budget_id, provider)
        return fp

    def add_providers(self, providers: Iterable[Provider]) -> None:
        """Providers whose budgets `pauses` and `state` read (the first one names the key)."""
        for provider in providers:
            self._budget_providers.setdefault(provider.budget_id, provider)

    def _budgets(self) -> list[str]:
        return list(self._budget_providers)

    def _budget_fingerprint(self, budget: str) -> str:
        provider = self._budget_providers.get(budget)
        return (
            self._fingerprint(provider) if provider is not None else lua.fingerprint(budget, None)
        )

    def _grants_key(self, budget: str) -> str:
        return lua.budget_key(budget, self._budget_fingerprint(budget))

    def _pause_key(self, budget: str) -> str:
        return lua.pause_key(budget, self._budget_fingerprint(budget))

    # -- the fallback ---------------------------------------------------------------------------

    def _local_many(self, requests: Sequence[Request]) -> list[float]:
        """The local SQLite ledger decides, at this machine's share of each budget."""
        waits: list[float] = []
        for provider, model, kind in requests:
            wait = self._local.try_acquire(provider, self._local_model(model), kind)
            if wait <= 0:
                budget, fp = provider.budget_id, self._fingerprint(provider)
                per_model = None
                if model is not None and model.rpd:
                    per_model = lua.model_key(budget, fp, f"{provider.id}/{model.id}")
                self._seq += 1
                at = self._clock() + self._offset
                tag = f"{self._host}|{os.getpid()}|{self._seq}|{kind.value}"
                member = f"{at:.6f}|{tag}"
                self._own.append(_Grant((lua.budget_key(budget, fp), per_model), at, member))
            waits.append(wait)
        return waits

    def _local_model(self, model: Model | None) -> Model | None:
        """The model as the fallback counts it: its own daily cap at this machine's share."""
        if model is None or not model.rpd:
            return model
        return replace(model, rpd=fallback_cap(model.rpd, self.settings.fallback_share))

    def _lost(self, exc: BaseException) -> None:
        with self._lock:
            self._last_error = scrub(exc, self.settings)
            if self._down.is_set():
                return
            self._down.set()
        log.info("ledger: %s unreachable: %s", self.settings.shown_url, self._last_error)
        if not self._warned:
            self._warned = True
            self._warn(
                f"the shared ledger at {self.settings.shown_url} is unreachable "
                f"({self._last_error}); counting locally at 1/{self.settings.fallback_share} "
                "of each budget until it is back"
            )
        threading.Thread(target=self._reconnect, name="freemodels-ledger", daemon=True).start()

    def _reconnect(self) -> None:
        """Until Redis answers: then write back this process's own grants and resume."""
        # Twice the grant deadline: a Redis too slow for grants stays on the fallback.
        client = resp.Connection(self._target, 2 * self.settings.timeout_s)
        try:
            while not self._closed.wait(RECONNECT_S):
                try:
                    server_now = _server_time(client)
                    self._replay(client, server_now)
                except REDIS_ERRORS as exc:
                    self._last_error = scrub(exc, self.settings)
                    continue
                self._offset = server_now - self._clock()
                self._down.clear()
                # Again, for grants made locally while the first write-back ran; should Redis
                # go away meanwhile, the next grant notices it and falls back again.
                with contextlib.suppress(*REDIS_ERRORS):
                    self._replay(client, server_now)
                self._warn(f"reconnected to the shared ledger at {self.settings.shown_url}")
                return
        finally:
            client.close()

    def _replay(self, client: resp.Connection, server_now: float) -> None:
        """Write back own grants of the last day (ZADD NX: ones Redis still has are kept)."""
        members: dict[str, list[resp.Arg]] = {}
        for grant in self._own.copy():
            if grant.at <= server_now - DAY:
                continue
            for key in grant.keys:
                if key is not None:
                    members.setdefault(key, []).extend((repr(grant.at), grant.member))
        commands: list[tuple[resp.Arg, ...]] = []
        for key, pairs in members.items():
            # A few hundred members a command, a few dozen commands a round trip: each
            # exchange stays well within the deadline however many grants there are.
            for start in range(0, len(pairs), 2 * REPLAY_MEMBERS):
                commands.append(("ZADD", key, "NX", *pairs[start : start + 2 * REPLAY_MEMBERS]))
            commands.append(("EXPIRE", key, int(DAY) + 60))
        for start in range(0, len(commands), REPLAY_COMMANDS):
            client.call_many(commands[start : start + REPLAY_COMMANDS])


def _strings(reply: resp.Reply, what: str) -> list[str]:
    """A script's reply, a list of strings (its numbers travel as strings)."""
    if not isinstance(reply, list):
        raise resp.ProtocolError(f"{what} returned no list")
    return [str(item) for item in reply]


def _server_time(client: resp.Connection) -> float:
    """The server's clock (TIME), in seconds."""
    reply = client.call("TIME")
    if not isinstance(reply, list) or len(reply) != 2:
        raise resp.ProtocolError("TIME returned no pair")
    return int(str(reply[0])) + int(str(reply[1])) / 1e6


def _stderr(message: str) -> None:
    print(f"freemodels: {message}", file=sys.stderr, flush=True)
