"""What the ranking table shows: columns, cells, filters and sort order, as pure functions.

The table widget only diffs what this module computes, so every rule about *what* is shown is
testable without a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from freemodels.core.catalog.parse import Catalog
from freemodels.core.records import Model, ModelRef, ModelStats, Provider, Snapshot
from freemodels.core.store.insights import ModelRhythm
from freemodels.ui import format as fmt
from freemodels.ui.columns import COLUMNS
from freemodels.ui.preferences import Preferences

TIERS = ("S+", "S", "A+", "A", "A-", "B+", "B", "C")
_TIER_RANK = {tier: index for index, tier in enumerate(TIERS)}
# Tier colours: the strongest coding models stand out, the weakest fade.
TIER_STYLES = {"S+": "bold magenta", "S": "magenta", "A+": "cyan", "A": "cyan", "A-": "cyan"}
TREND_STYLES = {"▲": "red", "▼": "green"}
VERDICT_STYLES = {"good": "green", "warn": "yellow", "bad": "red", "muted": "dim"}


@dataclass(frozen=True, slots=True)
class RowView:
    """One model as the table shows it."""

    ref: ModelRef
    key: str  # str(ref): the table's row identity (table rows are keyed by text)
    stats: ModelStats
    provider: Provider | None
    model: Model | None
    rank: int
    favourite: bool
    configured: bool
    rhythm: ModelRhythm | None = None  # trend and usual fastest hours, from the history


Cell = tuple[str, str]  # (text, rich style)
Cells = tuple[Cell, ...]  # one per entry of COLUMNS, in that order


def cells(row: RowView, snapshot: Snapshot, now: float) -> dict[str, Cell]:
    """Every column's text and style for one row."""
    shown = _shown(row, _status(row, snapshot, now))
    made = (_rank_cell(row.rank, shown.configured), *_format(shown))
    return {column.key: cell for column, cell in zip(COLUMNS, made, strict=True)}


def _status(row: RowView, snapshot: Snapshot, now: float) -> str:
    stats = row.stats
    budget = snapshot.budgets.get(row.provider.budget_id) if row.provider else None
    probing = stats.ref in snapshot.in_flight
    return fmt.verdict(stats, budget.paused_until if budget else None, now, probing)


class _Shown(NamedTuple):
    """Everything a row's cells are made of but its rank: formatting reads nothing else."""

    name: str
    provider_id: str
    usable: bool
    ttft_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    trend: str
    ok: int
    availability: float | None
    stability: int | None
    status: str  # `now` enters the cells only through it (countdowns)
    favourite: bool
    configured: bool
    provider: Provider | None
    model: Model | None


def _shown(row: RowView, status: str) -> _Shown:
    s = row.stats
    trend = row.rhythm.trend if row.rhythm is not None else None
    arrow = "" if trend is None or trend.arrow == "=" else trend.arrow
    return _Shown(s.name, s.provider, s.usable, s.ttft_ms, s.ttft_p50_ms, s.ttft_p95_ms, arrow,
                  s.ok, s.availability, s.stability, status, row.favourite, row.configured,
                  row.provider, row.model)  # fmt: skip


def _rank_cell(rank: int, configured: bool) -> Cell:
    return (str(rank), "" if configured else "dim")


def _format(shown: _Shown) -> Cells:
    """The cells after the rank, in COLUMNS order."""
    model, dim = shown.model, "" if shown.configured else "dim"
    tier = model.tier if model and model.tier else "-"
    star = "★ " if shown.favourite else ""
    status = shown.status
    return (
        (tier, dim or TIER_STYLES.get(tier, "")),
        (star + shown.name, dim or ("bold" if shown.usable else "")),
        (shown.provider.name if shown.provider else shown.provider_id, dim),
        (shown.provider_id, dim),
        (fmt.ms(shown.ttft_ms), dim),
        (fmt.ms(shown.p50_ms), dim),
        (fmt.ms(shown.p95_ms), dim),
        (shown.trend, dim or TREND_STYLES.get(shown.trend, "")),
        (str(shown.ok), dim),
        (fmt.percent(shown.availability), dim),
        ("-" if shown.stability is None else str(shown.stability), dim),
        (status, dim or VERDICT_STYLES[fmt.verdict_style(status)]),
        (fmt.context(model.context) if model else "-", dim),
        (fmt.swe(model.swe_bench if model else None), dim),
    )


class CellCache:
    """Each row's cells, formatted again only when something they show changed.

    At 1 Hz most rows show what they showed a second ago even when their stats moved (sample
    counts, timestamps); reusing their tuples (the same objects) also lets the table see at a
    glance, by identity, which rows it must redraw.
    """

    def __init__(self) -> None:
        self._rows: dict[str, tuple[_Shown, int, Cells]] = {}

    def texts(self, rows: Sequence[RowView], snapshot: Snapshot, now: float) -> dict[str, Cells]:
        """Every row's cells in COLUMNS order (rank first), keyed "provider/model"."""
        previous = self._rows
        current: dict[str, tuple[_Shown, int, Cells]] = {}
        texts: dict[str, Cells] = {}
        for row in rows:
            shown = _shown(row, _status(row, snapshot, now))
            entry = previous.get(row.key)
            if entry is None or entry[0] != shown:
                made = (_rank_cell(row.rank, shown.configured), *_format(shown))
                entry = (shown, row.rank, made)
            elif entry[1] != row.rank:
                entry = (shown, row.rank, (_rank_cell(row.rank, shown.configured), *entry[2][1:]))
            current[row.key] = entry
            texts[row.key] = entry[2]
        self._rows = current
        return texts


def build_rows(
    snapshot: Snapshot,
    catalog: Catalog,
    prefs: Preferences,
    configured: Collection[str] | None,
    rhythms: Mapping[ModelRef, ModelRhythm] | None = None,
) -> list[RowView]:
    """The rows to show, filtered and in display order; `configured`: providers with a key;
    `rhythms`: each model's trend and fastest hours, when the history has been read."""
    rows = []
    for index, stats in enumerate(snapshot.rows, start=1):
        ref = stats.ref
        provider, model = catalog.get(ref) or (None, None)
        has_key = configured is None or stats.provider in configured
        if provider is not None and not provider.key_required:
            has_key = True
        favourite = ref in prefs.favourites
        rhythm = rhythms.get(ref) if rhythms else None
        rows.append(
            RowView(ref, str(ref), stats, provider, model, index, favourite, has_key, rhythm)
        )
    return sort_rows(filter_rows(rows, prefs), prefs)


def tool_calls_work(row: RowView) -> bool:
    """A tool-call test passed (the latest in the window), else the catalog says it works."""
    if row.stats.tool_calls is not None:
        return row.stats.tool_calls
    return bool(row.model is not None and row.model.tool_calls)


def filter_rows(rows: Sequence[RowView], prefs: Preferences) -> list[RowView]:
    """The rows the filters let through."""
    needle = prefs.text.strip().lower()
    kept = []
    for row in rows:
        if prefs.provider and row.stats.provider != prefs.provider:
            continue
        if prefs.only_configured and not row.configured:
            continue
        if prefs.only_usable and not row.stats.usable:
            continue
        if prefs.only_tools and not tool_calls_work(row):
            continue
        if needle and needle not in _haystack(row):
            continue
        kept.append(row)
    return kept


def _haystack(row: RowView) -> str:
    provider_name = row.provider.name if row.provider else ""
    return f"{row.key} {row.stats.name} {provider_name}".lower()


_SORT_KEYS: Mapping[str, Callable[[RowView], float | str | None]] = {
    "rank": lambda r: r.rank,
    "ttft": lambda r: r.stats.ttft_ms,
    "p50": lambda r: r.stats.ttft_p50_ms,
    "p95": lambda r: r.stats.ttft_p95_ms,
    "samples": lambda r: -r.stats.ok,
    # Higher is better for these: negate so the best comes first unreversed.
    "availability": lambda r: None if r.stats.availability is None else -r.stats.availability,
    "stability": lambda r: None if r.stats.stability is None else -r.stats.stability,
    "tier": lambda r: _TIER_RANK.get(r.model.tier) if r.model and r.model.tier else None,
    "swe": lambda r: -r.model.swe_bench if r.model and r.model.swe_bench is not None else None,
    "context": lambda r: -r.model.context if r.model and r.model.context else None,
    "model": lambda r: r.stats.name.lower(),
    "provider": lambda r: r.stats.provider,
}


def sort_rows(rows: Sequence[RowView], prefs: Preferences) -> list[RowView]:
    """Rows in display order: favourites first when pinned; unmeasured values always last."""
    value = _SORT_KEYS.get(prefs.sort, _SORT_KEYS["rank"])
    measured = [r for r in rows if value(r) is not None]
    unmeasured = [r for r in rows if value(r) is None]
    # The monitor's rank breaks ties, so equal values keep a meaningful order.
    measured.sort(key=lambda r: r.rank)
    measured.sort(key=value, reverse=prefs.reverse)  # type: ignore[arg-type]
    ordered = measured + unmeasured
    if prefs.pin_favourites:
        ordered = [r for r in ordered if r.favourite] + [r for r in ordered if not r.favourite]
    return ordered


def next_in_cycle(current: str, choices: Sequence[str]) -> str:
    """The choice after `current` (the first when it is not one): sort columns, target tools."""
    index = choices.index(current) if current in choices else -1
    return choices[(index + 1) % len(choices)]
