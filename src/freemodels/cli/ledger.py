"""`freemodels ledger`: which request ledger counts (local or a team's Redis), its health, the
budget left per provider and which hosts spent it; spends no request."""

from __future__ import annotations

import argparse
import time
from typing import Any

from freemodels.cli.context import open_context
from freemodels.cli.render import print_json


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `ledger`."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "ledger", help="which request ledger is in use, its health, budgets left and who spent them"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the ledger's backend and health, then each budget's use."""
    from freemodels.core.monitor.ledger_select import ledger_health, open_ledger, spenders
    from freemodels.core.store.history import History

    with open_context(args) as ctx:
        history = History(ctx.history_path)
        try:
            ledger = open_ledger(history.db, ctx.catalog.providers, ctx.keys)
            backend, url, healthy, detail = ledger_health(ledger)
            budgets = sorted({p.budget_id for p in ctx.catalog.providers})
            rows = []
            for budget in budgets:
                state = ledger.state(budget)
                rows.append(
                    {
                        "budget": budget,
                        "rpm": state.rpm,
                        "rpd": state.rpd,
                        "used_minute": state.used_minute,
                        "used_day": state.used_day,
                        "left_minute": state.remaining_minute,
                        "left_day": state.remaining_day,
                        "paused_until": state.paused_until,
                        "hosts": spenders(ledger, budget),
                    }
                )
        finally:
            history.close()
    document = {
        "backend": backend, "url": url, "healthy": healthy, "detail": detail, "budgets": rows,
    }  # fmt: skip
    if args.json:
        print_json(document)
        return 0
    print(f"ledger: {backend} ({url}): {'healthy' if healthy else 'UNHEALTHY'}, {detail}")
    now = time.time()
    for row in rows:
        print(_line(row, now))
    return 0


def _line(row: dict[str, Any], now: float) -> str:
    def cap(used: int, limit: int | None) -> str:
        return f"{used}" if limit is None else f"{used}/{limit}"

    text = (
        f"  {row['budget']:<16} minute {cap(row['used_minute'], row['rpm']):>9}"
        f"  day {cap(row['used_day'], row['rpd']):>11}"
    )
    if row["paused_until"] is not None:
        text += f"  paused {row['paused_until'] - now:.0f} s"
    if row["hosts"]:
        text += "  by " + ", ".join(f"{h} ({n})" for h, n in sorted(row["hosts"].items()))
    return text
