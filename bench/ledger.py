"""The request ledger on Redis against the local SQLite one: grant latency and a sweep's CPU.

    python bench/ledger.py [--grants 3000] [--providers 8] [--models 50] [--repeat 3]

Needs `redis-server` (scripts/ci/redis.sh installs it); one is started on a free loopback port
with a temp dir and no persistence.

1. Grant latency: `try_acquire` one at a time on one budget (capped high enough never to refuse),
   p50/p95/p99 over `--grants` calls, Redis over loopback beside SQLite in a temp file.
2. A sweep: `freemodels check` over a fleet of providers × models (400 endpoints by default, the
   fleet in its own process), with FREEMODELS_LEDGER set and without. The CPU of the whole
   process (user + system, from wait4) and its marginal cost per probe (full sweep minus a sweep
   of one provider's models, which cancels start-up), median of `--repeat` interleaved runs, as
   a ratio Redis / SQLite. The process figure includes the ledger's start (its RESP client, the
   connection, the scripts); the marginal one is the ledger's cost per request. A grant that
   misses the 50 ms deadline is decided locally (the fallback warning then shows on stderr).
   The machine is shared: the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor.budget import BudgetLedger, Ledger, budget_limits
from freemodels.core.monitor.ledger_config import LedgerSettings
from freemodels.core.monitor.ledger_select import open_ledger
from freemodels.core.records import Model, ProbeKind, Provider
from freemodels.core.store.history import History


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server on a free port; its URL once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def latencies(ledger: BudgetLedger, provider: Provider, model: Model, n: int) -> list[float]:
    """Milliseconds per grant, one at a time."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        wait = ledger.try_acquire(provider, model, ProbeKind.PROBE)
        out.append((time.perf_counter() - t0) * 1000)
        assert wait == 0
    return out


def cpu_per_grant(ledger: BudgetLedger, provider: Provider, model: Model, n: int) -> float:
    """Microseconds of this process's CPU per grant (the client's side of the cost)."""
    started = time.process_time()
    latencies(ledger, provider, model, n)
    return (time.process_time() - started) / n * 1e6


def batch_cost(ledger: BudgetLedger, providers: list[Provider], rounds: int) -> tuple[float, float]:
    """(CPU, wall) microseconds per request when a sweep's grants come in one batch, as the
    gate sends them (every model of every provider in one `try_acquire_many`)."""
    requests = [(p, m, ProbeKind.PROBE) for p in providers for m in p.models]
    ledger.try_acquire_many(requests)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        ledger.try_acquire_many(requests)
    n = rounds * len(requests)
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def run_check(catalog: Path, home: Path, env: dict[str, str], small: bool) -> float:
    """CPU seconds of one `freemodels check` process."""
    args = [sys.executable, "-m", "freemodels", "--catalog", str(catalog), "check", "--json"]
    if small:
        args += ["--provider", "bench-0"]
    proc = subprocess.Popen(
        args, env={**env, "HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"check failed with status {status}")
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    """Run both parts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=3000)
    parser.add_argument("--providers", type=int, default=8)
    parser.add_argument("--models", type=int, default=50, help="models per provider")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fm-bench-ledger-"))
    redis_proc, url = start_redis(tmp)
    fleet = None
    try:
        model = Model("m", "M", 8192)
        provider = Provider(
            "p", "p", "https://x.invalid/v1", ("P_API_KEY",), "https://x.invalid",
            rpm=10**7, models=(model,),
        )  # fmt: skip
        keys = KeyRing(env={"P_API_KEY": "bench-key-0123456789"})
        sqlite_history = History(tmp / "sqlite.sqlite3")
        redis_history = History(tmp / "redis.sqlite3")
        ledgers: dict[str, BudgetLedger] = {
            "sqlite": Ledger(sqlite_history.db, budget_limits([provider])),
            "redis": open_ledger(
                redis_history.db, [provider], keys, settings=LedgerSettings(url=url)
            ),
        }
        print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)")
        print(f"grant latency, {args.grants} grants one at a time (ms):")
        samples: dict[str, list[float]] = {name: [] for name in ledgers}
        for ledger in ledgers.values():
            latencies(ledger, provider, model, 200)  # warm-up (script load, page cache)
        # Interleaved blocks, so a burst of load on the shared machine hits both alike.
        block = max(1, args.grants // 10)
        for _ in range(10):
            for name, ledger in ledgers.items():
                samples[name] += latencies(ledger, provider, model, block)
        for name, ms in samples.items():
            cpu_us = cpu_per_grant(ledgers[name], provider, model, args.grants // 2)
            print(
                f"  {name:<7} p50 {pct(ms, 50):.3f}  p95 {pct(ms, 95):.3f}  p99 {pct(ms, 99):.3f}"
                f"  (client CPU {cpu_us:.0f} us/grant)"
            )

        sweep = [
            Provider(
                f"b{i}",
                "b",
                "https://x.invalid/v1",
                ("B_API_KEY",),
                "https://x.invalid",
                models=tuple(Model(f"m{j}", "M", 8192) for j in range(args.models)),
            )
            for i in range(args.providers)
        ]
        batched: dict[str, BudgetLedger] = {
            "sqlite": Ledger(History(tmp / "batch.sqlite3").db, budget_limits(sweep)),
            "redis": open_ledger(
                History(tmp / "batch-redis.sqlite3").db,
                sweep,
                keys,
                settings=LedgerSettings(url=url),
            ),
        }
        n = args.providers * args.models
        print(f"one batch of {n} grants (a sweep's, as the gate sends it), per request:")
        for name, ledger in batched.items():
            cpu_us, wall_us = batch_cost(ledger, sweep, 20)
            print(f"  {name:<7} client CPU {cpu_us:.1f} us, wall {wall_us:.1f} us")

        catalog = tmp / "fleet.toml"
        fleet = subprocess.Popen(
            [sys.executable, "-m", "freemodels.fleet", "--providers", str(args.providers),
             "--models-per-provider", str(args.models), "--ttft-ms", "300",
             "--catalog-out", str(catalog)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert fleet.stdout is not None
        fleet.stdout.readline()
        base = {k: v for k, v in os.environ.items() if not k.startswith("FREEMODELS_")}
        envs = {"sqlite": base, "redis": {**base, "FREEMODELS_LEDGER": url}}
        cpu: dict[str, list[float]] = {name: [] for name in envs}
        marginal: dict[str, list[float]] = {name: [] for name in envs}
        for i in range(args.repeat):
            for name, env in envs.items():
                home = tmp / f"home-{name}-{i}"
                full = run_check(catalog, home, env, small=False)
                little = run_check(catalog, home, env, small=True)
                cpu[name].append(full)
                small_n = args.models  # --provider bench-0: one provider's models
                marginal[name].append((full - little) / (n - small_n) * 1000)
        print(f"{n}-endpoint check sweep, median of {args.repeat} interleaved runs:")
        for name in envs:
            print(
                f"  {name:<7} process CPU {statistics.median(cpu[name]):.2f} s, "
                f"marginal {statistics.median(marginal[name]):.3f} ms/probe"
            )
        ratio = statistics.median(cpu["redis"]) / statistics.median(cpu["sqlite"])
        ratio_m = statistics.median(marginal["redis"]) / statistics.median(marginal["sqlite"])
        print(f"  redis / sqlite: process CPU {ratio:.2f}x, marginal {ratio_m:.2f}x")
        print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min)")
    finally:
        if fleet is not None:
            fleet.terminate()
            fleet.wait(timeout=10)
        redis_proc.kill()
        redis_proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
