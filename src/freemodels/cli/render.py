"""Rich tables for the headless commands (stdout carries only the result)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from freemodels.core.records import ModelStats, Outcome


def print_json(document: Any) -> None:
    """Exactly one JSON document on stdout, and nothing else."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


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
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("model")
    table.add_column("provider")
    table.add_column("outcome")
    table.add_column("TTFT", justify="right")
    table.add_column("p50", justify="right")
    table.add_column("p95", justify="right")
    table.add_column("avail", justify="right")
    table.add_column("stab", justify="right")
    if speed:
        table.add_column("tok/s", justify="right")
    if tools:
        table.add_column("tools")
    for index, row in enumerate(rows, 1):
        outcome = row.outcome.value if row.outcome else "–"
        style = _OUTCOME_STYLE.get(row.outcome, "red") if row.outcome else "dim"
        cells = [
            str(index),
            row.name,
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
    Console().print(table)
