"""`freemodels stats --by-hour` and `stats --csv`: when each provider (or model) is fast.

Read from the hourly rollups (finished hours are rolled up first, which writes no sample and
spends no request), in local time; hours with no data are left out, never shown as zero.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freemodels.cli.render import print_json, stdout_console
from freemodels.core.catalog.parse import Catalog
from freemodels.core.monitor.rhythm import Bucket, HourOfDay, LocalClock, fastest_hours, hours_label
from freemodels.core.store.history import History
from freemodels.core.store.insights import roll_up_finished
from freemodels.core.store.rhythm_queries import pooled
from freemodels.core.store.rollups import hourly, model_names
from freemodels.errors import UsageError

MAX_DAYS = 30


@dataclass(frozen=True, slots=True)
class Profile:
    """One provider's (or model's) hours of the day."""

    provider: str
    model: str | None
    hours: dict[int, HourOfDay]
    fastest: tuple[int, ...]


def check_days(days: int) -> int:
    """The --days value, or a usage error (rollups are kept 30 days)."""
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"--days must be 1..{MAX_DAYS}, got {days}", "rollups are kept 30 days")
    return days


def load_buckets(
    history_path: Path,
    catalog: Catalog,
    since: float,
    now: float,
    hours: Collection[int] | None = None,
) -> list[Bucket]:
    """The catalog's hourly buckets since `since` (finished hours rolled up first)."""
    if not history_path.exists():
        return []
    history = History(history_path)
    try:
        roll_up_finished(history.db, now)
        providers = [p.id for p in catalog.providers]
        buckets = hourly(history.db, since, providers=providers, hours=hours)
    finally:
        history.close()
    known = {(p.id, m.id) for p, m in catalog.models()}
    return [b for b in buckets if (b.provider, b.model) in known]


def load_profiles(
    history_path: Path, catalog: Catalog, since: float, now: float, *, per_model: bool
) -> list[Profile]:
    """Each provider's (or model's) hours of the day, in name order, aggregated in SQLite."""
    if not history_path.exists():
        return []
    history = History(history_path)
    try:
        roll_up_finished(history.db, now)
        known = set(catalog.refs())
        groups = {
            mid: str(ref) if per_model else ref.provider
            for mid, ref in model_names(history.db).items()
            if ref in known
        }
        slots = pooled(history.db, since, now, groups, LocalClock(), by_weekday=False)
    finally:
        history.close()
    by_key: dict[str, dict[int, HourOfDay]] = {}
    for (key, _, hour), found in sorted(slots.items()):
        by_key.setdefault(key, {})[hour] = found
    made = []
    for key, hours in sorted(by_key.items()):
        provider, _, model = key.partition("/")
        made.append(Profile(provider, model if per_model else None, hours, fastest_hours(hours)))
    return made


def run(args: argparse.Namespace, catalog: Catalog, history_path: Path) -> int:
    """Print the by-hour table, its JSON, or CSV rows."""
    days = check_days(args.days)
    now = time.time()
    since = now - days * 86400
    if args.csv and not args.by_hour:
        buckets = load_buckets(history_path, catalog, since, now)
        _say_if_empty(bool(buckets), days)
        write_hourly_csv(buckets, LocalClock())
        return 0
    per_model = bool(args.model) or args.csv
    found = load_profiles(history_path, catalog, since, now, per_model=per_model)
    _say_if_empty(bool(found), days)
    if args.csv:
        write_by_hour_csv(found)
    elif args.json:
        print_json(to_document(found, days, per_model=per_model))
    else:
        print_table(found, days, per_model=per_model)
    return 0


def _say_if_empty(found: bool, days: int) -> None:
    if not found:
        print(
            f"freemodels: no finished hour in the last {days} days; "
            "leave 'freemodels serve' (or the dashboard) running to build a history",
            file=sys.stderr,
        )


def _offset() -> str:
    """The local UTC offset now, as `UTC+02:00`."""
    offset = dt.datetime.now().astimezone().strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"


def to_document(found: Sequence[Profile], days: int, *, per_model: bool) -> dict[str, Any]:
    """The one JSON document of `stats --by-hour --json`."""
    rows = []
    for profile in found:
        row: dict[str, Any] = {"provider": profile.provider}
        if per_model:
            row["model"] = profile.model
        row["fastest_hours"] = list(profile.fastest)
        row["hours"] = [
            {
                "hour": h.hour,
                "ttft_p50_ms": None if h.ttft_p50_ms is None else round(h.ttft_p50_ms, 1),
                "availability": None if h.availability is None else round(h.availability, 4),
                "samples": h.samples,
                "ok": h.ok,
            }
            for h in profile.hours.values()
        ]
        rows.append(row)
    return {
        "days": days,
        "timezone": _offset(),
        "by": "model" if per_model else "provider",
        "rows": rows,
    }


def _cell(value: float | None) -> str:
    return "" if value is None else (f"{value:.0f}" if value < 1000 else f"{value / 1000:.1f}s")


def print_table(found: Sequence[Profile], days: int, *, per_model: bool) -> None:
    """TTFT p50 per local hour, the fastest hours highlighted, shaky hours coloured."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"TTFT p50 (ms) by local hour ({_offset()}), last {days} days; "
        "bold green: fastest hours, yellow/red: availability under 95 %/80 %",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        padding=(0, 0, 0, 1),
    )
    # Numbers and ids are never cut: a narrow terminal folds the name and "fastest" columns
    # onto more lines, and the hour columns keep the width of their widest cell.
    table.add_column("model" if per_model else "provider", overflow="fold")
    for hour in range(24):
        widest = max((len(_cell_text(p, hour)) for p in found), default=2)
        table.add_column(f"{hour:02d}", justify="right", no_wrap=True, min_width=max(2, widest))
    table.add_column("fastest", overflow="fold")
    for profile in found:
        cells = [f"{profile.provider}/{profile.model}" if per_model else profile.provider]
        for hour in range(24):
            found_hour = profile.hours.get(hour)
            if found_hour is None:
                cells.append("")
                continue
            text = _cell_text(profile, hour)
            style = _style(found_hour, hour in profile.fastest)
            cells.append(f"[{style}]{text}[/]" if style else text)
        cells.append(hours_label(profile.fastest) or "–")
        table.add_row(*cells)
    console = stdout_console()
    if not console.is_terminal:
        # A pipe or a file has no width to fit: the table's own, so nothing wraps or is cut.
        natural = console.measure(table, options=console.options.update_width(10_000)).maximum
        console.width = max(console.width, natural)
        with console.capture() as captured:
            console.print(table)
        sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
        return
    console.print(table)


def _cell_text(profile: Profile, hour: int) -> str:
    found_hour = profile.hours.get(hour)
    if found_hour is None:
        return ""
    return _cell(found_hour.ttft_p50_ms) or "–"


def _style(hour: HourOfDay, fastest: bool) -> str:
    if hour.availability is not None and hour.availability < 0.8:
        return "red"
    if hour.availability is not None and hour.availability < 0.95:
        return "yellow"
    return "bold green" if fastest else ""


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_by_hour_csv(found: Sequence[Profile]) -> None:
    """One row per provider/model/hour of the day."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["provider", "model", "hour", "samples", "ok", "availability", "ttft_p50_ms"])
    for profile in found:
        for h in profile.hours.values():
            writer.writerow([
                profile.provider, profile.model, h.hour, h.samples, h.ok,
                _number(h.availability, 4), _number(h.ttft_p50_ms, 1),
            ])  # fmt: skip


def write_hourly_csv(buckets: Sequence[Bucket], clock: LocalClock) -> None:
    """One row per provider/model/hour of the history (local ISO time), oldest first."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow([
        "provider", "model", "hour", "samples", "ok", "server_failures", "rate_limited",
        "availability", "ttft_p50_ms", "ttft_p95_ms",
    ])  # fmt: skip
    for b in sorted(buckets, key=lambda b: (b.provider, b.model, b.start)):
        hour = dt.datetime.fromtimestamp(b.start, clock.tz).astimezone().isoformat("T", "minutes")
        writer.writerow([
            b.provider, b.model, hour, b.samples, b.ok, b.server_failures, b.rate_limited,
            _number(b.availability, 4), _number(b.ttft_p50_ms, 1), _number(b.ttft_p95_ms, 1),
        ])  # fmt: skip
