"""One browser session of the web dashboard: a `freemodels` dashboard process behind a websocket.

textual-serve's AppService starts its command through a shell with the server's whole
environment and, when a browser vanishes, only asks the app to quit. A session here runs the
command without a shell, with only the variables the dashboard needs, in its own process group,
and ends that whole group with the session (SIGTERM, then SIGKILL), so an abrupt disconnect
never leaves a process spinning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

from textual_serve.app_service import AppService

log = logging.getLogger("freemodels.web")

QUIT_GRACE_S = 3.0
"""How long a dashboard gets to quit on its own (flushing its history) before SIGTERM."""
TERM_GRACE_S = 2.0
"""How long the group gets after SIGTERM before SIGKILL."""

PASSED_NAMES = frozenset({
    "HOME", "PATH", "LANG", "LANGUAGE", "TERM", "TZ", "USER", "LOGNAME", "TMPDIR",
    "PYTHONPATH", "DBUS_SESSION_BUS_ADDRESS",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    # Set by textual-serve for the app's web driver.
    "TERM_PROGRAM", "TERM_PROGRAM_VERSION", "COLUMNS", "ROWS",
})  # fmt: skip
"""The variables a dashboard process needs: where its files are, locale, proxies, the driver."""
PASSED_PREFIXES = ("XDG_", "LC_", "FREEMODELS_", "TEXTUAL_")


def session_environment(source: dict[str, str], key_variables: Collection[str]) -> dict[str, str]:
    """The part of `source` a dashboard process gets: PASSED_NAMES, the prefixes, the keys."""
    return {
        name: value
        for name, value in source.items()
        if name in PASSED_NAMES or name.startswith(PASSED_PREFIXES) or name in key_variables
    }


class DashboardSession(AppService):
    """A dashboard process for one websocket, ended with it."""

    def __init__(
        self,
        argv: Sequence[str],
        key_variables: Collection[str],
        *,
        write_bytes: Callable[[bytes], Awaitable[None]],
        write_str: Callable[[str], Awaitable[None]],
        close: Callable[[], Awaitable[None]],
        download_manager: Any,
    ) -> None:
        super().__init__(
            shlex.join(argv),
            write_bytes=write_bytes,
            write_str=write_str,
            close=close,
            download_manager=download_manager,
        )
        self._argv = tuple(argv)
        self._key_variables = frozenset(key_variables)
        self._stopped = False

    @property
    def pid(self) -> int | None:
        """The dashboard process id (its process group id too), once started."""
        process = self._process
        return None if process is None else int(process.pid)

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        full: dict[str, str] = super()._build_environment(width=width, height=height)
        return session_environment(full, self._key_variables)

    async def _open_app_process(self, width: int = 80, height: int = 24) -> Any:
        # No shell (the argv is ours, quoted or not) and a new session, so the whole group
        # can be signalled at once.
        process = await asyncio.create_subprocess_exec(
            *self._argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width=width, height=height),
            start_new_session=True,
        )
        self._process = process
        self._stdin = process.stdin
        log.info("web session started process %d", process.pid)
        return process

    async def run(self) -> None:
        """Relay the app's output until it ends, then end the browser's session too."""
        await super().run()
        if not self._stopped:
            with contextlib.suppress(ConnectionError):
                await self.remote_close()

    async def stop(self) -> None:
        """Ask the dashboard to quit, then end its process group whatever it did."""
        if self._stopped:
            return
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
            await self.send_meta({"type": "quit"})
            await asyncio.wait({task}, timeout=QUIT_GRACE_S)
        await self._end_group()
        if task is not None and not task.done():
            # The group is gone, so its pipes closed; the relay ends at once.
            await asyncio.wait({task}, timeout=1.0)
            task.cancel()

    async def _end_group(self) -> None:
        process = self._process
        if process is None:
            return
        group = int(process.pid)
        for sig, grace in ((signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, 0.0)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            log.info("sent %s to web session group %d", sig.name, group)
            if grace and await _group_gone(process, group, grace):
                break
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await process.wait()


async def _group_gone(process: asyncio.subprocess.Process, group: int, within_s: float) -> bool:
    """Wait until the leader exited and no process of the group is left."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within_s):
            await process.wait()
    while loop.time() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        await asyncio.sleep(0.05)
    return False
