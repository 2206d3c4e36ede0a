"""Rich tables for the headless commands (stdout carries only the result)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from freemodels.core.records import ModelStats, Outcome

if TYPE_CHECKING:
    from rich.console import Console


def print_json(document: Any) -> None:
    """Exactly one JSON document on stdout, and nothing else."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def stdout_console() -> Console:
    """A rich Console for stdout; a pipe or a file gets 160 columns, not rich's default 80,
    since table rows that wrap are unreadable there."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)


def ms(value: float | None) -> str:
    """`123 ms`, or a dash."""
    return "–" if value is None else f"{value:,.0f} ms"


def percent(value: float | None) -> str:
    """`99.5 %`, or a dash."""
    return "–" if value is None else f"{value * 100:.1f} %"


_OUTCOME_STYLE = {
    Outcome.OK: "green",
    Outcome.RATE_LIMITED: "yellow",
    Outcome.NO_KEY: "dim",
    Outcome.AUTH_FAILED: "red",
}


def ranking_table(
    rows: Sequence[ModelStats], *, title: str, speed: bool = False, tools: bool = False
) -> None:
    """Print the ranked table of `check` and `stats`."""
    from rich import box
    from rich.table import Table

    console = stdout_console()
    table = Table(title=title, title_justify="left", header_style="bold", box=box.SIMPLE_HEAD)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("model", no_wrap=True, overflow="ellipsis", max_width=40)
    table.add_column("provider", no_wrap=True, overflow="ellipsis", max_width=18)
    table.add_column("outcome", no_wrap=True)
    for label in ("TTFT", "p50", "p95", "avail", "stab"):
        table.add_column(label, justify="right", no_wrap=True)
    if speed:
        table.add_column("tok/s", justify="right")
    if tools:
        table.add_column("tools")
    for index, row in enumerate(rows, 1):
        outcome = row.outcome.value if row.outcome else "–"
        if row.outcome is Outcome.NOT_FOUND:
            outcome = "gone"  # 404/410: the provider no longer serves it
        style = _OUTCOME_STYLE.get(row.outcome, "red") if row.outcome else "dim"
        cells = [
            str(index),
            f"{row.name} [dim]{row.model}[/]" if row.name != row.model else row.name,
            row.provider,
            f"[{style}]{outcome}[/]",
            ms(row.ttft_ms),
            ms(row.ttft_p50_ms),
            ms(row.ttft_p95_ms),
            percent(row.availability),
            "–" if row.stability is None else str(row.stability),
        ]
        if speed:
            cells.append("–" if row.tokens_per_s is None else f"{row.tokens_per_s:.0f}")
        if tools:
            cells.append({True: "yes", False: "no", None: "–"}[row.tool_calls])
        table.add_row(*cells)
    console.print(table)
