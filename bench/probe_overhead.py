"""Client cost of a sweep: `freemodels check` against a fake fleet, beside a bare aiohttp floor.

    python bench/probe_overhead.py [--providers 8] [--models 50] [--ttft-ms 300] [--repeat 3]

The fleet runs in its own process (python -m freemodels.fleet), so only the client is measured.
Each client runs as a subprocess twice: over the whole fleet (N endpoints) and over one model per
provider; marginal CPU per probe = (cpu_N - cpu_small) / (N - small), which cancels start-up and
import costs. Wall time is the sweep's own (measured inside the client), and the TTFT error is the
median over models of (reported TTFT - the fleet's own arrival-to-first-content time, read from
its /_fleet/timings log; both clocks are the machine's CLOCK_MONOTONIC). Every figure is printed
beside the aiohttp floor measured in the same run, as a ratio, because these machines are shared
and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

FLOOR_CLIENT = r"""
import asyncio, json, sys, time, tomllib
import aiohttp

async def main(path, only_first):
    catalog = tomllib.loads(open(path).read())
    jobs = []
    for pid, p in catalog["providers"].items():
        models = p["models"][:1] if only_first else p["models"]
        jobs += [(pid, p["base_url"], m["id"]) for m in models]
    sessions = {}
    for pid, base, _ in jobs:
        if pid not in sessions:
            sessions[pid] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32))
    async def one(pid, base, model):
        ttft = None
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 8, "temperature": 0, "stream": True}
        t0 = time.perf_counter()
        async with sessions[pid].post(base + "/chat/completions", json=body) as r:
            async for line in r.content:
                content = b'"content":"' in line and b'"content":""' not in line
                if ttft is None and line.startswith(b"data:") and content:
                    ttft = (time.perf_counter() - t0) * 1000
        return [pid, model, ttft]
    t = time.perf_counter()
    ttfts = await asyncio.gather(*(one(*j) for j in jobs))
    wall = time.perf_counter() - t
    for s in sessions.values():
        await s.close()
    print(json.dumps({"wall_s": wall, "ttft_ms": [x for x in ttfts if x[2] is not None]}))

asyncio.run(main(sys.argv[1], sys.argv[2] == "1"))
"""

OURS_CLIENT = r"""
import asyncio, json, sys, time
import httpx_aiohttp  # imported before the clock starts, like the floor's aiohttp
from freemodels.core.catalog.parse import load_catalog
from freemodels.cli.context import Context
from freemodels.cli.check import sweep_and_rank
from freemodels.core.keys.lookup import KeyRing
from pathlib import Path

catalog = load_catalog(Path(sys.argv[1]))
if sys.argv[2] == "1":
    from dataclasses import replace
    from freemodels.core.catalog.parse import Catalog
    catalog = Catalog(tuple(replace(p, models=p.models[:1]) for p in catalog.providers))
ctx = Context(catalog, KeyRing(env={}), Path(sys.argv[3]))
t = time.perf_counter()
rows = asyncio.run(sweep_and_rank(ctx, catalog, timeout_s=30))
wall = time.perf_counter() - t
measured = [[r.provider, r.model, r.ttft_ms] for r in rows if r.ttft_ms is not None]
print(json.dumps({"wall_s": wall, "ttft_ms": measured,
                  "ok": sum(1 for r in rows if r.outcome and r.outcome.value == "ok")}))
"""


def fleet_timings(url: str) -> list[dict[str, Any]]:
    """The fleet's own record of when each request arrived and its first content left."""
    with urllib.request.urlopen(f"{url}/_fleet/timings", timeout=10) as answer:
        rows: list[dict[str, Any]] = json.load(answer)
    return rows


def ttft_errors(reported: list[list[Any]], truth: list[dict[str, Any]]) -> list[float]:
    """Reported TTFT minus the server's (arrival to first content), per model of one run."""
    server = {
        (t["provider"], t["model"]): (t["first_content"] - t["at"]) * 1000
        for t in truth
        if t["first_content"] is not None
    }
    return [ms - server[(p, m)] for p, m, ms in reported if (p, m) in server]


def run_client(code: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run one client process; return its JSON plus its CPU seconds and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["rss_mib"] = after.ru_maxrss / 1024
    return result


async def one_at_a_time(requests: int = 15) -> dict[str, float]:
    """Median TTFT error of single requests (no concurrency) against an in-process fleet whose
    SentTimes are the ground truth: freemodels' probe on new and on reused connections, and a
    bare aiohttp request on new connections."""
    import aiohttp

    from freemodels.core.probe.clients import ClientPool
    from freemodels.core.probe.probe import ProbeSpec, probe
    from freemodels.core.records import Model, Provider
    from freemodels.fleet.server import Behaviour, Fleet

    model = Model("m", "M", 8192)
    errors: dict[str, list[float]] = {"new": [], "reused": [], "floor": []}
    async with Fleet() as fleet:
        fleet.set("p", "m", Behaviour(ttft_s=0.1))
        provider = Provider("p", "P", fleet.base_url("p"), ("K",), "https://x.invalid")

        def error(reported: float | None) -> float:
            record = fleet.requests[-1]
            assert reported is not None and record.sent.first_content is not None
            return reported - (record.sent.first_content - record.at) * 1000

        for _ in range(requests):
            async with ClientPool() as pool:
                result = await probe(pool.wire(provider.base_url, "p"), provider, model, None)
            errors["new"].append(error(result.ttft_ms))
            async with aiohttp.ClientSession() as session:
                started = time.perf_counter()
                ttft = None
                body = {"model": "m", "stream": True, "messages": []}
                async with session.post(f"{provider.base_url}/chat/completions", json=body) as r:
                    async for line in r.content:
                        if ttft is None and b'"content":"' in line and b'"content":""' not in line:
                            ttft = (time.perf_counter() - started) * 1000
            errors["floor"].append(error(ttft))
        async with ClientPool() as pool:
            client = pool.wire(provider.base_url, "p")
            await probe(client, provider, model, None, ProbeSpec())
            for _ in range(requests):
                result = await probe(client, provider, model, None, ProbeSpec())
                errors["reused"].append(error(result.ttft_ms))
    return {name: statistics.median(values) for name, values in errors.items()}


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=8)
    parser.add_argument("--models", type=int, default=50, help="models per provider")
    parser.add_argument("--ttft-ms", type=float, default=300.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--transports", default="lean,aiohttp,httpcore")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="fm-bench-"))
    catalog = tmp / "bench.toml"
    fleet = subprocess.Popen(
        [sys.executable, "-m", "freemodels.fleet", "--providers", str(args.providers),
         "--models-per-provider", str(args.models), "--ttft-ms", str(args.ttft_ms),
         "--catalog-out", str(catalog)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert fleet.stdout is not None
        url = fleet.stdout.readline().strip()
        n = args.providers * args.models
        small = args.providers
        env = {**os.environ, "HOME": str(tmp), "XDG_DATA_HOME": str(tmp / "data")}
        clients = {"aiohttp floor": (FLOOR_CLIENT, [])}
        for name in args.transports.split(","):
            clients[f"freemodels ({name})"] = (OURS_CLIENT, [name])
        figures: dict[str, dict[str, float]] = {}
        for name, (code, extra) in clients.items():
            client_env = dict(env)
            if extra:
                client_env["FREEMODELS_TRANSPORT"] = extra[0]
            marginal, walls, errors, quiet_errors, rss = [], [], [], [], []
            for i in range(args.repeat):
                db = [str(tmp / f"h{i}-{len(figures)}.sqlite3")] if code is OURS_CLIENT else []
                seen = len(fleet_timings(url))
                full = run_client(code, [str(catalog), "0", *db], client_env)
                truth = fleet_timings(url)[seen:]
                seen = len(fleet_timings(url))
                little = run_client(code, [str(catalog), "1", *db], client_env)
                quiet_errors.append(
                    statistics.median(ttft_errors(little["ttft_ms"], fleet_timings(url)[seen:]))
                )
                marginal.append((full["cpu_s"] - little["cpu_s"]) / (n - small) * 1000)
                walls.append(full["wall_s"])
                errors.append(statistics.median(ttft_errors(full["ttft_ms"], truth)))
                rss.append(full["rss_mib"])
                if code is OURS_CLIENT and full.get("ok") != n:
                    print(f"warning: {name}: only {full.get('ok')} of {n} ok", file=sys.stderr)
            figures[name] = {
                "cpu_ms_per_probe": statistics.median(marginal),
                "wall_s": statistics.median(walls),
                "ttft_error_ms": statistics.median(errors),
                "quiet_ttft_error_ms": statistics.median(quiet_errors),
                "peak_rss_mib": max(rss),
            }
            time.sleep(0.2)
    finally:
        fleet.terminate()
        fleet.wait(timeout=10)

    floor = figures["aiohttp floor"]["cpu_ms_per_probe"]
    print(f"{n} endpoints across {args.providers} providers, TTFT {args.ttft_ms:g} ms, "
          f"median of {args.repeat} runs")  # fmt: skip
    print(f"{'client':<24}{'CPU ms/probe':>14}{'x floor':>9}{'wall s':>9}{'TTFT err ms':>13}"
          f"{'err, 8 only':>13}{'peak RSS MiB':>14}")  # fmt: skip
    for name, f in figures.items():
        print(
            f"{name:<24}{f['cpu_ms_per_probe']:>14.3f}{f['cpu_ms_per_probe'] / floor:>9.2f}"
            f"{f['wall_s']:>9.2f}{f['ttft_error_ms']:>13.2f}{f['quiet_ttft_error_ms']:>13.2f}"
            f"{f['peak_rss_mib']:>14.0f}"
        )
    print(
        "TTFT err: reported minus the server's own first-content time, median over models, with\n"
        f"all {n} endpoints at once (the client's event loop is then the bottleneck) and with one\n"
        "model per provider."
    )
    single = asyncio.run(one_at_a_time())
    print(
        f"TTFT error one request at a time: {single['new']:.2f} ms on a new connection, "
        f"{single['reused']:.2f} ms reused (aiohttp floor {single['floor']:.2f} ms)"
    )
    print(
        "targets: <= 0.5 ms CPU/probe, <= 3x floor, wall <= 1 s, TTFT error <= 2 ms, RSS <= 100 MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
