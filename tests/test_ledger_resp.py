"""The ledger's own RESP client against a real redis-server: URLs, TLS, logins, databases, error
replies, a forgotten script, and that a shared ledger never imports redis-py."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor import ledger_resp as resp
from freemodels.core.monitor.ledger_config import LedgerSettings, ledger_settings
from freemodels.core.monitor.ledger_redis import RedisLedger
from freemodels.core.records import Model, ProbeKind, Provider
from freemodels.errors import UsageError
from redis_server import RedisServer, open_shared_ledger, serving

MODEL = Model("m", "M", 8192)
KEY = "gsk_resp_test_key_0123456789"


def provider(pid: str, rpm: int | None = None) -> Provider:
    return Provider(
        pid, pid, "https://x.invalid/v1", ("P_API_KEY",), "https://x.invalid",
        rpm=rpm, models=(MODEL,),
    )  # fmt: skip


pytestmark = pytest.mark.usefixtures("redis_ledgers_closed")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from serving(tmp_path_factory.mktemp("redis"))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from serving(tmp_path_factory.mktemp("redis-tls"), password="tls-pass-77", tls=True)


def ledger(tmp_path: Path, url: str, providers: list[Provider]) -> RedisLedger:
    # Not a test of the grant deadline (test_ledger_redis has one): a loaded machine may take
    # more than 50 ms for a TLS handshake.
    settings = LedgerSettings(url=url, timeout_s=10.0)
    return open_shared_ledger(tmp_path, providers, KeyRing(env={"P_API_KEY": KEY}), settings)


def test_urls_name_host_port_database_login_and_tls() -> None:
    plain = resp.parse_url("redis://h")
    assert (plain.host, plain.port, plain.db, plain.password, plain.tls) == (
        "h",
        6379,
        0,
        None,
        False,
    )
    full = resp.parse_url("rediss://al%40ice:p%3Ass@[::1]:6380/2?ssl_ca_certs=/ca.pem", "env")
    assert (full.host, full.port, full.db, full.tls) == ("::1", 6380, 2, True)
    assert (full.username, full.password, full.ca_file, full.verify) == (
        "al@ice",
        "p:ss",
        "/ca.pem",
        True,
    )
    assert "p:ss" not in repr(full)
    assert resp.parse_url("redis://h/0", "from-env").password == "from-env", "the URL's wins"
    assert not resp.parse_url("rediss://h?ssl_cert_reqs=none").verify


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://:pw-secret@h:port/0", "not usable"),
        ("redis://:pw-secret@h:6379/zero", "database"),
        ("redis://:pw-secret@h/0?socket_timeout=1", "unknown option"),
        ("rediss://:pw-secret@h/0?ssl_cert_reqs=maybe", "ssl_cert_reqs"),
        ("redis://:pw-secret@/0", "no host"),
        ("rediss://:pw-secret@h/0?ssl_ca_certs=/nonexistent/ca.pem", "not a file"),
    ],
)
def test_a_bad_url_is_a_usage_error_without_the_password(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        ledger_settings({"FREEMODELS_LEDGER": url})
    assert "pw-secret" not in str(caught.value) and "\n" not in str(caught.value)


def test_a_tls_ledger_shares_one_budget_and_verifies_the_server(
    tmp_path: Path, tls_server: RedisServer
) -> None:
    p = provider("tls", rpm=3)
    a, b = ledger(tmp_path, tls_server.url, [p]), ledger(tmp_path, tls_server.url, [p])
    waits = [lg.try_acquire(p, MODEL, ProbeKind.PROBE) for lg in (a, b, a, b)]
    assert waits[:3] == [0, 0, 0] and waits[3] > 50 and a.healthy and b.healthy
    with tls_server.client() as client:
        grants = [k for k in client.keys("*") if k.endswith(":grants")]
        assert len(grants) == 1 and client.zcard(grants[0]) == 3

    # No CA: the throwaway one is not among the system's, so the handshake must fail.
    untrusted = tls_server.url.split("?")[0]
    lg = ledger(tmp_path, untrusted, [p])
    said: list[str] = []
    lg._warn = said.append
    assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0, "decided by the local share"
    assert not lg.healthy and len(said) == 1 and "certificate" in said[0]
    assert "tls-pass-77" not in said[0]

    unverified = ledger(tmp_path, untrusted + "?ssl_cert_reqs=none", [p])
    assert unverified.try_acquire(p, MODEL, ProbeKind.PROBE) > 0, "the shared minute is full"
    assert unverified.healthy


def test_a_named_user_and_a_database(tmp_path: Path, server: RedisServer) -> None:
    with server.client() as client:
        client.execute_command("ACL", "SETUSER", "alice", "on", ">alice-pw", "~*", "+@all")
    p = provider("acl", rpm=10)
    lg = ledger(tmp_path, f"redis://alice:alice-pw@127.0.0.1:{server.port}/3", [p])
    assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0 and lg.healthy
    with server.client() as client:
        client.execute_command("SELECT", "3")
        assert any(k.startswith("freemodels:v1:acl:") for k in client.keys("*"))
    wrong = ledger(tmp_path, f"redis://alice:nope@127.0.0.1:{server.port}/3", [p])
    said: list[str] = []
    wrong._warn = said.append
    assert wrong.try_acquire(p, MODEL, ProbeKind.PROBE) == 0 and not wrong.healthy
    assert len(said) == 1 and "nope" not in said[0]


def test_error_replies_keep_the_connection_in_step(server: RedisServer) -> None:
    conn = resp.Connection(resp.parse_url(server.url), timeout=10)
    try:
        with pytest.raises(resp.ReplyError, match="unknown command"):
            conn.call("NOSUCHCOMMAND", "x")
        assert conn.call("PING") == "PONG"
        with pytest.raises(resp.ReplyError, match="not an integer"):
            conn.call_many([("SET", "resp:k", "v"), ("INCR", "resp:k"), ("GET", "resp:k")])
        assert conn.call("GET", "resp:k") == "v", "the replies after the error were read"
        big = "x" * 300_000  # many reads of one reply
        assert conn.call("ECHO", big) == big
        assert conn.call("GET", "resp:none") is None
        assert conn.call("DEL", "resp:k") == 1
    finally:
        conn.close()


@pytest.mark.parametrize("answer", [b"HTTP/1.1 400 Bad Request\r\n\r\n", b"*two\r\n"])
def test_a_reply_that_is_not_resp_is_a_protocol_error(answer: bytes) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def reply() -> None:
            peer, _ = listener.accept()
            with peer:
                peer.recv(1024)
                peer.sendall(answer)

        thread = threading.Thread(target=reply)
        thread.start()
        port = listener.getsockname()[1]
        conn = resp.Connection(resp.parse_url(f"redis://127.0.0.1:{port}"), timeout=10)
        with pytest.raises(resp.ProtocolError):
            conn.call("PING")
        thread.join()
    conn.close()


def test_a_server_that_forgot_the_scripts_gets_them_again(
    tmp_path: Path, server: RedisServer
) -> None:
    p = provider("flushed", rpm=2)
    lg = ledger(tmp_path, server.url, [p])
    assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0
    with server.client() as client:
        client.script_flush()
    assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0 and lg.healthy
    assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) > 0
    assert lg.state("flushed").used_minute == 2


def test_a_shared_ledger_never_imports_redis_py(server: RedisServer, tmp_path: Path) -> None:
    # Importing redis-py costs a `check` sweep about a third of its CPU (bench/ledger.py).
    code = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from freemodels.core.keys.lookup import KeyRing
        from freemodels.core.monitor.ledger_config import LedgerSettings
        from freemodels.core.monitor.ledger_select import open_ledger
        from freemodels.core.records import Model, ProbeKind, Provider
        from freemodels.core.store.history import History
        m = Model("m", "M", 8192)
        p = Provider("imp", "imp", "https://x.invalid/v1", ("P",), "https://x.invalid", models=(m,))
        db = History(Path(sys.argv[1])).db
        lg = open_ledger(db, [p], KeyRing(env={}), settings=LedgerSettings(url=sys.argv[2]))
        assert lg.try_acquire(p, m, ProbeKind.PROBE) == 0 and lg.healthy
        print(sorted(n for n in sys.modules if n == "redis" or n.startswith("redis.")))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "h.sqlite3"), server.url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]", done.stdout
