"""One `freemodels check` sweep as a whole process, beside a bare aiohttp client process.

    python bench/sweep_wall.py [--providers 16] [--models 25] [--ttft-ms 300] [--repeat 3]
                               [--tls] [--rounds 1]

The default layout spreads the 400 endpoints as the real catalog spreads its models: no provider
lists more than 32 (the most, today, is 22), so every request of a sweep is in flight at once.
With more than 32 models per provider (`--providers 8 --models 50`), both clients wait out two
waves, and the script prints the least ratio any client could reach.

What a user waits for: process start to exit (imports, catalog, keys, ledger, the sweep, the
table), its CPU (user + sys) and peak RSS, read with os.wait4. The floor is a bare aiohttp
script sending the same streamed requests and reading the same SSE. Both run in turn (ours, floor,
ours, floor, ...) against one fleet in its own process, on a machine that may be shared: every
figure is printed as a ratio against the floor measured in the same run, with the load average.

Marginal CPU per probe = (cpu of the full sweep - cpu of a sweep of one model per provider) /
(the difference in probes), which cancels start-up and imports. TTFT error = reported TTFT minus
the fleet's own arrival-to-first-content time (/_fleet/timings; both on CLOCK_MONOTONIC). The
fleet's arrival is when the request's bytes reached its socket (its first read, less what Linux's
TCP_INFO says they waited in the kernel), not when its handler ran: a fleet answering 256
requests at once reads some of them tens of ms late, which is no error of the client's.
With --tls the fleet serves https with a throwaway CA, trusted through SSL_CERT_FILE by both
clients; --rounds N makes each client sweep N times, 1 s apart, on the same connections.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from freemodels.core.probe.clients import MAX_IN_FLIGHT_PER_PROVIDER

# Requests in flight per provider (docs/architecture.md, "Rate budgets"): the floor keeps the
# same cap as the probes.
MAX_IN_FLIGHT = MAX_IN_FLIGHT_PER_PROVIDER

FLOOR_CLIENT = r"""
import asyncio, json, ssl, sys, time, tomllib
import aiohttp

async def main(path, rounds, limit):
    catalog = tomllib.loads(open(path, encoding="utf-8").read())
    jobs = [(pid, p["base_url"], m["id"]) for pid, p in catalog["providers"].items()
            for m in p["models"]]
    tls = ssl.create_default_context() if jobs and jobs[0][1].startswith("https") else False
    sessions = {pid: aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, ssl=tls))
                for pid, _, _ in jobs}
    async def one(pid, base, model):
        ttft = None
        body = {"model": model, "max_tokens": 8, "temperature": 0, "stream": True,
                "messages": [{"role": "user", "content": "Reply with the single word OK."}]}
        t0 = time.perf_counter()
        async with sessions[pid].post(base + "/chat/completions", json=body) as r:
            async for line in r.content:
                if ttft is None and line.startswith(b"data:") and b'"content":"' in line \
                        and b'"content":""' not in line:
                    ttft = (time.perf_counter() - t0) * 1000
        return [pid, model, ttft]
    out = []
    for index in range(rounds):
        started = time.perf_counter()
        out += await asyncio.gather(*(one(*j) for j in jobs))
        if index + 1 < rounds:
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - started)))
    for s in sessions.values():
        await s.close()
    print(json.dumps({"ttft_ms": [x for x in out if x[2] is not None]}))

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


def catalog_text(url: str, providers: int, models: int) -> str:
    """A catalog of the fleet's uniform providers (bench-0..., models m-0...), keyless."""
    lines = ["schema_version = 1"]
    for p in range(providers):
        lines += [
            "",
            f'[providers."bench-{p}"]',
            f'name = "bench-{p}"',
            f'base_url = "{url}/bench-{p}/v1"',
            f'api_key_env = ["BENCH_{p}_API_KEY"]',
            'signup_url = "https://example.invalid/signup"',
            "key_required = false",
        ]
        for m in range(models):
            lines += ["", f'[[providers."bench-{p}".models]]', f'id = "m-{m}"', f'name = "m-{m}"']
            lines.append("context = 131072")
    return "\n".join(lines) + "\n"


def fleet_timings(url: str, ca: Path | None) -> list[dict[str, Any]]:
    """The fleet's record of when each chat request arrived and its first content left."""
    import ssl

    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    with urllib.request.urlopen(f"{url}/_fleet/timings", timeout=10, context=context) as answer:
        rows: list[dict[str, Any]] = json.load(answer)
    return rows


def ttft_errors(reported: list[list[Any]], truth: list[dict[str, Any]]) -> list[float]:
    """Reported TTFT minus the server's (arrival to first content), one per model of one run."""
    server = {
        (t["provider"], t["model"]): (t["first_content"] - t["at"]) * 1000
        for t in truth
        if t["first_content"] is not None
    }
    return [ms - server[(p, m)] for p, m, ms in reported if (p, m) in server]


def run_process(argv: list[str], env: dict[str, str], out: Path) -> dict[str, Any]:
    """Run one client process: wall (start to exit), CPU user+sys and peak RSS of that child."""
    with out.open("wb") as stdout:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 3):  # 3: nothing usable, still a finished sweep
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{argv[:4]} exited {proc.returncode}: {err[-2000:]}")
    if proc.stderr:
        proc.stderr.close()
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024,
        "stdout": out.read_text(encoding="utf-8"),
    }


def ours_ttfts(stdout: str) -> tuple[list[list[Any]], int]:
    """(provider, model, TTFT) of each model that answered, and how many did, from check --json."""
    records = json.loads(stdout)
    measured = [[r["provider"], r["model"], r["ttft_ms"]] for r in records if r["ttft_ms"]]
    return measured, sum(1 for r in records if r["outcome"] == "ok")


def load() -> str:
    """The 1-minute load average (these machines are shared: a figure means little without it)."""
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def start_fleet(args: argparse.Namespace, tmp: Path) -> tuple[subprocess.Popen[str], str, Path]:
    """The fleet in its own process; its URL and (with --tls) its CA file."""
    ca = tmp / "fleet-ca.pem"
    argv = [sys.executable, "-m", "freemodels.fleet", "--providers", str(args.providers),
            "--models-per-provider", str(args.models), "--ttft-ms", str(args.ttft_ms)]  # fmt: skip
    if args.tls:
        argv += ["--tls-ca-out", str(ca)]
    fleet = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert fleet.stdout is not None
    return fleet, fleet.stdout.readline().strip(), ca


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=16)
    parser.add_argument("--models", type=int, default=25, help="models per provider")
    parser.add_argument("--ttft-ms", type=float, default=300.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="sweeps per process, 1 s apart")
    parser.add_argument("--tls", action="store_true", help="the fleet speaks https")
    parser.add_argument(
        "--variant", action="append", default=[], metavar="VAR=VALUE",
        help="also run ours with this environment variable set, e.g. FREEMODELS_LOOP=asyncio or "
        "FREEMODELS_TRANSPORT=httpcore (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="fm-sweep-"))
    fleet, url, ca = start_fleet(args, tmp)
    n, small = args.providers * args.models, args.providers
    full_catalog, small_catalog = tmp / "full.toml", tmp / "small.toml"
    full_catalog.write_text(catalog_text(url, args.providers, args.models), encoding="utf-8")
    small_catalog.write_text(catalog_text(url, args.providers, 1), encoding="utf-8")
    exe = shutil.which("freemodels", path=str(Path(sys.executable).parent)) or "freemodels"
    # An installed package has its bytecode compiled; a run that may not write it would
    # compile every module on each start (a tenth of a second here), which no user pays.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XDG_", "FREEMODELS_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(HOME=str(tmp / "home"), XDG_DATA_HOME=str(tmp / "data"))
    env.update(XDG_CONFIG_HOME=str(tmp / "config"), XDG_STATE_HOME=str(tmp / "state"))
    env.update(XDG_CACHE_HOME=str(tmp / "cache"))
    if args.tls:
        env["SSL_CERT_FILE"] = str(ca)
    rounds = ["--rounds", str(args.rounds)]
    clients: dict[str, tuple[list[str], dict[str, str]]] = {
        "freemodels check": ([exe, "--catalog", "{catalog}", "check", "--json", *rounds], env),
        "aiohttp floor": (
            [sys.executable, "-c", FLOOR_CLIENT, "{catalog}", str(args.rounds), str(MAX_IN_FLIGHT)],
            env,
        ),
    }
    for variant in args.variant:
        var, _, value = variant.partition("=")
        clients[f"check {variant}"] = (clients["freemodels check"][0], {**env, var: value})
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in clients}
    try:
        for argv, client_env in clients.values():  # warm up: bytecode, page cache, the fleet
            cmd = [a.replace("{catalog}", str(small_catalog)) for a in argv]
            run_process(cmd, client_env, tmp / "out.json")
        for i in range(args.repeat):
            names = list(clients)
            names = names[i % len(names) :] + names[: i % len(names)]  # alternate who goes first
            for name in names:
                argv, client_env = clients[name]
                figures: dict[str, Any] = {"load": load()}
                for size, catalog in (("full", full_catalog), ("small", small_catalog)):
                    seen = len(fleet_timings(url, ca if args.tls else None))
                    cmd = [a.replace("{catalog}", str(catalog)) for a in argv]
                    result = run_process(cmd, client_env, tmp / "out.json")
                    truth = fleet_timings(url, ca if args.tls else None)[seen:]
                    if name == "aiohttp floor":
                        measured = json.loads(result["stdout"])["ttft_ms"]
                        ok = len(measured) // args.rounds
                    else:
                        measured, ok = ours_ttfts(result["stdout"])
                        # check --json reports a per-model median across rounds: compare to one
                        # round's truth only when there is one round.
                    if args.rounds == 1:
                        errors = ttft_errors(measured, truth)
                        result["err_p50"] = statistics.median(errors) if errors else float("nan")
                        result["err_p95"] = (
                            statistics.quantiles(errors, n=20)[18]
                            if len(errors) > 1
                            else float("nan")
                        )
                    if size == "full" and ok < n:
                        print(f"warning: {name}: only {ok} of {n} ok", file=sys.stderr)
                    figures[size] = result
                figures["marginal_ms"] = (
                    (figures["full"]["cpu_s"] - figures["small"]["cpu_s"])
                    / ((n - small) * args.rounds)
                    * 1000
                )
                runs[name].append(figures)
                time.sleep(0.3)
    finally:
        fleet.terminate()
        fleet.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    report(args, runs, n)
    if not args.tls:
        sys.path.insert(0, str(Path(__file__).parent))
        import asyncio

        from probe_overhead import one_at_a_time

        single = asyncio.run(one_at_a_time())
        print(
            f"TTFT error one request at a time (median of 15, ms): {single['new']:.2f} on a new "
            f"connection, {single['reused']:.2f} reused; aiohttp floor {single['floor']:.2f} "
            f"(target <= 2 ms); load {load()}"
        )
    return 0


def report(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]], n: int) -> None:
    """Print medians per client and ratios against the floor of the same run."""

    def med(name: str, pick: Any) -> float:
        return statistics.median(pick(r) for r in runs[name])

    floor = "aiohttp floor"
    scheme = "https" if args.tls else "http"
    print(f"{n} endpoints over {scheme}, TTFT {args.ttft_ms:g} ms, {args.rounds} round(s), "
          f"median of {args.repeat} interleaved runs; load during runs: "
          f"{', '.join(r['load'] for rs in runs.values() for r in rs)}")  # fmt: skip
    print(f"{'client':<22}{'wall s':>8}{'x floor':>8}{'CPU ms/probe':>13}{'x floor':>8}"
          f"{'CPU s':>7}{'RSS MiB':>8}{'err p50':>8}{'err p95':>8}")  # fmt: skip
    for name in runs:
        wall = med(name, lambda r: r["full"]["wall_s"])
        cpu = med(name, lambda r: r["marginal_ms"])
        print(
            f"{name:<22}{wall:>8.3f}{wall / med(floor, lambda r: r['full']['wall_s']):>8.2f}"
            f"{cpu:>13.3f}{cpu / med(floor, lambda r: r['marginal_ms']):>8.2f}"
            f"{med(name, lambda r: r['full']['cpu_s']):>7.2f}"
            f"{max(r['full']['rss_mib'] for r in runs[name]):>8.1f}"
            f"{med(name, lambda r: r['full'].get('err_p50', float('nan'))):>8.1f}"
            f"{med(name, lambda r: r['full'].get('err_p95', float('nan'))):>8.1f}"
        )
    print("targets: wall <= 0.75x floor, CPU/probe <= 1.2x floor, RSS <= 60 MiB, TTFT error "
          "p95 <= 20 ms across the sweep (err: ms, reported - server truth)")  # fmt: skip
    waves = -(-args.models // MAX_IN_FLIGHT)
    if waves > 1:
        # Both clients wait out every wave; only start-up and exit differ. The floor's wall less
        # the waves is all the room there is: a ratio below (waves * TTFT) / floor is not possible.
        least = waves * args.ttft_ms / 1000 / med(floor, lambda r: r["full"]["wall_s"])
        print(f"{args.models} models per provider, at most {MAX_IN_FLIGHT} in flight each: "
              f"{waves} waves of {args.ttft_ms:g} ms for both clients; no client can go below "
              f"{least:.2f}x this floor (--models {MAX_IN_FLIGHT} or fewer: one wave)")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
