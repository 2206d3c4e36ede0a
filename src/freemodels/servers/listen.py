"""Start an aiohttp app on a listen address, turning bind failures into one-line errors."""

from __future__ import annotations

import errno
from typing import Any

from aiohttp import web

from freemodels.errors import UsageError
from freemodels.servers.address import Address

SHUTDOWN_TIMEOUT_S = 1.0


async def start_site(
    app: web.Application, address: Address, option: str, **runner_options: Any
) -> tuple[web.AppRunner, Address]:
    """Listen on `address`; returns the runner and the address really bound (port 0 → free port).

    `runner_options` go to aiohttp's AppRunner (e.g. handler_cancellation, keepalive_timeout).
    """
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
        **runner_options,
    )
    await runner.setup()
    site = web.TCPSite(runner, address.host, address.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"{option} {address.netloc}: the port is already in use",
                f"stop the other server or pick another port with {option} HOST:PORT",
            ) from None
        reason = exc.strerror or str(exc)
        raise UsageError(
            f"{option} {address.netloc}: cannot listen there ({reason})",
            "use an address of this machine, e.g. 127.0.0.1 or 0.0.0.0",
        ) from None
    bound = runner.addresses[0]
    return runner, address.with_port(int(bound[1]))
