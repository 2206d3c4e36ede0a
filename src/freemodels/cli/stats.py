"""`freemodels stats`: ranked aggregates from the stored history; spends no request.

`--by-hour` and `--csv` (hours of the day, hourly rows) live in `by_hour`.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from freemodels import paths
from freemodels.cli.context import load_catalog_for, select_providers
from freemodels.cli.render import print_json, ranking_table
from freemodels.core.monitor.stats import WINDOWS, ModelInfo, is_gone, model_stats, rank
from freemodels.core.records import ModelRef, ModelStats, ProbeResult
from freemodels.core.report import to_record
from freemodels.core.store.history import RAW_RETENTION_S, History
from freemodels.errors import UsageError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `stats`."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "stats",
        help="ranked aggregates from the stored history (no requests)",
        description="Rank the models over a window of the stored history (what `check`, the "
        "dashboard and `serve` measured) without sending a request. `n` is the number of "
        "samples behind a row; models answering not_found for over 24 h are flagged gone?.",
    )
    parser.add_argument(
        "--window", choices=list(WINDOWS), default="30m", help="time window (default 30m)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--by-hour", action="store_true",
        help="TTFT p50 and availability per local hour of the day, from the hourly rollups",
    )  # fmt: skip
    parser.add_argument(
        "--days", type=int, default=14, metavar="N", help="days of rollups for --by-hour/--csv"
    )
    parser.add_argument(
        "--provider", action="append", metavar="ID", help="only this provider (repeatable)"
    )
    parser.add_argument("--model", action="store_true", help="--by-hour per model, not provider")
    parser.add_argument(
        "--csv", action="store_true", help="CSV rows: one per provider/model/hour (spreadsheets)"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Print the ranking over the window from history."""
    if args.demo:
        history_path = paths.history_path(demo=True)
        from freemodels.cli.context import open_context

        with open_context(args) as ctx:
            catalog = ctx.catalog
    else:
        history_path = paths.history_path()
        catalog = load_catalog_for(args)
    catalog = select_providers(catalog, args.provider)
    if args.csv and args.json:
        raise UsageError("--csv and --json are exclusive", "pick one output format")
    if args.by_hour or args.csv:
        from freemodels.cli import by_hour

        return by_hour.run(args, catalog, history_path)
    now = time.time()
    window = WINDOWS[args.window]
    samples: list[ProbeResult] = []
    if history_path.exists():
        history = History(history_path)
        try:
            samples = history.samples(now - RAW_RETENTION_S)
        finally:
            history.close()
    by_model: dict[ModelRef, list[ProbeResult]] = {}
    for sample in samples:
        by_model.setdefault(sample.ref, []).append(sample)
    rows: list[ModelStats] = []
    gone: set[ModelRef] = set()
    for provider, model in catalog.models():
        info = ModelInfo.of(provider, model)
        mine = by_model.get(info.ref, [])
        row = model_stats(info, mine, now, window)
        if row.samples == 0:
            continue
        rows.append(row)
        if is_gone(model_stats(info, mine, now, RAW_RETENTION_S), now):
            gone.add(info.ref)
    ranked = rank(rows)
    if not ranked:
        print(
            f"freemodels: no samples in the last {args.window}; "
            "run 'freemodels check' or leave 'freemodels serve' running",
            file=sys.stderr,
        )
    if args.json:
        records = []
        for index, row in enumerate(ranked, 1):
            record = to_record(row, index)
            record["gone"] = row.ref in gone
            records.append(record)
        print_json(records)
        return 0
    ranking_table(ranked, title=f"freemodels stats: last {args.window}")
    for ref in sorted(gone):
        print(
            f"gone? {ref} has answered not_found for over 24 h; "
            "'freemodels providers refresh' checks the live list",
            file=sys.stderr,
        )
    return 0
