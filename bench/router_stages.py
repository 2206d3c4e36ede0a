"""Where the router's added TTFT goes when 50 streams start at once, stage by stage.

    python bench/router_stages.py [--rounds 10] [--ttft-ms 50] [--tokens 20]

The same three processes as bench/router.py (the fake fleet, the router with a fixed ranking,
an aiohttp client), each stamping the requests it sees on the machine's monotonic clock, which
time.perf_counter reads in every process on Linux:

- the client: when it starts each request, and when the first content reaches it;
- the router: when the request's handler starts, when the upstream request is handed to the
  wire, when the first content is written to the client;
- the fleet: when the request arrived (its first read, less what TCP_INFO says the bytes waited
  in the kernel) and when its first content left.

Each round sends 50 requests straight to the fleet, then the same 50 through the router (half
to each of two models, as bench/router.py does), tagged with an id in the body that the router
passes upstream unchanged. The router's stamps come from wrapping its functions in its own
process (this script's code, not the product's), so the names wrapped are the router's own and
move with it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from router import FLEET, ROUTER, _spawn

STAMPED_FLEET = FLEET.replace(
    "install_event_loop()\n",
    """install_event_loop()
from aiohttp import web as _web
from freemodels.fleet import server as _server

async def _timings(self, request):
    return _web.json_response([
        {"rid": (r.body or {}).get("rid"), "at": r.at, "fc": r.sent.first_content}
        for r in self.requests if r.path == "chat/completions"
    ])

_server.Fleet._timings = _timings
""",
    1,
)

STAMPED_ROUTER = ROUTER.replace(
    "install_event_loop()  #",
    """import json as _json
from aiohttp import web as _web
from freemodels.core.probe import lean_wire as _wire
from freemodels.servers.router import app as _app, openai as _openai, stream as _stream

STAMPS = {}

def _stamp(rid, what):
    STAMPS.setdefault(rid, {})[what] = time.perf_counter()

_chat = _openai.chat_completions
async def _stamped_chat(router, request):
    request["rid"] = request.headers.get("x-rid")
    _stamp(request["rid"], "handler")
    return await _chat(router, request)
_openai.chat_completions = _stamped_chat

_post = _wire.LeanWire.post
async def _stamped_post(self, url, payload, headers):
    _stamp(_json.loads(payload).get("rid"), "upstream")
    return await _post(self, url, payload, headers)
_wire.LeanWire.post = _stamped_post

_prepare = _stream.EventStreamResponse.prepare
async def _stamped_prepare(self, request):
    self._rid = request.get("rid")
    return await _prepare(self, request)
_stream.EventStreamResponse.prepare = _stamped_prepare

_write = _stream.EventStreamResponse.write
async def _stamped_write(self, data):
    if not getattr(self, "_stamped", False):
        self._stamped = True
        _stamp(self._rid, "out")
    return await _write(self, data)
_stream.EventStreamResponse.write = _stamped_write

async def _stamps(request):
    return _web.json_response(STAMPS)

_router_app = _app.router_app
def _with_stamps(*args, **kwargs):
    app = _router_app(*args, **kwargs)
    app.router.add_get("/_stamps", _stamps)
    return app
_app.router_app = _with_stamps

install_event_loop()  #""",
    1,
)

CLIENT = r"""
import asyncio, json, sys, time
import aiohttp

router, fleet, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
ASK = [{"role": "user", "content": "hi"}]
seen = {}

async def stream(session, url, model, rid):
    t0 = time.perf_counter()
    first = None
    body = {"model": model, "messages": ASK, "stream": True, "rid": rid}
    async with session.post(url, json=body, headers={"x-rid": rid}) as response:
        assert response.status == 200, await response.text()
        async for line in response.content:
            if first is None and b'"content":"' in line and b'"content":""' not in line:
                first = time.perf_counter()
    seen[rid] = (t0, first)

async def main():
    routed = f"{router}/v1/chat/completions"
    pair = ("fast", "second")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for w in range(3):  # warm connections on both paths
            await asyncio.gather(*(stream(session, routed, f"{pair[i % 2]}/m", f"w{w}-{i}")
                                   for i in range(50)))
        for k in range(rounds):
            await asyncio.gather(*(
                stream(session, f"{fleet}/{pair[i % 2]}/v1/chat/completions", "m", f"d{k}-{i}")
                for i in range(50)))
            await asyncio.gather(*(stream(session, routed, f"{pair[i % 2]}/m", f"r{k}-{i}")
                                   for i in range(50)))
        async with session.get(f"{router}/_stamps") as r:
            stamps = await r.json()
        async with session.get(f"{fleet}/_fleet/timings") as r:
            timings = await r.json()
    print(json.dumps({"client": seen, "router": stamps, "fleet": timings}))

asyncio.run(main())
"""


STAMPS = ("handler", "upstream", "out")


def main() -> int:
    """Run the three processes and print each stage's p10, p50 and p90."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--ttft-ms", type=float, default=50.0)
    parser.add_argument("--tokens", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fm-router-stages-"))
    fleet, fleet_url = _spawn(STAMPED_FLEET, str(args.ttft_ms / 1000), str(args.tokens), "0.02")
    router, router_url = _spawn(STAMPED_ROUTER, fleet_url, str(tmp / "history.sqlite3"))
    try:
        done = subprocess.run(
            [sys.executable, "-c", CLIENT, router_url, fleet_url, str(args.rounds)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    finally:
        for process in (router, fleet):
            process.terminate()
            process.wait(timeout=10)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return 1
    figures = json.loads(done.stdout)
    client, stamps = figures["client"], figures["router"]
    fleet_at = {row["rid"]: row for row in figures["fleet"]}
    ids = [(k, i) for k in range(args.rounds) for i in range(50)]

    def stage(label: str, values: list[float]) -> None:
        ms = sorted(v * 1000 for v in values)
        p10, p50, p90 = (ms[int(len(ms) * q)] for q in (0.1, 0.5, 0.9))
        print(f"{label:<46}{p10:>8.2f}{p50:>8.2f}{p90:>8.2f}")

    print(f"50 streams at once, {args.rounds} rounds, fleet TTFT {args.ttft_ms:g} ms; "
          "milliseconds, p10 / p50 / p90")  # fmt: skip
    direct = [f"d{k}-{i}" for k, i in ids]
    routed = [f"r{k}-{i}" for k, i in ids]
    at, fc = ({r: row[key] for r, row in fleet_at.items()} for key in ("at", "fc"))
    start, first = ({r: c[n] for r, c in client.items()} for n in (0, 1))
    handler, upstream, out = ({r: s[n] for r, s in stamps.items()} for n in STAMPS)
    ttft_d = [first[r] - start[r] for r in direct]
    ttft_r = [first[r] - start[r] for r in routed]
    rows = [
        ("direct: client start -> fleet arrival", direct, at, start),
        ("direct: fleet arrival -> its first content", direct, fc, at),
        ("direct: fleet first content -> client", direct, first, fc),
        ("routed: client start -> router handler", routed, handler, start),
        ("routed: handler -> upstream request", routed, upstream, handler),
        ("routed: upstream request -> fleet arrival", routed, at, upstream),
        ("routed: fleet arrival -> its first content", routed, fc, at),
        ("routed: fleet first content -> router writes", routed, out, fc),
        ("routed: router writes -> client", routed, first, out),
    ]
    for label, which, later, earlier in rows:
        stage(label, [later[r] - earlier[r] for r in which])
    stage("direct: TTFT", ttft_d)
    stage("routed: TTFT", ttft_r)
    added = statistics.median(ttft_r) - statistics.median(ttft_d)
    print(f"added TTFT p50: {added * 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
