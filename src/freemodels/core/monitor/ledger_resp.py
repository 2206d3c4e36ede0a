"""The few Redis commands the shared ledger sends, over a socket of its own (RESP2).

Why not a general client: the ledger needs a handful of commands (AUTH, SELECT, EVALSHA/EVAL,
PING, TIME, ZRANGEBYSCORE, ZADD, EXPIRE), and importing a full client costs a `check` sweep
about a third of its CPU (docs/architecture.md, "Rate budgets"; bench/ledger.py). This module
speaks RESP2 over one blocking socket, plain (`redis://`) or TLS (`rediss://`), connecting on
first use, and every exchange (and the opening of a connection) has a deadline: a Redis that
does not answer in time raises `TimeoutError` rather than stalling the caller.

Errors: an unreachable, slow or closed server raises `OSError` (`ConnectionError`,
`TimeoutError`, `ssl.SSLError`); a reply the server sent as an error raises `ReplyError`; a
reply that is not RESP raises `ProtocolError`. Both of the latter are `RespError`. After an
`OSError` or a `ProtocolError` the socket is closed (a late reply must never answer the next
command); after a `ReplyError` the connection is still in step and stays open.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    import ssl

Arg = str | int | float | bytes
Reply = str | int | None | list["Reply"]

URL_OPTIONS = ("ssl_ca_certs", "ssl_cert_reqs")
"""The query options a ledger URL may carry (named as other Redis clients name them)."""


class RespError(Exception):
    """A Redis exchange that failed for a reason other than the network."""


class ReplyError(RespError):
    """The server answered with an error (`-WRONGPASS …`, `-NOSCRIPT …`, a script's error)."""

    @property
    def code(self) -> str:
        """The error's first word, such as NOSCRIPT."""
        return str(self).split(" ", 1)[0]


class ProtocolError(RespError):
    """What came back is not a RESP reply."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a ledger URL points and how to log in; the password is never shown."""

    host: str
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None  # None: the system's CAs (and SSL_CERT_FILE)
    verify: bool = True  # rediss://…?ssl_cert_reqs=none turns it off


def parse_url(url: str, password: str | None = None) -> Target:
    """The target of `redis://[user:password@]host[:port][/db]` (or `rediss://`); ValueError
    when the URL is not one. A password in the URL wins over `password`."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError("the scheme is not redis:// or rediss://")
    if not parts.hostname:
        raise ValueError("the URL names no host")
    port = parts.port or 6379  # ValueError for a port that is not a number
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"the database {path!r} is not a number")
    options = dict(parse_qsl(parts.query))
    unknown = sorted(set(options) - set(URL_OPTIONS))
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r} (known: {', '.join(URL_OPTIONS)})")
    reqs = options.get("ssl_cert_reqs", "required").lower()
    if reqs not in ("none", "optional", "required"):
        raise ValueError(f"ssl_cert_reqs={reqs!r} is not none, optional or required")
    return Target(
        host=parts.hostname,
        port=port,
        db=int(path or 0),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else password,
        tls=parts.scheme == "rediss",
        ca_file=options.get("ssl_ca_certs"),
        verify=reqs != "none",
    )


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script run by its SHA1 (EVALSHA), sent whole only when the server lacks it."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


class Connection:
    """One connection to Redis, opened on first use and again after a failure; thread-safe."""

    def __init__(self, target: Target, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""  # read but not yet parsed, from _pos on
        self._pos = 0
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None  # made once: loading the CAs costs milliseconds

    def call(self, *args: Arg) -> Reply:
        """Send one command and return its reply."""
        return self.call_many([args])[0]

    def call_many(self, commands: Sequence[Sequence[Arg]]) -> list[Reply]:
        """Send commands in one write (a pipeline) and return their replies, raising the first
        error reply only after reading them all, so the connection stays in step."""
        payload = b"".join(_pack(command) for command in commands)
        with self._lock:
            try:
                sock = self._sock
                if sock is None:
                    # Opening (TCP, TLS, AUTH, SELECT) has a deadline of its own, as the
                    # connect timeout of other clients: the command's is the same on any socket.
                    sock = self._connect(time.monotonic() + self.timeout)
                deadline = time.monotonic() + self.timeout
                self._send(sock, payload, deadline)
                replies = [self._read(sock, deadline) for _ in commands]
            except (OSError, ProtocolError):
                self._drop()
                raise
            except ValueError as exc:  # a length that is not a number: out of step for good
                self._drop()
                raise ProtocolError(f"a reply from Redis is not RESP ({exc})") from None
        answers: list[Reply] = []
        for reply in replies:
            if isinstance(reply, ReplyError):
                raise reply
            answers.append(reply)
        return answers

    def run(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Reply:
        """Run a script; a server that lacks it (restarted, flushed) gets it whole (EVAL)."""
        try:
            return self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except ReplyError as exc:
            if exc.code != "NOSCRIPT":
                raise
        return self.call("EVAL", script.source, len(keys), *keys, *args)

    def close(self) -> None:
        """Close the socket (the next command opens a new one)."""
        with self._lock:
            self._drop()

    # -- the socket ---------------------------------------------------------------------------

    def _connect(self, deadline: float) -> socket.socket:
        target = self.target
        try:
            sock = socket.create_connection((target.host, target.port), self._left(deadline))
        except OSError as exc:
            detail = exc.strerror or str(exc) or type(exc).__name__
            raise ConnectionError(
                f"cannot connect to {target.host}:{target.port}: {detail}"
            ) from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if target.tls:
                sock.settimeout(self._left(deadline))
                if self._tls is None:
                    self._tls = _tls_context(target)
                sock = self._tls.wrap_socket(sock, server_hostname=target.host)
            self._sock, self._buf, self._pos = sock, b"", 0
            hello: list[tuple[Arg, ...]] = []
            if target.password is not None:
                user = (target.username,) if target.username else ()
                hello.append(("AUTH", *user, target.password))
            if target.db:
                hello.append(("SELECT", target.db))
            if hello:
                self._send(sock, b"".join(_pack(command) for command in hello), deadline)
                for reply in [self._read(sock, deadline) for _ in hello]:
                    if isinstance(reply, ReplyError):
                        raise reply
        except BaseException:
            self._sock = None
            sock.close()
            raise
        return sock

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._buf, self._pos = None, b"", 0

    def _left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"Redis did not answer within {self.timeout * 1000:.0f} ms")
        return left

    def _send(self, sock: socket.socket, payload: bytes, deadline: float) -> None:
        sock.settimeout(self._left(deadline))
        sock.sendall(payload)

    def _more(self, sock: socket.socket, deadline: float) -> None:
        sock.settimeout(self._left(deadline))
        try:
            data = sock.recv(1 << 16)
        except TimeoutError:
            raise TimeoutError(
                f"Redis did not answer within {self.timeout * 1000:.0f} ms"
            ) from None
        if not data:
            raise ConnectionError("Redis closed the connection")
        self._buf = self._buf[self._pos :] + data
        self._pos = 0

    def _line(self, sock: socket.socket, deadline: float) -> bytes:
        while (end := self._buf.find(b"\r\n", self._pos)) < 0:
            self._more(sock, deadline)
        line = self._buf[self._pos : end]
        self._pos = end + 2
        return line

    def _read(self, sock: socket.socket, deadline: float) -> Reply | ReplyError:
        """One reply; an error reply is returned (not raised), so a pipeline reads them all."""
        line = self._line(sock, deadline)
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self._buf) - self._pos < size + 2:
                self._more(sock, deadline)
            start = self._pos
            self._pos = start + size + 2
            return self._buf[start : start + size].decode("utf-8", "replace")
        if kind == b"*":
            count = int(rest)
            if count < 0:
                return None
            items: list[Reply] = []
            for _ in range(count):
                item = self._read(sock, deadline)
                if isinstance(item, ReplyError):
                    return item  # a script's error: raised once the rest is read
                items.append(item)
            return items
        if kind == b":":
            return int(rest)
        if kind == b"+":
            return rest.decode("utf-8", "replace")
        if kind == b"-":
            return ReplyError(rest.decode("utf-8", "replace"))
        raise ProtocolError(f"unexpected reply type {kind!r} from Redis")


def _pack(command: Sequence[Arg]) -> bytes:
    """A command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(command)]
    for arg in command:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        else:
            data = repr(arg).encode()  # int, float: what Redis parses back exactly
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


def _tls_context(target: Target) -> ssl.SSLContext:
    import ssl  # only a rediss:// ledger needs it

    context = ssl.create_default_context(cafile=target.ca_file)
    if not target.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
