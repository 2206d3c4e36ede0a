"""`python -m freemodels.fleet`: run a fake fleet in the foreground until SIGINT or SIGTERM.

    python -m freemodels.fleet --demo [--catalog-out PATH]
    python -m freemodels.fleet --providers 8 --models-per-provider 50 --ttft-ms 300 \\
        --catalog-out bench.toml

stdout gets one line, the fleet's root URL, once it is listening (and the catalog is written);
anything else goes to stderr, so a script can read the URL and go.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from freemodels.fleet.demo import configure_demo, demo_catalog_toml, demo_env
from freemodels.fleet.server import Behaviour, Fleet
from freemodels.fleet.synthetic import catalog_toml, configure_uniform


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m freemodels.fleet`."""
    parser = argparse.ArgumentParser(
        prog="python -m freemodels.fleet",
        description="Serve a fake OpenAI-compatible provider fleet on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled behaviours")
    kind = parser.add_mutually_exclusive_group(required=True)
    kind.add_argument("--demo", action="store_true", help="the --demo providers")
    kind.add_argument("--providers", type=int, help="a uniform fleet of N providers bench-0…")
    parser.add_argument("--models-per-provider", type=int, default=10, metavar="N")
    parser.add_argument("--ttft-ms", type=float, default=300.0, metavar="X")
    parser.add_argument("--tokens", type=int, default=3, help="content events per answer")
    parser.add_argument("--token-interval-ms", type=float, default=2.0, metavar="X")
    parser.add_argument("--catalog-out", type=Path, metavar="PATH", help="write a providers.toml")
    parser.add_argument(
        "--key", metavar="KEY", help="every provider answers 401 unless sent this key"
    )
    parser.add_argument(
        "--tls-ca-out", type=Path, metavar="PATH",
        help="speak https with a throwaway CA, written to PATH (trust it with SSL_CERT_FILE)",
    )  # fmt: skip
    return parser


async def serve(args: argparse.Namespace) -> None:
    """Start the fleet, announce it, and serve until a termination signal."""
    tls = args.tls_ca_out is not None
    fleet = Fleet(seed=args.seed, host=args.host, port=args.port, tls=tls)
    if fleet.tls is not None:
        args.tls_ca_out.write_bytes(fleet.tls.ca_file.read_bytes())
    if args.demo:
        configure_demo(fleet)
    else:
        behaviour = Behaviour(
            ttft_s=args.ttft_ms / 1000,
            tokens=args.tokens,
            token_interval_s=args.token_interval_ms / 1000,
        )
        configure_uniform(
            fleet,
            providers=args.providers,
            models_per_provider=args.models_per_provider,
            behaviour=behaviour,
        )
        for provider in fleet.providers():
            fleet.require_key(provider, args.key)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with fleet:
        if args.catalog_out is not None:
            text = demo_catalog_toml(fleet) if args.demo else catalog_toml(fleet)
            args.catalog_out.write_text(text, encoding="utf-8")
        if args.demo:
            for name, value in demo_env().items():
                print(f"export {name}={value}", file=sys.stderr)
        print(fleet.url, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Run the fleet; exit 0 on SIGINT/SIGTERM, 2 on bad arguments."""
    args = build_parser().parse_args(argv)
    if args.providers is not None and (args.providers < 1 or args.models_per_provider < 1):
        print("--providers and --models-per-provider must be at least 1", file=sys.stderr)
        return 2
    # uvloop where installed: a fleet answering 400 requests at once on a busy machine should
    # queue as little as it can, since its own clock is the benchmarks' ground truth.
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
