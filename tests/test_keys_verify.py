"""`keys test` in the core: one cheap authenticated request per provider, against the fake fleet."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from freemodels.core.keys.lookup import ResolvedKey
from freemodels.core.keys.verify import KeyVerdict, verify_key, verify_keys
from freemodels.core.monitor.budget import Ledger, RequestGate, budget_limits
from freemodels.core.probe.clients import ClientPool
from freemodels.core.records import Model, Provider
from freemodels.core.store.history import History
from freemodels.fleet.server import Behaviour, Fleet

GOOD = "gsk_goodkey0123456789abcd"
MODEL = "tiny-model"


def provider(fleet: Fleet, pid: str, *, rpm: int | None = None) -> Provider:
    return Provider(
        pid,
        pid.title(),
        fleet.base_url(pid),
        (f"{pid.upper()}_API_KEY",),
        f"https://{pid}.example/keys",
        rpm=rpm,
        models=(Model(MODEL, "Tiny", 8192),),
    )


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    fleet = Fleet()
    fleet.set("closed", MODEL, Behaviour())
    fleet.require_key("closed", GOOD)  # GET /models needs the key
    fleet.set("open", MODEL, Behaviour())  # GET /models and completions answer without a key
    async with fleet:
        yield fleet


@pytest.fixture
def history(tmp_path: Path) -> Iterator[History]:
    history = History(tmp_path / "history.sqlite3")
    yield history
    history.close()


def gate_for(history: History, *providers: Provider) -> RequestGate:
    return RequestGate(Ledger(history.db, budget_limits(providers)))


def key(value: str = GOOD) -> ResolvedKey:
    return ResolvedKey(value, "keyring")


async def test_a_good_key_on_a_closed_model_list(fleet: Fleet, history: History) -> None:
    p = provider(fleet, "closed")
    async with ClientPool() as pool:
        result = await verify_key(p, key(), pool=pool, gate=gate_for(history, p))
    assert result.verdict is KeyVerdict.OK and result.http_status == 200
    assert (result.source, result.masked) == ("keyring", "gsk_…abcd")
    # GET /models with the key, then without it to prove the list is not open.
    assert [(r.path, r.authorization) for r in fleet.requests] == [
        ("models", f"Bearer {GOOD}"),
        ("models", None),
    ]
    assert result.requests == 2
    used = Ledger(history.db, {}).state("closed")
    assert used.used_minute == 2  # both requests counted against the budget


async def test_a_wrong_key_is_rejected(fleet: Fleet, history: History) -> None:
    p = provider(fleet, "closed")
    async with ClientPool() as pool:
        result = await verify_key(p, key("gsk_wrong000000000"), pool=pool, gate=gate_for(history))
    assert result.verdict is KeyVerdict.REJECTED and result.http_status == 401
    assert len(fleet.requests) == 1


async def test_an_open_model_list_is_followed_by_one_tiny_completion(
    fleet: Fleet, history: History
) -> None:
    p = provider(fleet, "open")
    async with ClientPool() as pool:
        result = await verify_key(p, key(), pool=pool, gate=gate_for(history))
    assert result.verdict is KeyVerdict.OK and "completion" in result.detail
    assert [r.path for r in fleet.requests] == ["models", "models", "chat/completions"]
    body = fleet.requests[-1].body
    assert body is not None
    assert (body["model"], body["max_tokens"], body["stream"]) == (MODEL, 1, False)
    assert fleet.requests[-1].authorization == f"Bearer {GOOD}"


async def test_a_known_open_list_goes_straight_to_the_completion(
    fleet: Fleet, history: History
) -> None:
    fleet.behaviour("open", MODEL).status = 401
    p = provider(fleet, "open")
    async with ClientPool() as pool:
        result = await verify_key(
            p, key(), pool=pool, gate=gate_for(history), open_model_lists=frozenset({"open"})
        )
    assert result.verdict is KeyVerdict.REJECTED and result.http_status == 401
    assert [r.path for r in fleet.requests] == ["chat/completions"]


async def test_a_429_is_rate_limited_and_pauses_the_budget(fleet: Fleet, history: History) -> None:
    behaviour = fleet.behaviour("open", MODEL)
    behaviour.status, behaviour.retry_after = 429, "120"
    p = provider(fleet, "open")
    gate = gate_for(history, p)
    async with ClientPool() as pool:
        result = await verify_key(
            p, key(), pool=pool, gate=gate, open_model_lists=frozenset({"open"})
        )
    assert result.verdict is KeyVerdict.RATE_LIMITED and "retry after 120 s" in result.detail
    assert gate.ledger.paused_until("open") is not None


async def test_a_full_budget_answers_without_sending(fleet: Fleet, history: History) -> None:
    p = provider(fleet, "closed", rpm=1)
    gate = gate_for(history, p)
    async with ClientPool() as pool:
        result = await verify_key(p, key(), pool=pool, gate=gate, request_s=0.5)
    assert result.verdict is KeyVerdict.RATE_LIMITED and "budget" in result.detail
    assert len(fleet.requests) == 1  # the keyless confirmation did not fit the budget
    assert result.requests == 1


async def test_unreachable_and_not_configured(history: History) -> None:
    dead = Provider("dead", "Dead", "http://127.0.0.1:9/v1", ("DEAD_KEY",), "https://d.example")
    templated = Provider(
        "cf", "CF", "https://cf.example/{CF_ACCOUNT}/v1", ("CF_KEY",), "https://cf.example"
    )
    async with ClientPool() as pool:
        results = await verify_keys(
            [(dead, key()), (dead, None), (templated, key())],
            pool=pool,
            gate=gate_for(history),
            env={},
            request_s=2.0,
        )
    assert [r.verdict for r in results] == [
        KeyVerdict.UNREACHABLE,
        KeyVerdict.NOT_CONFIGURED,
        KeyVerdict.NOT_CONFIGURED,
    ]
    # The probes' wording for the same failure, never the exception's class or text.
    assert results[0].detail == "connection refused (GET /models)"
    assert "CF_ACCOUNT" in results[2].detail
    assert [r.requests for r in results] == [1, 0, 0]


async def test_a_slow_answer_is_unreachable_after_the_timeout(
    fleet: Fleet, history: History
) -> None:
    fleet.behaviour("open", MODEL).headers_delay_s = 5.0
    p = provider(fleet, "open")
    async with ClientPool() as pool:
        result = await verify_key(
            p,
            key(),
            pool=pool,
            gate=gate_for(history),
            request_s=0.3,
            open_model_lists=frozenset({"open"}),
        )
    assert result.verdict is KeyVerdict.UNREACHABLE and "0.3 s" in result.detail


async def test_an_echoed_key_never_reaches_the_result(fleet: Fleet, history: History) -> None:
    behaviour = fleet.behaviour("open", MODEL)
    behaviour.status, behaviour.echo_auth = 500, True
    p = provider(fleet, "open")
    async with ClientPool() as pool:
        result = await verify_key(
            p, key(), pool=pool, gate=gate_for(history), open_model_lists=frozenset({"open"})
        )
    assert result.verdict is KeyVerdict.UNEXPECTED and result.http_status == 500
    assert GOOD not in repr(result)
