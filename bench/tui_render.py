"""Dashboard render cost and launch-to-first-row time.

1. 250 models updated at 1 Hz under Textual's headless driver (every TTFT changes each second and
   the ranking reshuffles): CPU % of one core and p50/p95 frame time (a Snapshot pushed → the
   screen composited with it). Targets: <= 5 % CPU, <= 50 ms p95. Also printed: when the last
   repaint the update caused ended (e.g. scrollbars Textual repaints one timer tick after a
   layout), and the "settle" time the first version of this script reported (pushed →
   Pilot.pause() returns: that waits for a 20 ms slice with under 1 ms of CPU, so it moves in
   20 ms steps and is at least ~40 ms whenever anything is drawn).
   `--profile FILE` writes cProfile stats of the timed part (read them with pstats).
2. `freemodels --catalog X` in a pseudo-terminal against a local fleet whose models answer in
   300 ms: seconds from launch until a row shows a measured TTFT ("NNN ms"). Target: <= 0.5 s.

    python bench/tui_render.py [--seconds 60] [--changed 1.0] [--runs 3] [--profile FILE]
                               [--skip-render] [--skip-launch]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import random
import re
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from freemodels.core.catalog.parse import Catalog, parse_catalog
from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor.stats import rank
from freemodels.core.records import Health, ModelStats, Outcome, Snapshot

PROVIDERS, MODELS = 25, 10  # 250 rows


def synthetic_catalog() -> Catalog:
    """25 keyless providers of 10 models each."""
    parts = ["schema_version = 1"]
    for p in range(PROVIDERS):
        parts.append(
            f'[providers.p{p}]\nname = "Provider {p}"\nbase_url = "http://127.0.0.1:9/p{p}/v1"\n'
            f'api_key_env = ["P{p}_API_KEY"]\nsignup_url = "https://example.com"\n'
            "key_required = false\nrpm = 60"
        )
        for m in range(MODELS):
            parts.append(
                f'[[providers.p{p}.models]]\nid = "model-{m}"\nname = "Model {p}.{m}"\n'
                f'context = 131072\ntier = "{"SABC"[m % 4]}"\nswe_bench = {20 + m * 5}.0'
            )
    return parse_catalog("\n".join(parts), "bench", allow_http=True)


def snapshot_at(
    catalog: Catalog, second: int, rng: random.Random, changed: float, last: dict[str, float]
) -> Snapshot:
    """Every model measured; `changed` of them get a new TTFT (so cells and ranks change)."""
    rows = []
    for provider, model in catalog.models():
        ref = f"{provider.id}/{model.id}"
        if ref not in last or rng.random() < changed:
            last[ref] = round(rng.uniform(100, 900), 1)
        ttft = last[ref]
        rows.append(
            ModelStats(
                provider.id,
                model.id,
                model.name,
                Outcome.OK,
                200,
                10 + second,
                10 + second,
                1.0,
                ttft,
                ttft,
                ttft * 1.1,
                ttft * 1.2,
                ttft + 20,
                10.0,
                90,
                None,
                True,
                health=Health.UP,
                availability_low=0.9,
                last_ok_at=1e9 + second,
            )
        )
    return Snapshot(at=1e9 + second, window_s=1800.0, rows=tuple(rank(rows)))


async def render_bench(
    seconds: int, changed: float = 1.0, profile: Path | None = None
) -> dict[str, float]:
    """Push one Snapshot a second for `seconds` s; CPU share, frame and settle times."""
    from freemodels.ui.app import DashboardApp
    from freemodels.ui.services import Services
    from freemodels.ui.source import ManualSource

    catalog = synthetic_catalog()
    rng = random.Random(1)
    last: dict[str, float] = {}
    source = ManualSource(snapshot_at(catalog, 0, rng, changed, last))
    tmp = Path(tempfile.mkdtemp())
    services = Services(catalog, KeyRing(env={}), tmp / "h.sqlite3", None)
    app = DashboardApp(source, catalog, services, clock=lambda: 1e9, refresh_s=0.0, tick_s=None)
    frames: list[float] = []
    lasts: list[float] = []
    settles: list[float] = []
    profiler = cProfile.Profile() if profile else None
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        snapshots = [snapshot_at(catalog, s, rng, changed, last) for s in range(1, seconds + 1)]
        painted = _note_paints(app.dashboard)
        table = app.dashboard.table
        updates_before = table.cell_updates
        lines_before = getattr(table, "lines_refreshed", 0)
        if profiler:
            profiler.enable()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for index, snap in enumerate(snapshots):
            painted.clear()
            started = time.perf_counter()
            source.push(snap)
            await pilot.pause()
            settles.append(time.perf_counter() - started)
            ended = time.perf_counter()
            frames.append((painted[0] if painted else ended) - started)
            lasts.append((painted[-1] if painted else ended) - started)
            next_tick = wall0 + index + 1
            await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if profiler and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        cells = table.cell_updates - updates_before
        lines = getattr(table, "lines_refreshed", 0) - lines_before
    frames.sort()
    lasts.sort()
    settles.sort()
    return {
        "cpu_percent": 100 * cpu / wall,
        "frame_p50_ms": 1000 * statistics.median(frames),
        "frame_p95_ms": 1000 * _p95(frames),
        "last_paint_p95_ms": 1000 * _p95(lasts),
        "settle_p50_ms": 1000 * statistics.median(settles),
        "settle_p95_ms": 1000 * _p95(settles),
        "cells_per_update": cells / len(frames),
        "lines_per_update": lines / len(frames),
    }


def _p95(sorted_values: list[float]) -> float:
    return sorted_values[int(0.95 * (len(sorted_values) - 1))]


def _note_paints(screen: Any) -> list[float]:
    """Times at which `screen` finished compositing an update (the headless driver draws nothing,
    so this is the end of a frame's work)."""
    painted: list[float] = []
    refresh = screen._compositor_refresh

    def refresh_and_note() -> None:
        refresh()
        painted.append(time.perf_counter())

    screen._compositor_refresh = refresh_and_note
    return painted


def launch_bench(runs: int) -> list[float]:
    """Seconds from `freemodels --catalog X` launch to the first `NNN ms` on its screen."""
    import fcntl
    import pty
    import termios

    times = []
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "providers.toml"
        fleet = subprocess.Popen(
            [sys.executable, "-m", "freemodels.fleet", "--providers", "1",
             "--models-per-provider", "5", "--ttft-ms", "300", "--catalog-out", str(catalog)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert fleet.stdout is not None
            fleet.stdout.readline()  # the URL: the fleet is listening and the catalog written
            for run in range(runs):
                home = Path(tmp) / f"home{run}"
                env = {
                    **os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "c"),
                    "XDG_DATA_HOME": str(home / "d"), "XDG_STATE_HOME": str(home / "s"),
                    "XDG_CACHE_HOME": str(home / "k"), "TERM": "xterm-256color",
                }  # fmt: skip
                env.pop("NO_COLOR", None)
                main, child = pty.openpty()
                fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
                started = time.perf_counter()
                proc = subprocess.Popen(
                    [sys.executable, "-m", "freemodels", "--catalog", str(catalog)],
                    stdin=child,
                    stdout=child,
                    stderr=child,
                    env=env,
                    close_fds=True,
                )
                os.close(child)
                seen = _wait_for(main, re.compile(rb"\d ms"), 10.0)
                times.append(seen - started if seen else float("nan"))
                proc.terminate()
                _drain(main, proc)
                os.close(main)
        finally:
            fleet.terminate()
            fleet.wait(5)
    return times


def _wait_for(fd: int, pattern: re.Pattern[bytes], timeout: float) -> float | None:
    buffer = b""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return None
        if not chunk:
            return None
        # Escape sequences may split a cell's text: match on the printable bytes only.
        buffer += re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", chunk)
        if pattern.search(buffer):
            return time.perf_counter()
    return None


def _drain(fd: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.perf_counter() + 5
    while proc.poll() is None and time.perf_counter() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                os.read(fd, 65536)
            except OSError:
                break
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def main() -> int:
    """Run both measurements and print the figures against their targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="render run length (default 60)")
    parser.add_argument("--runs", type=int, default=3, help="launches to time (default 3)")
    parser.add_argument(
        "--changed",
        type=float,
        default=1.0,
        help="share of the rows whose TTFT changes each second (default 1: every row)",
    )
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the render run")
    parser.add_argument("--skip-render", action="store_true")
    parser.add_argument("--skip-launch", action="store_true")
    args = parser.parse_args()
    if not args.skip_render:
        figures = asyncio.run(render_bench(args.seconds, args.changed, args.profile))
        print(
            f"render: {PROVIDERS * MODELS} rows at 1 Hz for {args.seconds} s (headless), "
            f"{args.changed:.0%} of the rows changing each second"
        )
        print(
            f"  CPU {figures['cpu_percent']:.1f} % of one core (target <= 5 %, "
            f"ratio {figures['cpu_percent'] / 5:.2f})"
        )
        print(
            f"  frame p50 {figures['frame_p50_ms']:.1f} ms, p95 {figures['frame_p95_ms']:.1f} ms "
            f"(pushed → composited; target <= 50 ms, ratio {figures['frame_p95_ms'] / 50:.2f})"
        )
        print(f"  last repaint it caused ended at p95 {figures['last_paint_p95_ms']:.1f} ms")
        print(
            f"  settle p50 {figures['settle_p50_ms']:.1f} ms, "
            f"p95 {figures['settle_p95_ms']:.1f} ms (pushed → Pilot.pause() returns; 20 ms steps)"
        )
        print(
            f"  {figures['cells_per_update']:.0f} cells changed, "
            f"{figures['lines_per_update']:.0f} table lines redrawn per update"
        )
    if not args.skip_launch:
        times = launch_bench(args.runs)
        shown = ", ".join(f"{t:.2f}" for t in times)
        best = min(times)
        print(f"launch to first measured row (300 ms endpoint): {shown} s")
        print(
            f"  median {statistics.median(times):.2f} s (target <= 0.5 s, "
            f"ratio {statistics.median(times) / 0.5:.2f}; best {best:.2f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
