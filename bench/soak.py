"""A long run compressed: the monitor over 250 models for 24 simulated hours.

    python bench/soak.py [--hours 24] [--minutes 10] [--providers 10] [--models 25]

The fake fleet runs in its own process. The monitor runs here on an accelerated clock: wall time
reads `speed` times faster and every sleep is `speed` times shorter, so 24 hours of scheduling,
budgets, pruning and history pass in `--minutes` of real time (probe latencies stay real, and
read `speed` times longer on the simulated clock). Afterwards it prints peak RSS (and the RSS of
the same process before the run, as the baseline), the history file's size, CPU per probe, and
whether any budget was ever exceeded: every sample in the history is checked against its
provider's rpm in every sliding 60 s and its rpd in every sliding 24 h.
Targets: RSS <= 120 MB, DB <= 50 MB, zero budget overruns.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import defaultdict
from pathlib import Path

from freemodels.core.catalog.parse import load_catalog
from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor.config import MonitorConfig
from freemodels.core.monitor.monitor import Monitor

# (rpm, rpd) per synthetic provider: a mix like the real catalog's.
LIMITS = [(30, None), (40, None), (20, 1000), (60, None), (30, 14400), (10, 50), (30, None),
          (40, None), (20, None), (30, 500)]  # fmt: skip


def limited_catalog(text: str) -> str:
    """The synthetic catalog with rpm/rpd added to each provider."""
    out: list[str] = []
    index = -1
    for line in text.splitlines():
        out.append(line)
        if line.startswith("[providers.") and "models" not in line:
            index += 1
        if line.startswith("key_required") and index >= 0:
            rpm, rpd = LIMITS[index % len(LIMITS)]
            out.append(f"rpm = {rpm}")
            if rpd:
                out.append(f"rpd = {rpd}")
    return "\n".join(out) + "\n"


def overruns(db_path: Path, catalog_path: Path) -> tuple[int, int, dict[str, int]]:
    """(requests checked, windows over a cap, peak per-minute count per provider)."""
    limits = {
        pid: (p.get("rpm"), p.get("rpd"))
        for pid, p in tomllib.loads(catalog_path.read_text())["providers"].items()
    }
    times: dict[str, list[float]] = defaultdict(list)
    db = sqlite3.connect(db_path)
    for provider, at in db.execute("SELECT provider, at FROM ledger ORDER BY at"):
        times[provider].append(at)
    total = 0
    over = 0
    peak: dict[str, int] = {}
    for provider, stamps in times.items():
        rpm, rpd = limits[provider]
        total += len(stamps)
        best = 0
        for i, at in enumerate(stamps):
            in_minute = bisect.bisect_right(stamps, at + 60 - 1e-9) - i
            best = max(best, in_minute)
            if rpm and in_minute > rpm:
                over += 1
            if rpd and bisect.bisect_right(stamps, at + 86400 - 1e-9) - i > rpd:
                over += 1
        peak[provider] = best
    return total, over, peak


def main() -> int:
    """Run the soak and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    parser.add_argument("--minutes", type=float, default=10.0, help="real minutes to take")
    parser.add_argument("--providers", type=int, default=10)
    parser.add_argument("--models", type=int, default=25, help="models per provider")
    args = parser.parse_args()
    speed = args.hours * 3600 / (args.minutes * 60)

    tmp = Path(tempfile.mkdtemp(prefix="fm-soak-"))
    raw_catalog = tmp / "raw.toml"
    fleet = subprocess.Popen(
        [sys.executable, "-m", "freemodels.fleet", "--providers", str(args.providers),
         "--models-per-provider", str(args.models), "--ttft-ms", "1", "--tokens", "2",
         "--token-interval-ms", "0", "--catalog-out", str(raw_catalog)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert fleet.stdout is not None
        fleet.stdout.readline()
        catalog_path = tmp / "catalog.toml"
        catalog_path.write_text(limited_catalog(raw_catalog.read_text()))
        catalog = load_catalog(catalog_path)
        history = tmp / "history.sqlite3"

        real0 = time.perf_counter()
        sim0 = time.time()

        def clock() -> float:
            return sim0 + (time.perf_counter() - real0) * speed

        async def sleep(seconds: float) -> None:
            await asyncio.sleep(seconds / speed)

        # Snapshots still go out twice a second of real time, as a dashboard would see them.
        config = MonitorConfig(publish_interval_s=0.5 * speed, stats_refresh_s=5.0 * speed)
        monitor = Monitor(catalog, KeyRing(env={}), history, config, clock=clock, sleep=sleep)
        baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cpu0 = time.process_time()

        async def soak() -> None:
            task = asyncio.create_task(monitor.run())
            await asyncio.sleep(args.minutes * 60)
            monitor.stop()
            await task

        asyncio.run(soak())
        cpu = time.process_time() - cpu0
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        fleet.terminate()
        fleet.wait(timeout=10)

    db_size = sum(p.stat().st_size for p in tmp.glob("history.sqlite3*")) / 2**20
    checked, over, peak = overruns(history, catalog_path)
    models = args.providers * args.models
    print(f"{models} models, {args.hours:g} simulated hours in {args.minutes:g} min (x{speed:.0f})")
    print(f"probes sent: {monitor.probes_sent} ({checked} requests in the ledger)")
    print(f"CPU per probe: {cpu / max(1, monitor.probes_sent) * 1000:.3f} ms (monitor process)")
    print(f"peak RSS: {peak_rss:.0f} MiB (baseline before the run: {baseline_rss:.0f} MiB, "
          f"x{peak_rss / baseline_rss:.2f})")  # fmt: skip
    print(f"history DB: {db_size:.1f} MiB")
    print(f"budget overruns: {over} (peak requests in any 60 s per provider: {dict(peak)})")
    print("targets: RSS <= 120 MB, DB <= 50 MB, zero budget overruns")
    return 0 if over == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
