"""What the router costs: TTFT added, CPU per streamed request, and the time a failover takes.

    python bench/router.py [--rounds 60] [--ttft-ms 50] [--tokens 20] [--token-interval-ms 20]
                           [--floor]

Three processes, so none measures itself: the fake fleet; the router (a `RouterServer` with a
fixed ranking: quota/m, which answers real requests with 429, then second/m, then fast/m; a
real ledger in a scratch history file), both on the loop `serve` uses (uvloop where installed);
and the client (bare aiohttp on plain asyncio, TTFT = first SSE event with non-empty content).
Figures, each beside its control measured in the same run:

- TTFT overhead: requests pinned to fast/m through the router, interleaved with the same
  requests sent straight to the fleet; p50 and p95 of each, and their difference; with 1 and 50
  concurrent streams. The 50 are pinned half to fast/m, half to second/m: one provider takes at
  most 32 requests in flight (the budget rule), so 50 on one model would measure that queue.
- CPU per routed streamed request: the router process's CPU time (/proc) over a batch, per
  request, beside the client's own CPU per direct streamed request.
- Failover: `auto` (quota/m answers 429 → second/m) minus second/m's own TTFT straight from the
  fleet, p50.
- With `--floor`: the 50 streams again through a byte-splicing TCP proxy on the same loop (no
  HTTP parsing, no routing), the least any Python process in the middle adds on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

FLEET = r"""
import asyncio, sys
from freemodels.fleet.server import Behaviour, Fleet
from freemodels.runtime import install_event_loop

install_event_loop()

async def main(ttft_s, tokens, interval_s):
    fleet = Fleet()
    for name in ("fast", "second"):
        fleet.set(name, "m", Behaviour(ttft_s=ttft_s, tokens=tokens, token_interval_s=interval_s))
    fleet.set("quota", "m", Behaviour(real_status=429, retry_after="0"))
    async with fleet:
        print(fleet.url, flush=True)
        await asyncio.Event().wait()

asyncio.run(main(float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
"""

ROUTER = r"""
import asyncio, sys, time
from pathlib import Path
from freemodels.core.catalog.parse import Catalog
from freemodels.core.keys.lookup import KeyRing
from freemodels.core.records import Model, ModelStats, Provider, Snapshot
from freemodels.servers.address import Address
from freemodels.servers.router.app import RouterServer
from freemodels.runtime import install_event_loop

install_event_loop()  # as `freemodels serve --router` runs it: uvloop where installed

async def main(fleet_url, history):
    names = ("quota", "second", "fast")
    catalog = Catalog(tuple(
        Provider(n, n, f"{fleet_url}/{n}/v1", (), "http://x", key_required=False,
                 models=(Model("m", "m", 131072),))
        for n in names
    ))
    rows = tuple(
        ModelStats(n, "m", "m", None, 200, 5, 5, 1.0, 50.0, 50.0, 50.0, 50.0, 60.0, 1.0, 90,
                   None, True)
        for n in names
    )
    snapshot = Snapshot(time.time(), 1800.0, rows)
    server = RouterServer(catalog, KeyRing(env={}), lambda: snapshot, lambda r: None,
                          Address("127.0.0.1", 0), history_path=Path(history))
    await server.start()
    print(server.url, flush=True)
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""

SPLICE = r"""
import asyncio, sys
from freemodels.runtime import install_event_loop

install_event_loop()

class Upstream(asyncio.Protocol):
    def __init__(self, client):
        self.client = client
    def data_received(self, data):
        self.client.write(data)
    def connection_lost(self, exc):
        self.client.close()

class Client(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.upstream, self.early = transport, None, []
        asyncio.ensure_future(self.connect())
    async def connect(self):
        loop = asyncio.get_running_loop()
        make = lambda: Upstream(self.transport)
        self.upstream, _ = await loop.create_connection(make, sys.argv[1], int(sys.argv[2]))
        for data in self.early:
            self.upstream.write(data)
    def data_received(self, data):
        if self.upstream is None:
            self.early.append(data)
        else:
            self.upstream.write(data)
    def connection_lost(self, exc):
        if self.upstream is not None:
            self.upstream.close()

async def main():
    server = await asyncio.get_running_loop().create_server(Client, "127.0.0.1", 0)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""

CLIENT = r"""
import asyncio, json, resource, statistics, sys, time
import aiohttp

fleet, router, router_pid, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
splice = sys.argv[5] if len(sys.argv) > 5 else None
ASK = [{"role": "user", "content": "hi"}]

def router_cpu():
    fields = open(f"/proc/{router_pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / __import__("os").sysconf("SC_CLK_TCK")

def own_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

async def stream(session, url, model):
    body = {"model": model, "messages": ASK, "stream": True}
    t0 = time.perf_counter()
    ttft = None
    async with session.post(url, json=body) as response:
        assert response.status == 200, (url, model, response.status, await response.text())
        attempts = response.headers.get("x-freemodels-attempts")
        async for line in response.content:
            if ttft is None and line.startswith(b"data:") and b'"content":"' in line \
                    and b'"content":""' not in line:
                ttft = (time.perf_counter() - t0) * 1000
    return ttft, attempts

cpu = {}  # router CPU seconds over the routed rounds, by concurrency

def pct(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (k - low)

async def pair(session, concurrency, providers, routed_as, via=None):
    # Request i goes to providers[i % len]: straight to the fleet, and through the router as
    # routed_as(provider) ("fast/m" pins it; "auto" lets the router pick), or, with `via`, through
    # the splicing proxy at that URL to the same fleet path.
    routed_url = f"{router}/v1/chat/completions"
    direct, routed = [], []
    picks = [providers[i % len(providers)] for i in range(concurrency)]
    for _ in range(rounds):
        d = await asyncio.gather(*(stream(session, f"{fleet}/{p}/v1/chat/completions", "m")
                                   for p in picks))
        if via is None:
            before = router_cpu()
            r = await asyncio.gather(*(stream(session, routed_url, routed_as(p)) for p in picks))
            cpu[concurrency] = cpu.get(concurrency, 0.0) + router_cpu() - before
        else:
            r = await asyncio.gather(*(stream(session, f"{via}/{p}/v1/chat/completions", "m")
                                       for p in picks))
        direct += [t for t, _ in d]
        routed += [t for t, _ in r]
    return direct, routed, r

async def main():
    out = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for _ in range(5):  # warm connections on both paths
            await stream(session, f"{fleet}/fast/v1/chat/completions", "m")
            await stream(session, f"{router}/v1/chat/completions", "fast/m")
        for concurrency, providers in ((1, ["fast"]), (50, ["fast", "second"])):
            direct, routed, _ = await pair(session, concurrency, providers, lambda p: f"{p}/m")
            out[f"pinned_c{concurrency}"] = {
                "direct_p50": pct(direct, 50), "direct_p95": pct(direct, 95),
                "routed_p50": pct(routed, 50), "routed_p95": pct(routed, 95),
                "n": len(direct), "router_cpu_ms": cpu[concurrency] / len(routed) * 1000,
            }
        if splice is not None:
            for _ in range(5):
                await stream(session, f"{splice}/fast/v1/chat/completions", "m")
            direct, routed, _ = await pair(session, 50, ["fast", "second"], None, via=splice)
            out["floor_c50"] = {
                "direct_p50": pct(direct, 50), "direct_p95": pct(direct, 95),
                "routed_p50": pct(routed, 50), "routed_p95": pct(routed, 95),
                "n": len(direct),
            }
        batch = rounds * 5
        before = own_cpu()
        for _ in range(batch):
            await stream(session, f"{fleet}/fast/v1/chat/completions", "m")
        out["client_cpu_ms_per_direct_stream"] = (own_cpu() - before) / batch * 1000
        before = router_cpu()
        for _ in range(batch):
            await stream(session, f"{router}/v1/chat/completions", "fast/m")
        out["router_cpu_ms_per_routed_stream"] = (router_cpu() - before) / batch * 1000
        direct, routed, last = await pair(session, 1, ["second"], lambda p: "auto")
        assert all(attempts == "2" for _, attempts in last), last
        out["failover"] = {"second_direct_p50": pct(direct, 50), "auto_p50": pct(routed, 50),
                           "n": len(direct)}
    print(json.dumps(out))

asyncio.run(main())
"""


def _spawn(code: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument(
        "--token-interval-ms", type=float, default=20.0,
        help="between content events (20 ms: 50 events/s per stream, a fast real model)",
    )  # fmt: skip
    parser.add_argument(
        "--floor", action="store_true",
        help="also measure 50 streams through a byte-splicing TCP proxy (no HTTP, no routing)",
    )  # fmt: skip
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fm-router-bench-"))
    fleet, fleet_url = _spawn(
        FLEET, str(args.ttft_ms / 1000), str(args.tokens), str(args.token_interval_ms / 1000)
    )
    router, router_url = _spawn(ROUTER, fleet_url, str(tmp / "history.sqlite3"))
    processes = [router, fleet]
    extra: list[str] = []
    if args.floor:
        where = urlsplit(fleet_url)
        splice, splice_url = _spawn(SPLICE, where.hostname or "127.0.0.1", str(where.port))
        processes.insert(0, splice)
        extra.append(splice_url)
    try:
        done = subprocess.run(
            [sys.executable, "-c", CLIENT, fleet_url, router_url, str(router.pid),
             str(args.rounds), *extra],
            capture_output=True, text=True, check=False, env=dict(os.environ),
        )  # fmt: skip
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        figures: dict[str, Any] = json.loads(done.stdout)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
    print(
        f"fleet TTFT {args.ttft_ms:g} ms, {args.tokens} content events {args.token_interval_ms:g} "
        "ms apart; loopback; milliseconds"
    )
    print(f"{'pinned':<22}{'direct p50':>11}{'router p50':>11}{'+p50':>7}"
          f"{'direct p95':>11}{'router p95':>11}{'+p95':>7}{'n':>6}")  # fmt: skip
    rows = [(f"{n} stream(s) at once", figures[f"pinned_c{n}"]) for n in (1, 50)]
    if "floor_c50" in figures:
        rows.append(("50 via a TCP splice", figures["floor_c50"]))
    for label, f in rows:
        print(
            f"{label:<22}{f['direct_p50']:>11.2f}"
            f"{f['routed_p50']:>11.2f}{f['routed_p50'] - f['direct_p50']:>7.2f}"
            f"{f['direct_p95']:>11.2f}{f['routed_p95']:>11.2f}"
            f"{f['routed_p95'] - f['direct_p95']:>7.2f}{f['n']:>6}"
        )
    print(
        f"CPU per streamed request: router {figures['router_cpu_ms_per_routed_stream']:.2f} ms, "
        f"direct aiohttp client {figures['client_cpu_ms_per_direct_stream']:.2f} ms; "
        f"router, 50 at once: {figures['pinned_c50']['router_cpu_ms']:.2f} ms "
        "(with --tokens 1: the CPU up to the first token)"
    )
    fail = figures["failover"]
    print(
        f"failover (429 on quota/m, answer from second/m): auto p50 {fail['auto_p50']:.2f} ms, "
        f"second/m direct p50 {fail['second_direct_p50']:.2f} ms, "
        f"failover cost {fail['auto_p50'] - fail['second_direct_p50']:.2f} ms (n={fail['n']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
