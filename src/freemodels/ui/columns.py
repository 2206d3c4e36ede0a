"""The ranking table's columns and how they share the terminal's width: pure functions.

Numbers are never cut: a time column is as wide as its widest cell. The sort column is always
shown. Provider names are shown whole, or the short provider ids instead when the names do not
fit. Only display names (the model's and the status words) may be shortened with an ellipsis,
and only when a column that matters more needs the room; the id a user copies for `use` is in
the detail pane, whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from rich.cells import cell_len


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: its key, header, width, and how much it is worth when space is short."""

    key: str
    label: str
    width: int  # the least it takes: cells wider than this widen it (nothing is cut)
    priority: int  # lower is kept longer on narrow terminals; 0 is always shown
    sort: str
    right: bool = False
    min_width: int | None = None  # a name column: it may be cut down to this when space is short
    max_width: int | None = None  # a name column: never wider than this (longer names are cut)
    instead_of: str | None = None  # shown in place of that column when it does not fit


COLUMNS: tuple[Column, ...] = (
    Column("rank", "#", 3, 0, "rank", right=True),
    Column("tier", "Tier", 4, 5, "tier"),
    Column("model", "Model", 5, 0, "model", min_width=16, max_width=30),
    Column("provider", "Provider", 8, 1, "provider"),
    Column("provider_id", "Provider", 8, 1, "provider", instead_of="provider"),
    Column("ttft", "TTFT", 7, 0, "ttft", right=True),
    Column("p50", "p50", 7, 2, "p50", right=True),
    Column("p95", "p95", 7, 6, "p95", right=True),
    # ▲ slower / ▼ faster than at the same hours last week (blank without enough history);
    # among the first to go on a narrow terminal.
    Column("trend", "Δ", 1, 8, "p50"),
    Column("samples", "n", 2, 3, "samples", right=True),
    Column("availability", "Avail", 5, 4, "availability", right=True),
    Column("stability", "Stab", 4, 7, "stability", right=True),
    Column("status", "Status", 6, 0, "rank", min_width=16, max_width=22),
    Column("context", "Ctx", 5, 8, "context", right=True),
    Column("swe", "SWE", 4, 9, "swe", right=True),
)
CELL_PADDING = 1  # each side of every cell
# Name columns get their full width before columns of a larger priority number are added.
_GROW_PRIORITY = 2.5

# Whether each sort shows the smallest values first before `S` reverses it. An arrow names the
# direction of the values everywhere: ↑ smallest first (fastest, rank 1, A→Z), ↓ largest first.
_ASCENDING = {
    "rank": True,
    "ttft": True,
    "p50": True,
    "p95": True,
    "samples": False,
    "availability": False,
    "stability": False,
    "tier": False,  # the strongest tier (S+) first
    "swe": False,
    "context": False,
    "model": True,
    "provider": True,
}


def sort_arrow(sort: str, reverse: bool) -> str:
    """`↑` when the rows show the smallest values first, `↓` when the largest come first."""
    return "↑" if _ASCENDING.get(sort, True) != reverse else "↓"


def content_widths(rows: Iterable[tuple[tuple[str, str], ...]]) -> dict[str, int]:
    """The widest cell text of each column over `rows` (cells in COLUMNS order)."""
    columns = list(zip(*rows, strict=True))
    if not columns:
        return {}
    widths = {}
    for column, cells in zip(COLUMNS, columns, strict=True):
        texts = [text for text, _ in cells]
        # Numbers (the right-aligned columns) are ASCII: len is their width. Names and words
        # may hold wide characters.
        measure = len if column.right else _text_width
        widths[column.key] = max(map(measure, texts))
    return widths


def _text_width(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


def visible_columns(
    width: int,
    content: Mapping[str, int] | None = None,
    *,
    sort: str = "rank",
    reverse: bool = False,
) -> tuple[Column, ...]:
    """The columns that fit `width` cells, in COLUMNS order, at the widths they are shown at.

    `content`: each column's widest cell (see `content_widths`). The sort column is always
    shown, with its arrow in the header.
    """
    content = content or {}
    sort_key = next((c.key for c in COLUMNS if c.sort == sort), "rank")
    arrow = sort_arrow(sort, reverse)
    labels = {
        c.key: f"{c.label} {arrow}" if sort_key in (c.key, c.instead_of) else c.label
        for c in COLUMNS
    }
    full = {c.key: _full_width(c, cell_len(labels[c.key]), content.get(c.key, 0)) for c in COLUMNS}
    least = {c.key: min(full[c.key], c.min_width or full[c.key]) for c in COLUMNS}
    chosen: dict[str, int] = {}
    used = 0
    steps = sorted(
        [(0.0 if c.key == sort_key else float(c.priority), i) for i, c in enumerate(COLUMNS)]
        + [(_GROW_PRIORITY, -1)]
    )
    for priority, index in steps:
        if index < 0:
            used = _grow(chosen, full, least, width - used) + used
            continue
        column = COLUMNS[index]
        if column.instead_of is not None:
            continue  # considered with the column it stands in for
        # A column with a stand-in starts as the stand-in; it may grow into itself later.
        key = next((c.key for c in COLUMNS if c.instead_of == column.key), column.key)
        cost = least[key] + 2 * CELL_PADDING
        if priority == 0 or used + cost <= width:
            chosen[key] = least[key]
            used += cost
    return tuple(
        replace(c, width=chosen[c.key], label=labels[c.key]) for c in COLUMNS if c.key in chosen
    )


def _grow(chosen: dict[str, int], full: dict[str, int], least: dict[str, int], room: int) -> int:
    """Stand-ins become the columns they stand for, then name columns widen; the cells used."""
    spent = 0
    for column in COLUMNS:
        if column.instead_of is not None and column.key in chosen:
            extra = least[column.instead_of] - chosen[column.key]
            if extra <= room - spent:
                del chosen[column.key]
                chosen[column.instead_of] = least[column.instead_of]
                spent += extra
    for column in COLUMNS:
        if column.key in chosen and column.min_width is not None:
            grow = min(full[column.key] - chosen[column.key], max(0, room - spent))
            chosen[column.key] += grow
            spent += grow
    return spent


def _full_width(column: Column, label: int, content: int) -> int:
    """What a column takes to show its header and every cell whole (name columns: capped)."""
    wanted = max(column.width, label, content)
    return wanted if column.max_width is None else min(wanted, max(column.max_width, label))
