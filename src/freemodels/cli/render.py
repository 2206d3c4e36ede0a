"""Tables for the headless commands (stdout carries only the result).

The ranking table never cuts a number or a `provider/model` id (the text a user copies for
`use`): as the width shrinks it drops whole columns, least useful first, and only the display
name, the last column, is shortened. Piped, lines are not padded to a width.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from freemodels.core.records import ModelStats, Outcome, format_ms, format_wait

if TYPE_CHECKING:
    from rich.console import Console

PIPED_WIDTH = 130  # a pipe has no width; wide enough for every column, narrow enough to read
GAP = "  "
MIN_NAME = 8
DASH = "–"


def print_json(document: Any) -> None:
    """Exactly one JSON document on stdout, and nothing else."""
    sys.stdout.write(dumps(document) + "\n")
    sys.stdout.flush()


_SCALARS = (str, int, float, type(None))  # bool is an int
_RECORD_BODY = json.JSONEncoder(ensure_ascii=False, separators=(",\n    ", ": ")).encode


def dumps(document: Any) -> str:
    """json.dumps(document, ensure_ascii=False, indent=2), character for character.

    A list of flat records (the commands' usual output) goes through the C encoder one record
    at a time: with `indent`, json falls back to its pure-Python encoder, several times slower
    on a sweep's hundreds of records.
    """
    if (
        isinstance(document, list)
        and document
        and all(
            isinstance(record, dict)
            and record
            and all(isinstance(k, str) and isinstance(v, _SCALARS) for k, v in record.items())
            for record in document
        )
    ):
        # A flat object's separators are the only places the line breaks go: strings escape
        # their own newlines.
        records = ("  {\n    " + _RECORD_BODY(record)[1:-1] + "\n  }" for record in document)
        return "[\n" + ",\n".join(records) + "\n]"
    return json.dumps(document, ensure_ascii=False, indent=2)


def stdout_console() -> Console:
    """A rich Console for stdout; a pipe or a file gets 160 columns, not rich's default 80,
    since table rows that wrap are unreadable there."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)


def ms(value: float | None) -> str:
    """`1,174 ms`, or a dash."""
    return DASH if value is None else format_ms(value)


def percent(value: float | None) -> str:
    """`99.5 %`, or a dash."""
    return DASH if value is None else f"{value * 100:.1f} %"


def output_width(stream: Any = None) -> tuple[int, bool]:
    """The width to fit and whether the stream is a terminal (`COLUMNS` wins when set)."""
    stream = sys.stdout if stream is None else stream
    tty = bool(getattr(stream, "isatty", lambda: False)())
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns), tty
    if tty:
        return shutil.get_terminal_size((PIPED_WIDTH, 24)).columns, True
    return PIPED_WIDTH, False


def outcome_cell(row: ModelStats, now: float) -> str:
    """The outcome's wording; a held-back probe says when it may run again."""
    if row.skipped and row.retry_at is not None:
        return f"{row.label} (again in {format_wait(row.retry_at - now)})"
    return row.label


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: its header, how a row fills it, its side, and when it is dropped."""

    header: str
    cell: Callable[[int, ModelStats], str]
    right: bool = False
    priority: int = 0  # lower stays longer; 0 is always shown
    flexible: bool = False  # the one column that may be shortened (the display name)


def columns(now: float, *, speed: bool = False, tools: bool = False) -> list[Column]:
    """The ranking's columns in display order."""
    cols = [
        Column("#", lambda i, r: str(i), right=True),
        Column("provider/model", lambda i, r: f"{r.provider}/{r.model}"),
        Column("outcome", lambda i, r: outcome_cell(r, now)),
        Column("TTFT", lambda i, r: ms(r.ttft_ms if r.outcome is Outcome.OK else None), True),
    ]
    if speed:
        cols.append(
            Column(
                "tok/s",
                lambda i, r: DASH if r.tokens_per_s is None else f"{r.tokens_per_s:.0f}",
                True,
                1,
            )
        )
    if tools:
        tool_text = {True: "yes", False: "no", None: DASH}
        cols.append(Column("tools", lambda i, r: tool_text[r.tool_calls], priority=1))
    cols += [
        Column("p50", lambda i, r: ms(r.ttft_p50_ms), True, 2),
        Column("p95", lambda i, r: ms(r.ttft_p95_ms), True, 3),
        Column("avail", lambda i, r: percent(r.availability), True, 4),
        Column("n", lambda i, r: str(r.samples), True, 5),
        Column("stab", lambda i, r: DASH if r.stability is None else str(r.stability), True, 6),
        Column("name", lambda i, r: r.name, priority=7, flexible=True),
    ]
    return cols


def _cell_len(text: str) -> int:
    from rich.cells import cell_len

    return cell_len(text)


def _shorten(text: str, width: int) -> str:
    if _cell_len(text) <= width:
        return text
    from rich.cells import set_cell_size

    return set_cell_size(text, max(0, width - 1)) + "…"


def ranking_lines(
    rows: Sequence[ModelStats],
    width: int,
    *,
    now: float | None = None,
    speed: bool = False,
    tools: bool = False,
) -> list[str]:
    """The header and one line per row, fitted to `width` without cutting a number or an id."""
    now = time.time() if now is None else now
    cols = columns(now, speed=speed, tools=tools)
    cells = [[col.cell(i, row) for col in cols] for i, row in enumerate(rows, 1)]
    widths = [
        max([_cell_len(col.header), *(_cell_len(line[k]) for line in cells)])
        for k, col in enumerate(cols)
    ]
    shown = [k for k, col in enumerate(cols) if col.priority == 0]
    used = sum(widths[k] for k in shown) + len(GAP) * (len(shown) - 1)
    for priority in sorted({c.priority for c in cols} - {0}):
        for k, col in enumerate(cols):
            if col.priority != priority:
                continue
            need = len(GAP) + (min(widths[k], MIN_NAME) if col.flexible else widths[k])
            if used + need > width:
                break
            shown.append(k)
            if col.flexible:
                widths[k] = min(widths[k], width - used - len(GAP))
            used += len(GAP) + widths[k]
        else:
            continue
        break  # a column that does not fit drops every less useful one too
    shown.sort()

    def line(texts: list[str]) -> str:
        parts = []
        for k in shown:
            text = _shorten(texts[k], widths[k]) if cols[k].flexible else texts[k]
            pad = " " * (widths[k] - _cell_len(text))
            parts.append(pad + text if cols[k].right else text + pad)
        return GAP.join(parts).rstrip()

    return [line([col.header for col in cols]), *(line(texts) for texts in cells)]


def ranking_table(
    rows: Sequence[ModelStats], *, title: str, speed: bool = False, tools: bool = False
) -> None:
    """Print the ranked table of `check` and `stats`, fitted to the terminal (or a pipe)."""
    width, tty = output_width()
    lines = ranking_lines(rows, width, speed=speed, tools=tools)
    out = sys.stdout
    bold = tty and not os.environ.get("NO_COLOR")
    out.write(f"{title}\n\n")
    out.write((f"\x1b[1m{lines[0]}\x1b[0m" if bold else lines[0]) + "\n")
    for text in lines[1:]:
        out.write(text + "\n")
    out.flush()
