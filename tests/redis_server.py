"""A real redis-server for the ledger's tests: its own free port, temp dir, no persistence;
optionally TLS only (`rediss://`), with a throwaway CA the URL names."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import redis

from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor.ledger_config import LedgerSettings
from freemodels.core.monitor.ledger_redis import RedisLedger
from freemodels.core.monitor.ledger_select import open_ledger
from freemodels.core.records import Provider
from freemodels.core.store.history import History
from freemodels.fleet.tls import make_tls
from programs import require_program

OPENED: list[RedisLedger] = []
"""Shared ledgers the running test opened; the `redis_ledgers_closed` fixture closes them."""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process; `stop` kills it hard, `start` brings it back on the same port."""

    def __init__(self, workdir: Path, *, password: str | None = None, tls: bool = False) -> None:
        self.binary = require_program("redis-server", installer="scripts/ci/redis.sh")
        self.workdir = workdir
        self.port = free_port()
        self.password = password
        # A CA of the test's own signs the server's certificate for 127.0.0.1: verification on.
        self.ca_file = make_tls(workdir / "tls").ca_file if tls else None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL freemodels is given (with the password when one is set, the CA with TLS)."""
        auth = f":{self.password}@" if self.password else ""
        if self.ca_file is not None:
            return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.ca_file}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A client for the test's own checks (redis-py: a second opinion on what we wrote)."""
        tls: dict[str, object] = {}
        if self.ca_file is not None:
            tls = {"ssl": True, "ssl_ca_certs": str(self.ca_file)}
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            decode_responses=True,
            **tls,  # type: ignore[arg-type]
        )

    def start(self) -> None:
        """Start (or restart) the server and wait until it answers."""
        args = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(self.workdir),
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        if self.ca_file is not None:
            chain = str(self.ca_file.parent / "fleet-server.pem")  # the key and its certificate
            args[1:3] = ["--port", "0", "--tls-port", str(self.port)]
            args += ["--tls-cert-file", chain, "--tls-key-file", chain,
                     "--tls-ca-cert-file", str(self.ca_file),
                     "--tls-auth-clients", "no"]  # fmt: skip
        # DEBUG SLEEP stands for a stalled server (a test of the grant deadline).
        args += ["--enable-debug-command", "local"]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with self.client() as client:
                    if client.ping():
                        return
            except redis.RedisError:
                pass  # not listening yet
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill the server (no shutdown save: its data is gone, as after a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None


def serving(
    workdir: Path, *, password: str | None = None, tls: bool = False
) -> Iterator[RedisServer]:
    """A started server for a fixture to yield from; killed afterwards."""
    server = RedisServer(workdir, password=password, tls=tls)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def open_shared_ledger(
    directory: Path, providers: Sequence[Provider], keys: KeyRing, settings: LedgerSettings
) -> RedisLedger:
    """A shared ledger over a history file of its own in `directory` (each one a machine)."""
    history = History(directory / f"h{len(list(directory.iterdir()))}.sqlite3")
    made = open_ledger(history.db, providers, keys, settings=settings)
    assert isinstance(made, RedisLedger)
    OPENED.append(made)
    return made


def close_opened_ledgers() -> None:
    """Close every ledger open_shared_ledger made."""
    while OPENED:
        OPENED.pop().close()
