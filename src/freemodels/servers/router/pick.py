"""Which models may answer a request, best first: model names, aliases and the candidate order.

`auto` is the best usable model now, `auto:tools` the best whose tool calls work, and
`provider/model` pins one model (no failover). Any other name (Claude Code sends `claude-…`)
means `auto:tools` when the request carries tools, else `auto`. Candidates follow the live
ranking; a model is skipped when its last answer says it cannot serve (no key, key refused,
gone), when it is DOWN, when its budget is paused after a 429, when the request needs tools and
its tool calls failed, or when the request (estimated tokens) does not fit its context.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from freemodels.core.catalog.parse import Catalog
from freemodels.core.records import Health, Model, ModelRef, ModelStats, Outcome, Provider, Snapshot

AUTO = "auto"
AUTO_TOOLS = "auto:tools"
ALIASES = (AUTO, AUTO_TOOLS)

# The latest answer says the model cannot serve anyone: no point in trying it now.
_CANNOT_SERVE = frozenset({Outcome.NO_KEY, Outcome.AUTH_FAILED, Outcome.NOT_FOUND})


@dataclass(frozen=True, slots=True)
class Candidate:
    """One model that may answer."""

    provider: Provider
    model: Model

    @property
    def ref(self) -> ModelRef:
        """Its `provider/model`."""
        return ModelRef(self.provider.id, self.model.id)


@dataclass(frozen=True, slots=True)
class Skip:
    """A model left out of (or given up on for) one request, and why."""

    ref: ModelRef
    reason: str
    retry_after_s: float | None = None
    """Set when the model is only rate-limited: the seconds until it may answer again."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The candidates for one request, best first, and the models passed over for it."""

    alias: str
    """`auto`, `auto:tools`, a group's name, or the pinned `provider/model`."""
    pinned: bool
    candidates: Iterable[Candidate]
    """Iterated once, lazily for an alias: a request that the first model answers looks at one
    row of the ranking, not at the whole catalog."""
    skipped: list[Skip] = field(default_factory=list)
    """The models passed over so far (filled while `candidates` is iterated)."""


class Ranking:
    """The catalog in rank order, worked out once per Snapshot rather than once per request."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._for: Snapshot | None = None
        self._order: list[tuple[Provider, Model, ModelStats | None]] = []

    def order(self, snapshot: Snapshot) -> list[tuple[Provider, Model, ModelStats | None]]:
        """Every catalog model with its row, best first."""
        if snapshot is not self._for:
            self._order = _ranked(self.catalog, snapshot)
            self._for = snapshot
        return self._order


def alias_for(
    name: object, *, has_tools: bool, groups: Mapping[str, tuple[str, ...]] | None = None
) -> str:
    """The alias a requested model name means (a pin or a user's group is kept as is)."""
    if isinstance(name, str) and (name in ALIASES or "/" in name or name in (groups or {})):
        return name
    return AUTO_TOOLS if has_tools else AUTO


def plan(
    catalog: Catalog,
    snapshot: Snapshot,
    alias: str,
    *,
    tokens: int,
    now: float,
    groups: Mapping[str, tuple[str, ...]] | None = None,
    ranking: Ranking | None = None,
) -> Plan | None:
    """The candidates for `alias`; None when it pins a model the catalog does not have."""
    members = (groups or {}).get(alias)
    if members is not None:
        return _group(catalog, snapshot, alias, members, tokens=tokens, now=now)
    if alias not in ALIASES:
        pinned = _pinned(catalog, alias)
        if pinned is None:
            return None
        return Plan(alias, True, (pinned,))
    order = (ranking or Ranking(catalog)).order(snapshot)
    skipped: list[Skip] = []
    fit = _fit(order, snapshot, skipped, alias == AUTO_TOOLS, tokens, now)
    return Plan(alias, False, fit, skipped)


def _fit(
    order: list[tuple[Provider, Model, ModelStats | None]],
    snapshot: Snapshot,
    skipped: list[Skip],
    needs_tools: bool,
    tokens: int,
    now: float,
) -> Iterator[Candidate]:
    """The models of `order` fit for the request, noting the others in `skipped`."""
    for provider, model, row in order:
        reason, retry = _unfit(provider, model, row, snapshot, needs_tools, tokens, now)
        if reason is None:
            yield Candidate(provider, model)
        else:
            skipped.append(Skip(ModelRef(provider.id, model.id), reason, retry))


def _group(
    catalog: Catalog,
    snapshot: Snapshot,
    name: str,
    members: tuple[str, ...],
    *,
    tokens: int,
    now: float,
) -> Plan:
    """A user's group: its members in order, an alias standing for the ranking at that point."""
    candidates: list[Candidate] = []
    skipped: list[Skip] = []
    for member in members:
        if member in ALIASES:
            sub = plan(catalog, snapshot, member, tokens=tokens, now=now)
            assert sub is not None
            candidates += sub.candidates
            skipped += sub.skipped
            continue
        pinned = _pinned(catalog, member)
        if pinned is None:
            continue
        row = snapshot.row(pinned.ref)
        reason, retry = _unfit(pinned.provider, pinned.model, row, snapshot, False, tokens, now)
        if reason is None:
            candidates.append(pinned)
        else:
            skipped.append(Skip(pinned.ref, reason, retry))
    unique: dict[ModelRef, Candidate] = {}
    for candidate in candidates:
        unique.setdefault(candidate.ref, candidate)
    return Plan(name, False, tuple(unique.values()), skipped)


def _pinned(catalog: Catalog, alias: str) -> Candidate | None:
    try:
        ref = ModelRef.parse(alias)
    except ValueError:
        return None
    found = catalog.get(ref)
    return Candidate(*found) if found is not None else None


def _ranked(
    catalog: Catalog, snapshot: Snapshot
) -> list[tuple[Provider, Model, ModelStats | None]]:
    """Every catalog model in rank order: the snapshot's rows, then models it has no row for."""
    ordered: list[tuple[Provider, Model, ModelStats | None]] = []
    seen: set[tuple[str, str]] = set()
    for row in snapshot.rows:
        found = catalog.get(row.ref)
        if found is not None:
            ordered.append((*found, row))
            seen.add((row.provider, row.model))
    for provider, model in catalog.models():
        if (provider.id, model.id) not in seen:
            ordered.append((provider, model, None))
    # Usable models first (the rows already are), then the rest in rank order: at start-up, with
    # no usable model yet, an untried model is better than a 503.
    ordered.sort(key=lambda item: not (item[2] is not None and item[2].usable))
    return ordered


def _unfit(
    provider: Provider,
    model: Model,
    row: ModelStats | None,
    snapshot: Snapshot,
    needs_tools: bool,
    tokens: int,
    now: float,
) -> tuple[str | None, float | None]:
    """Why this model cannot take the request (None when it can), and any Retry-After."""
    budget = snapshot.budgets.get(provider.budget_id)
    if budget is not None and budget.paused_until is not None and budget.paused_until > now:
        return "rate_limited: paused after a 429", budget.paused_until - now
    if row is not None:
        if row.outcome in _CANNOT_SERVE:
            return f"{row.outcome}: {row.error or 'latest answer'}", None
        if row.health is Health.DOWN:
            return "down: 3 failures in a row", None
        if needs_tools and row.tool_calls is False:
            return "its tool calls failed", None
    if needs_tools and model.tool_calls is False:
        return "no tool calls", None
    if model.context is not None and tokens > model.context:
        return f"context {model.context} < ~{tokens} tokens", None
    return None, None
