"""What the ranking table shows: columns, cells, filters and sort order, as pure functions.

The table widget only diffs what this module computes, so every rule about *what* is shown is
testable without a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from freemodels.core.catalog import Catalog
from freemodels.core.records import Model, ModelStats, Provider, Snapshot
from freemodels.ui import format as fmt
from freemodels.ui.preferences import Preferences

TIERS = ("S+", "S", "A+", "A", "A-", "B+", "B", "C")
_TIER_RANK = {tier: index for index, tier in enumerate(TIERS)}
# Tier colours: the strongest coding models stand out, the weakest fade.
TIER_STYLES = {"S+": "bold magenta", "S": "magenta", "A+": "cyan", "A": "cyan", "A-": "cyan"}
VERDICT_STYLES = {"good": "green", "warn": "yellow", "bad": "red", "muted": "dim"}


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: its key, header, width, and how much it is worth when space is short."""

    key: str
    label: str
    width: int
    priority: int  # lower is kept longer on narrow terminals
    sort: str
    right: bool = False
    min_width: int | None = None  # it may shrink to this on narrow terminals


COLUMNS: tuple[Column, ...] = (
    Column("rank", "#", 3, 0, "rank", right=True),
    Column("tier", "Tier", 4, 3, "tier"),
    Column("model", "Model", 22, 0, "model", min_width=18),
    Column("provider", "Provider", 14, 1, "provider", min_width=10),
    Column("ttft", "TTFT", 8, 0, "ttft", right=True),
    Column("p50", "p50", 8, 2, "p50", right=True),
    Column("p95", "p95", 8, 6, "p95", right=True),
    Column("availability", "Avail", 5, 5, "availability", right=True),
    Column("stability", "Stab", 4, 7, "stability", right=True),
    Column("status", "Status", 14, 0, "rank", min_width=12),
    Column("context", "Ctx", 5, 8, "context", right=True),
    Column("swe", "SWE", 4, 9, "swe", right=True),
)
CELL_PADDING = 1  # each side of every cell


def visible_columns(width: int) -> tuple[Column, ...]:
    """The columns that fit `width` cells: the least valuable dropped, the flexible ones shrunk."""
    chosen: dict[str, int] = {}
    used = 0
    for column in sorted(COLUMNS, key=lambda c: c.priority):
        cost = (column.min_width or column.width) + 2 * CELL_PADDING
        if used + cost <= width or column.priority == 0:
            chosen[column.key] = column.min_width or column.width
            used += cost
    # Give the room left back to the shrunk columns, in column order.
    for column in COLUMNS:
        if column.key in chosen and column.min_width is not None:
            grow = min(column.width - column.min_width, max(0, width - used))
            chosen[column.key] += grow
            used += grow
    return tuple(replace(c, width=chosen[c.key]) for c in COLUMNS if c.key in chosen)


@dataclass(frozen=True, slots=True)
class RowView:
    """One model as the table shows it."""

    key: str  # "provider/model": the stable row identity
    stats: ModelStats
    provider: Provider | None
    model: Model | None
    rank: int
    favourite: bool
    configured: bool


Cell = tuple[str, str]  # (text, rich style)
Cells = tuple[Cell, ...]  # one per entry of COLUMNS, in that order


def cells(row: RowView, snapshot: Snapshot, now: float) -> dict[str, Cell]:
    """Every column's text and style for one row."""
    return _cells(row, _status(row, snapshot, now))


def _status(row: RowView, snapshot: Snapshot, now: float) -> str:
    stats = row.stats
    budget = snapshot.budgets.get(row.provider.budget_id) if row.provider else None
    probing = (stats.provider, stats.model) in snapshot.in_flight
    return fmt.verdict(stats, budget.paused_until if budget else None, now, probing)


def _cells(row: RowView, status: str) -> dict[str, Cell]:
    stats, model = row.stats, row.model
    dim = "" if row.configured else "dim"
    tier = model.tier if model and model.tier else "-"
    star = "★ " if row.favourite else ""
    return {
        "rank": (str(row.rank), dim),
        "tier": (tier, dim or TIER_STYLES.get(tier, "")),
        "model": (star + stats.name, dim or ("bold" if stats.usable else "")),
        "provider": (row.provider.name if row.provider else stats.provider, dim),
        "ttft": (fmt.ms(stats.ttft_ms), dim),
        "p50": (fmt.ms(stats.ttft_p50_ms), dim),
        "p95": (fmt.ms(stats.ttft_p95_ms), dim),
        "availability": (fmt.percent(stats.availability), dim),
        "stability": ("-" if stats.stability is None else str(stats.stability), dim),
        "status": (status, dim or VERDICT_STYLES[fmt.verdict_style(status)]),
        "context": (fmt.context(model.context if model else None), dim),
        "swe": (fmt.swe(model.swe_bench if model else None), dim),
    }


class CellCache:
    """Each row's cells, formatted again only when something they show changed.

    At 1 Hz most of 250 rows are unchanged; reusing their tuples (same objects) also lets the
    table see at a glance, by identity, which rows it must redraw.
    """

    def __init__(self) -> None:
        self._rows: dict[str, tuple[tuple[object, ...], Cells]] = {}

    def texts(self, rows: Sequence[RowView], snapshot: Snapshot, now: float) -> dict[str, Cells]:
        """Every row's cells in COLUMNS order, keyed "provider/model"."""
        previous = self._rows
        current: dict[str, tuple[tuple[object, ...], Cells]] = {}
        texts: dict[str, Cells] = {}
        for row in rows:
            status = _status(row, snapshot, now)
            # Everything the cells are made of; `now` enters only through the status text.
            inputs = (row.stats, row.rank, row.favourite, row.configured, row.provider,
                      row.model, status)  # fmt: skip
            entry = previous.get(row.key)
            if entry is None or entry[0] != inputs:
                made = _cells(row, status)
                entry = (inputs, tuple(made[column.key] for column in COLUMNS))
            current[row.key] = entry
            texts[row.key] = entry[1]
        self._rows = current
        return texts


def build_rows(
    snapshot: Snapshot,
    catalog: Catalog,
    prefs: Preferences,
    configured: Collection[str] | None,
) -> list[RowView]:
    """The rows to show, filtered and in display order; `configured`: providers with a key."""
    rows = []
    for index, stats in enumerate(snapshot.rows, start=1):
        provider = catalog.provider(stats.provider)
        model = provider.model(stats.model) if provider else None
        key = f"{stats.provider}/{stats.model}"
        has_key = configured is None or stats.provider in configured
        if provider is not None and not provider.key_required:
            has_key = True
        rows.append(
            RowView(key, stats, provider, model, index, key in prefs.favourites, has_key)
        )
    return sort_rows(filter_rows(rows, prefs), prefs)


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
    # Higher is better for these: negate so the best comes first unreversed.
    "availability": lambda r: None if r.stats.availability is None else -r.stats.availability,
    "stability": lambda r: None if r.stats.stability is None else -r.stats.stability,
    "tier": lambda r: _TIER_RANK.get(r.model.tier) if r.model and r.model.tier else None,
    "swe": lambda r: -r.model.swe_bench if r.model and r.model.swe_bench is not None else None,
    "context": lambda r: -r.model.context if r.model else None,
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


def next_sort(current: str, sorts: Sequence[str]) -> str:
    """The sort after `current` in the cycle."""
    index = sorts.index(current) if current in sorts else -1
    return sorts[(index + 1) % len(sorts)]
