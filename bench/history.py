"""History at full size: 30 days of hourly rollups and 48 h of raw samples for 250 models.

    python bench/history.py [--providers 10] [--models 25] [--per-hour 36] [--runs 5]

Generates the history file a month-old `serve` leaves behind (the raw rate defaults to the
soak's: 25 probes per model-hour, the request ledger holding its last 25 h), then prints:
- the file's size after pruning (target <= 50 MB);
- how long `h` takes to show a model's history: from the key event to the first frame that
  shows the loaded data, in a headless dashboard of 250 rows (target <= 150 ms), its CPU, the
  frame that adds the provider's heatmap (below the fold), and the reads alone; the help screen
  (`?`, nothing to load) is the control, pressed in the same runs. Frames are timed where the
  app hands them to its driver: Textual's Pilot (press, then pause until the process is idle)
  polls CPU time in 20 ms steps and counts its own waiting, so its figure, printed too, is not
  the time to the screen;
- `freemodels stats --by-hour --days 30` over the 250 models, wall time of the whole command,
  next to `freemodels --version` as the interpreter's start-up control (target <= 0.5 s);
- the dashboard's trend and fastest-hours load over every model (it runs in a thread).
Medians of `--runs`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freemodels.core.catalog.parse import parse_catalog
from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor.rhythm import LocalClock
from freemodels.core.monitor.stats import ModelInfo, model_stats
from freemodels.core.records import ModelRef, Outcome, ProbeResult, Snapshot
from freemodels.core.store.history import History, model_id, transaction
from freemodels.core.store.insights import (
    load_model_history,
    load_provider_heatmap,
    load_rhythms,
)

if TYPE_CHECKING:
    from freemodels.ui.app import DashboardApp

HOUR = 3600.0


def catalog_toml(providers: int, models: int) -> str:
    """Providers `p-0…` with model ids as long as the real catalog's."""
    lines = ["schema_version = 1"]
    for p in range(providers):
        lines += [
            f"[providers.p-{p}]", f'name = "Provider {p}"',
            f'base_url = "http://127.0.0.1:9/p{p}/v1"', f'api_key_env = ["P{p}_API_KEY"]',
            'signup_url = "https://example.invalid"', "key_required = false",
        ]  # fmt: skip
        for m in range(models):
            lines += [
                f"[[providers.p-{p}.models]]", f'id = "vendor-{p}/model-{m:03d}-instruct:free"',
                f'name = "Model {p}.{m}"', "context = 131072",
            ]  # fmt: skip
    return "\n".join(lines) + "\n"


def rhythm(hour_of_day: int, base: float) -> float:
    """Busy afternoons, quick mornings."""
    return base * (1.6 if 13 <= hour_of_day <= 17 else 0.7 if 5 <= hour_of_day <= 8 else 1.0)


def generate(path: Path, refs: list[tuple[str, str]], now: float, per_hour: int) -> None:
    """30 days of rollups, then 48 h of raw samples and 25 h of ledger rows."""
    rng = random.Random(1)
    history = History(path)
    db = history.db
    top = int(now // HOUR)
    bases = {ref: rng.uniform(150, 1500) for ref in refs}
    ids: dict[ModelRef, int] = {}
    with transaction(db):
        rows = []
        for hour in range(top - 30 * 24, top - 48):
            hod = (hour + 2) % 24
            for ref in refs:
                p50 = rhythm(hod, bases[ref]) * rng.uniform(0.9, 1.1)
                failures = 1 if rng.random() < 0.03 else 0
                ok = per_hour - failures - 1
                mid = model_id(db, ids, ModelRef(*ref))
                rows.append(
                    (
                        mid,
                        hour,
                        per_hour,
                        ok,
                        failures,
                        1,
                        *(round(p50 * f) for f in (1.05, 1, 1.6)),
                    )
                )
        db.executemany("INSERT INTO rollups VALUES (?,?,?,?,?,?,?,?,?)", rows)
    step = HOUR / per_hour
    batch: list[ProbeResult] = []
    ledger = []
    at = now - 48 * HOUR
    index = 0
    while at < now:
        ref = refs[index % len(refs)]
        index += 1
        hod = int((at // HOUR + 2) % 24)
        ttft = rhythm(hod, bases[ref]) * rng.uniform(0.8, 1.3)
        outcome = Outcome.OK if rng.random() > 0.04 else Outcome.SERVER_ERROR
        ok = outcome is Outcome.OK
        batch.append(
            ProbeResult(
                ref[0], ref[1], outcome, at, 200 if ok else 503,
                ttft_ms=ttft if ok else None, total_ms=ttft + 30 if ok else None,
                headers_ms=ttft * 0.8 if ok else None, reused=True,
                error=None if ok else "HTTP 503: overloaded",
            )
        )  # fmt: skip
        if now - at <= 25 * HOUR:
            mid = model_id(db, ids, ModelRef(*ref))
            ledger.append((ref[0], ref[0], mid, "probe", at, 1))
        at += step / len(refs)
        if len(batch) >= 20_000:
            history.add(batch)
            batch = []
    history.add(batch)
    with transaction(db):
        db.executemany(
            "INSERT INTO ledger (budget, provider, model_id, kind, at, pid) VALUES (?,?,?,?,?,?)",
            ledger,
        )
    history.prune(now)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    history.close()


def file_mb(path: Path) -> float:
    """The database and its WAL, in MB."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20


@dataclass(frozen=True)
class Opened:
    """One key press's timings, in milliseconds from the key event."""

    first_frame: float  # the first frame of the new screen (placeholders)
    loaded_frame: float  # the first frame showing the loaded data (`?`: the first frame)
    loaded_cpu: float  # process CPU (every thread) until then
    heatmap_frame: float  # `h`: the frame that adds the provider's heatmap (below the fold)


def bench_app(path: Path, catalog_text: str, refs: list[tuple[str, str]]) -> DashboardApp:
    """A dashboard over the generated history, every model measured once, as a month-old
    `serve`'s dashboard shows them: 250 rows under the pushed screen."""
    catalog = parse_catalog(catalog_text, "bench", allow_http=True)
    now = time.time()
    rows = tuple(
        model_stats(
            ModelInfo(*ref, "bench"),
            [ProbeResult(*ref, Outcome.OK, now - 5, 200, ttft_ms=200.0 + index)],
            now,
            1800.0,
        )
        for index, ref in enumerate(refs)
    )
    from freemodels.ui.app import DashboardApp
    from freemodels.ui.services import Services
    from freemodels.ui.source import ManualSource

    services = Services(catalog, KeyRing(env={}), path)
    return DashboardApp(ManualSource(Snapshot(now, 1800.0, rows)), catalog, services)


async def screen_open(app: DashboardApp, ref: tuple[str, str], key: str) -> Opened:
    """Press `key` with `ref`'s row selected and time the frames until its screen shows.

    A frame is the app handing the compositor's update to its driver (`App._display`); the
    headless driver would drop it, so this also renders it to terminal bytes as a real terminal
    gets them. `h` is done at the first frame that shows the loaded history, `?` (the help
    screen: nothing to load, the control) at its first frame."""
    from textual import events

    from freemodels.ui.screens.help import HelpScreen
    from freemodels.ui.screens.history import HistoryScreen

    frames: list[tuple[float, float, object, bool, bool]] = []
    finished = asyncio.Event()
    wanted = HistoryScreen if key == "h" else HelpScreen
    async with app.run_test(size=(160, 48)) as pilot:
        display = app._display

        def recording(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None and hasattr(renderable, "render_segments"):
                renderable.render_segments(app.console)
            top = app.screen
            frames.append(
                (
                    time.perf_counter(),
                    time.process_time(),
                    type(top),
                    getattr(top, "history", None) is not None,
                    getattr(top, "heatmap", None) is not None,
                )
            )
            if isinstance(top, wanted) and (key != "h" or frames[-1][4]):
                finished.set()

        app._display = recording  # type: ignore[method-assign]
        # As a user would: the dashboard has read every model's trend before `h` is pressed.
        while not app.dashboard.rhythms:
            await pilot.pause(0.05)
        table = app.dashboard.table
        table._move_to(table.order.index(f"{ref[0]}/{ref[1]}"))  # the user's arrow keys
        await pilot.pause()
        frames.clear()
        started, cpu = time.perf_counter(), time.process_time()
        app._driver.send_message(events.Key(key, "h" if key == "h" else "?"))  # type: ignore[union-attr]

        def seen(index: int) -> tuple[float, float] | None:
            for at, spent, shown, *done in frames:
                if shown is wanted and (key != "h" or index < 0 or done[index]):
                    return (at - started) * 1000, (spent - cpu) * 1000
            return None

        await asyncio.wait_for(finished.wait(), 30)
        first, loaded = seen(-1), seen(0)
        heatmap = seen(1)
        assert first and loaded and (heatmap or key != "h"), f"no frame of {wanted.__name__}"
        return Opened(first[0], loaded[0], loaded[1], heatmap[0] if heatmap else first[0])


async def pilot_open_ms(app: DashboardApp, key: str) -> float:
    """The earlier measure, for comparison: Textual's Pilot presses `key` and pauses until the
    process is idle (it polls CPU time in 20 ms steps), so it counts ~60 ms of waiting and
    whatever else runs, not when the frame is shown."""
    async with app.run_test(size=(160, 48)) as pilot:
        while not app.dashboard.rhythms:
            await pilot.pause(0.05)
        await pilot.pause()
        started = time.perf_counter()
        await pilot.press(key)
        while key == "h" and getattr(app.screen, "history", None) is None:
            await pilot.pause(0.002)
        await pilot.pause()
        return (time.perf_counter() - started) * 1000


def command_s(*args: str) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one `freemodels` command."""
    before = os.times()
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "freemodels", *args], check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = after.children_user - before.children_user + after.children_system
    return wall, cpu - before.children_system


def main() -> int:
    """Generate the history and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=10)
    parser.add_argument("--models", type=int, default=25, help="models per provider")
    parser.add_argument(
        "--per-hour", type=int, default=25,
        help="raw samples per model-hour (bench/soak.py measured 25 over 250 models)",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--screen-only", action="store_true", help="skip the command figures")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fm-history-"))
    catalog_text = catalog_toml(args.providers, args.models)
    (tmp / "catalog.toml").write_text(catalog_text)
    catalog = parse_catalog(catalog_text, "bench", allow_http=True)
    refs = [(p.id, m.id) for p, m in catalog.models()]
    os.environ["FREEMODELS_DATA_DIR"] = str(tmp / "data")
    path = tmp / "data" / "history.sqlite3"
    now = time.time()
    started = time.perf_counter()
    generate(path, refs, now, args.per_hour)
    print(f"generated {len(refs)} models in {time.perf_counter() - started:.1f} s: {tmp}")
    print(f"history file after 30 days: {file_mb(path):.1f} MB (target <= 50 MB)")

    clock = LocalClock()
    loads, load_cpu, heat_cpu = [], [], []
    for run in range(args.runs):
        ref = refs[run * 7 % len(refs)]
        begun, cpu = time.perf_counter(), time.process_time()
        load_model_history(path, *ref, time.time(), clock, with_heatmap=False)
        loads.append((time.perf_counter() - begun) * 1000)
        load_cpu.append((time.process_time() - cpu) * 1000)
        cpu = time.process_time()
        load_provider_heatmap(path, ref[0], time.time(), clock)
        heat_cpu.append((time.process_time() - cpu) * 1000)
    opens: list[Opened] = []
    helps: list[Opened] = []
    pilot_h: list[float] = []
    pilot_help: list[float] = []
    for run in range(args.runs):
        ref = refs[run * 7 % len(refs)]
        # Interleaved, so both screens see the same load on the machine.
        helps.append(
            asyncio.run(screen_open(bench_app(path, catalog_text, refs), ref, "question_mark"))
        )
        opens.append(asyncio.run(screen_open(bench_app(path, catalog_text, refs), ref, "h")))
        pilot_help.append(
            asyncio.run(pilot_open_ms(bench_app(path, catalog_text, refs), "question_mark"))
        )
        pilot_h.append(asyncio.run(pilot_open_ms(bench_app(path, catalog_text, refs), "h")))

    def med(values: list[float]) -> str:
        return f"{statistics.median(values):.0f}"

    print(
        f"history screen (h): data shown {med([o.loaded_frame for o in opens])} ms median "
        f"(min {min(o.loaded_frame for o in opens):.0f}; target <= 150 ms), "
        f"{med([o.loaded_cpu for o in opens])} ms CPU; first frame "
        f"{med([o.first_frame for o in opens])} ms; the provider's heatmap (below the fold) "
        f"{med([o.heatmap_frame for o in opens])} ms"
    )
    print(
        f"  control: the help screen (?) shows in {med([o.first_frame for o in helps])} ms "
        f"(min {min(o.first_frame for o in helps):.0f}), "
        f"{med([o.loaded_cpu for o in helps])} ms CPU"
    )
    print(
        f"  reads: the model's history {med(loads)} ms wall, {med(load_cpu)} ms CPU; "
        f"the heatmap {med(heat_cpu)} ms CPU"
    )
    print(
        f"  Pilot's press-and-idle measure (as before): h {med(pilot_h)} ms, ? {med(pilot_help)} ms"
    )
    if args.screen_only:
        return 0
    begun = time.perf_counter()
    load_rhythms(path, time.time(), clock)
    print(f"trend + fastest hours of {len(refs)} models: {time.perf_counter() - begun:.2f} s")
    env_args = ("--catalog", str(tmp / "catalog.toml"))
    runs = {
        "stats --by-hour --days 30": ("stats", "--by-hour", "--days", "30", *env_args),
        "  per model, --json": (
            "stats", "--by-hour", "--model", "--days", "30", "--json", *env_args,
        ),
        "  control: stats --help": ("stats", "--help"),
    }  # fmt: skip
    for label, command in runs.items():
        measured = [command_s(*command) for _ in range(args.runs)]
        wall = statistics.median(m[0] for m in measured)
        cpu = statistics.median(m[1] for m in measured)
        print(f"{label}: {wall:.2f} s wall, {cpu:.2f} s CPU (target <= 0.5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
