"""The Redis ledger against a real redis-server: windows, keys, pauses, the fallback, secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from freemodels.core.keys.lookup import KeyRing
from freemodels.core.monitor.budget import Ledger
from freemodels.core.monitor.ledger_config import LedgerSettings, ledger_settings, masked_url
from freemodels.core.monitor.ledger_lua import fingerprint
from freemodels.core.monitor.ledger_redis import RedisLedger
from freemodels.core.monitor.ledger_select import open_ledger
from freemodels.core.records import Model, ProbeKind, Provider
from freemodels.core.store.history import History
from freemodels.errors import UsageError
from redis_server import RedisServer, free_port, open_shared_ledger, serving
from waiting import wait_until

MODEL = Model("m", "M", 8192)
KEY = "gsk_secretsecretsecret1234"


def provider(pid: str = "p", *, rpm: int | None = None, rpd: int | None = None) -> Provider:
    return Provider(
        pid, pid, "https://x.invalid/v1", ("P_API_KEY",), "https://x.invalid",
        rpm=rpm, rpd=rpd, models=(MODEL,),
    )  # fmt: skip


pytestmark = pytest.mark.usefixtures("redis_ledgers_closed")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from serving(tmp_path_factory.mktemp("redis"), password="s3cret-pass")


def ledger(
    tmp_path: Path, url: str, providers: list[Provider], key: str | None = KEY, **kw: object
) -> RedisLedger:
    settings = LedgerSettings(url=url, **kw)  # type: ignore[arg-type]
    env = {"P_API_KEY": key} if key else {}
    return open_shared_ledger(tmp_path, providers, KeyRing(env=env), settings)


def test_without_a_url_the_ledger_stays_local(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite3")
    assert isinstance(open_ledger(history.db, [provider()], KeyRing(env={}), env={}), Ledger)


def test_settings_come_from_the_environment_then_the_config_file(isolated_home: Path) -> None:
    assert ledger_settings({}).url is None
    config = isolated_home / "xdg_config_home" / "freemodels" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[ledger]\nurl = "rediss://u:pw@h:6380/1"\nfallback_share = 3\n')
    settings = ledger_settings({"FREEMODELS_LEDGER_PASSWORD": "x"})
    assert (settings.url, settings.fallback_share) == ("rediss://u:pw@h:6380/1", 3)
    assert "pw" not in settings.shown_url and "pw" not in repr(settings)
    assert ledger_settings({"FREEMODELS_LEDGER": "redis://h/0"}).url == "redis://h/0"
    with pytest.raises(UsageError, match="not redis://"):
        ledger_settings({"FREEMODELS_LEDGER": "http://u:pw@h"})
    config.write_text('[ledger]\nurll = "x"\n')
    with pytest.raises(UsageError, match="unknown"):
        ledger_settings({})
    assert masked_url("redis://u:pw@h:1/0") == "redis://u:***@h:1/0"


def test_one_key_shares_one_sliding_minute_across_machines(
    tmp_path: Path, server: RedisServer
) -> None:
    p = provider(rpm=3)
    a, b = ledger(tmp_path, server.url, [p]), ledger(tmp_path, server.url, [p])
    waits = [lg.try_acquire(p, MODEL, ProbeKind.PROBE) for lg in (a, b, a, b)]
    assert waits[:3] == [0, 0, 0]
    assert 58 < waits[3] <= 60.01, "the fourth waits for the first to age out"
    assert a.state("p").used_minute == 3 and b.state("p").remaining_minute == 0
    assert 58 < b.wait(p, MODEL) <= 60.01 and a.state("p").used_minute == 3, (
        "a look records nothing"
    )
    other = ledger(tmp_path, server.url, [p], key="gsk_another_key_entirely99")
    assert other.try_acquire(p, MODEL, ProbeKind.PROBE) == 0, "another key has its own budget"
    keyless = ledger(tmp_path, server.url, [p], key=None)
    assert keyless.try_acquire(p, MODEL, ProbeKind.PROBE) == 0
    with server.client() as client:
        names = client.keys("*")
    assert names and not any(KEY[:6] in n or KEY[-4:] in n for n in names)
    assert any(":keyless:" in n for n in names)
    assert a.spenders("p") == {a._host: 3}


def test_rpd_and_a_models_own_rpd(tmp_path: Path, server: RedisServer) -> None:
    p = provider("daily", rpd=2)
    capped = Model("c", "C", 8192, rpd=1)
    lg = ledger(tmp_path, server.url, [p])
    assert lg.try_acquire(p, capped, ProbeKind.PROBE) == 0
    assert lg.try_acquire(p, capped, ProbeKind.PROBE) > 3600, "the model's own day is spent"
    assert lg.try_acquire(p, MODEL, ProbeKind.KEY_TEST) == 0
    assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) > 3600


def test_a_pause_is_seen_by_every_machine(tmp_path: Path, server: RedisServer) -> None:
    p = provider("paused")
    a, b = ledger(tmp_path, server.url, [p]), ledger(tmp_path, server.url, [p])
    now = a._clock()
    a.pause("paused", now + 30, "429")
    wait = b.try_acquire(p, MODEL, ProbeKind.PROBE)
    assert 25 < wait <= 30.01
    assert "paused" in b.pauses()
    assert b.paused_until("paused") is not None


def test_unreachable_redis_falls_back_to_a_share_and_warns_once(tmp_path: Path) -> None:
    said: list[str] = []
    p = provider("down", rpm=8)
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    settings = LedgerSettings(url=url, fallback_share=4)
    made = open_shared_ledger(tmp_path, [p], KeyRing(env={}), settings)
    made._warn = said.append
    waits = [made.try_acquire(p, MODEL, ProbeKind.PROBE) for _ in range(4)]
    assert waits[:2] == [0, 0] and all(w > 0 for w in waits[2:]), "8 rpm / 4 = 2 locally"
    assert len(said) == 1 and "unreachable" in said[0] and "1/4" in said[0]
    assert "hunter2" not in said[0]
    assert not made.health().healthy and "hunter2" not in made.health().detail


def test_a_restarted_redis_gets_the_grants_back(tmp_path: Path) -> None:
    srv = RedisServer(tmp_path)
    srv.start()
    try:
        p = provider("back", rpm=4)
        lg = ledger(tmp_path, srv.url, [p])
        said: list[str] = []
        lg._warn = said.append
        assert [lg.try_acquire(p, MODEL, ProbeKind.PROBE) for _ in range(2)] == [0, 0]
        srv.stop()
        assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0, "the local share: 1 of 4"
        assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) > 0
        srv.start()
        wait_until(lambda: lg.healthy, what="the ledger reconnects in the background")
        assert lg.state("back").used_minute == 3, "own grants, shared and local, written back"
        assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0
        assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) > 0
        assert sum("unreachable" in line for line in said) == 1, "warned once"
    finally:
        srv.stop()


def test_fingerprints_never_carry_the_key() -> None:
    fp = fingerprint("groq", KEY)
    assert KEY not in fp and KEY[:4] not in fp and KEY[-4:] not in fp
    assert fp == fingerprint("groq", KEY) != fingerprint("groq", KEY + "x")
    assert fingerprint("groq", None) == "keyless"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FREEMODELS_LEDGER": "redis://h/0", "FREEMODELS_LEDGER_FALLBACK_SHARE": "0"}, "share"),
        ({"FREEMODELS_LEDGER": "redis://h/0", "FREEMODELS_LEDGER_TIMEOUT_MS": "fast"}, "timeout"),
    ],
)
def test_bad_ledger_settings_are_usage_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        ledger_settings(env)


def test_the_command_reports_a_bad_url_in_one_line_and_an_unreachable_redis(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "FREEMODELS_LEDGER": "memcached://u:topsecret@h/0"}
    bad = subprocess.run(
        [sys.executable, "-m", "freemodels", "ledger"], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "topsecret" not in bad.stderr and "Traceback" not in bad.stderr
    env["FREEMODELS_LEDGER"] = f"redis://:topsecret@127.0.0.1:{free_port()}/0"
    down = subprocess.run(
        [sys.executable, "-m", "freemodels", "ledger", "--json"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert down.returncode == 0, down.stderr
    report = json.loads(down.stdout)
    assert (report["backend"], report["healthy"]) == ("redis", False)
    assert report["url"].endswith("/0") and "topsecret" not in down.stdout + down.stderr
    assert sum("unreachable" in line for line in down.stderr.splitlines()) == 1


def test_a_stalled_redis_never_holds_a_grant_past_its_deadline(
    tmp_path: Path, server: RedisServer
) -> None:
    p = provider("stall", rpm=40)
    lg = ledger(tmp_path, server.url, [p], timeout_s=0.05)
    said: list[str] = []
    lg._warn = said.append
    assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0 and lg.healthy

    def stall() -> None:
        with server.client() as client:
            client.execute_command("DEBUG", "SLEEP", "3")

    sleeper = threading.Thread(target=stall)
    sleeper.start()
    try:
        wait_until(lambda: not answers(server), what="the server stalls")
        assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0, "decided by the local share"
        assert not lg.healthy and len(said) == 1
    finally:
        sleeper.join()
    wait_until(lambda: lg.healthy, what="the ledger is back once the server answers")


def answers(server: RedisServer) -> bool:
    """Whether the server answers a PING within 0.2 s (no retry)."""
    quick = redis.Redis(
        host="127.0.0.1", port=server.port, password=server.password,
        socket_timeout=0.2, retry=Retry(NoBackoff(), 0),
    )  # fmt: skip
    with quick:
        try:
            return bool(quick.ping())
        except redis.TimeoutError:
            return False


def test_a_wrong_password_falls_back_and_is_never_shown(
    tmp_path: Path, server: RedisServer
) -> None:
    p = provider("auth", rpm=4)
    lg = ledger(tmp_path, f"redis://:wrong-pw-123@127.0.0.1:{server.port}/0", [p])
    said: list[str] = []
    lg._warn = said.append
    assert lg.try_acquire(p, MODEL, ProbeKind.PROBE) == 0, "the local share decides"
    assert len(said) == 1 and "wrong-pw-123" not in said[0]
    assert "wrong-pw-123" not in lg.health().detail + lg.health().url


def test_a_batch_is_granted_in_order_up_to_the_cap(tmp_path: Path, server: RedisServer) -> None:
    p = provider("batch", rpm=4)
    capped = Model("c", "C", 8192, rpd=2)
    lg = ledger(tmp_path, server.url, [p])
    waits = lg.try_acquire_many([(p, MODEL, ProbeKind.PROBE)] * 6)
    assert waits[:4] == [0, 0, 0, 0] and all(w > 50 for w in waits[4:])
    other = provider("batch2")
    waits = lg.try_acquire_many([(other, capped, ProbeKind.PROBE)] * 3)
    assert waits[:2] == [0, 0] and waits[2] > 3600, "the model's own day, within one batch"
    assert lg.state("batch").used_minute == 4 and lg.state("batch2").used_minute == 2
