"""The router's OpenAI endpoint, driven by the official `openai` SDK against the fake fleet."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from freemodels.core.monitor.budget import Ledger, budget_limits
from freemodels.core.records import Outcome, ProbeKind
from freemodels.core.store.history import History
from freemodels.fleet.payloads import error_json
from freemodels.fleet.server import Behaviour
from router_fixtures import CLIENT_KEY, Spec, fleet_key, router_rig

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        },
    }
]
ASK = [{"role": "user", "content": "Say hello."}]
CONTEXT_400 = error_json(
    400, "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens."
)


def client(url: str, key: str = CLIENT_KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)


async def test_a_completion_streamed_and_not_comes_from_the_best_model() -> None:
    specs = [Spec("alpha", "a1"), Spec("beta", "b1")]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        raw = await api.chat.completions.with_raw_response.create(model="auto", messages=ASK)
        answer = raw.parse()
        assert answer.model == "alpha/a1"
        assert answer.choices[0].message.content == "Hello from the"
        assert raw.headers["x-freemodels-model"] == "alpha/a1"
        assert raw.headers["x-freemodels-attempts"] == "1"
        stream = await api.chat.completions.create(
            model="auto", messages=ASK, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
        assert {chunk.model for chunk in chunks} == {"alpha/a1"}
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Hello from the"
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
        await api.close()
    ok = [s for s in rig.samples if s.outcome is Outcome.OK]
    assert len(ok) == 2 and all(s.kind is ProbeKind.ROUTED and s.ttft_ms for s in ok)
    for request in rig.chat_requests():
        assert request.body is not None and request.body["model"] == "a1"
        assert request.body["stream"] is True
        assert request.body["stream_options"] == {"include_usage": True}


async def test_tools_and_response_format_pass_through_and_calls_come_back() -> None:
    specs = [Spec("alpha", "a1", Behaviour(tool_call=True))]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        answer = await api.chat.completions.create(
            model="whatever-the-tool-sends", messages=ASK, tools=TOOLS,  # type: ignore[arg-type]
            tool_choice="auto", response_format={"type": "json_object"},
        )  # fmt: skip
        call = answer.choices[0].message.tool_calls
        assert call and call[0].function.name == "read_file"  # type: ignore[union-attr]
        assert "path" in json.loads(call[0].function.arguments)  # type: ignore[union-attr]
        assert answer.choices[0].finish_reason == "tool_calls"
        stream = await api.chat.completions.create(
            model="auto:tools", messages=ASK, tools=TOOLS, stream=True,  # type: ignore[arg-type]
        )  # fmt: skip
        parts = [c.choices[0].delta.tool_calls async for c in stream if c.choices]
        arguments = "".join(p[0].function.arguments or "" for p in parts if p)  # type: ignore[union-attr]
        assert "path" in json.loads(arguments)
        await api.close()
    body = rig.chat_requests()[0].body  # type: ignore[attr-defined]
    assert body["tools"] == TOOLS
    assert body["tool_choice"] == "auto"
    assert body["response_format"] == {"type": "json_object"}


async def test_a_429_fails_over_within_the_request_and_pauses_the_budget(tmp_path: Path) -> None:
    history = tmp_path / "history.sqlite3"
    quota_gone = Behaviour(real_status=429, retry_after="30")
    specs = [Spec("alpha", "a1", quota_gone), Spec("beta", "b1")]
    async with router_rig(specs, history=history) as rig:
        api = client(rig.url)
        raw = await api.chat.completions.with_raw_response.create(
            model="auto",
            messages=ASK,
            tools=TOOLS,  # type: ignore[arg-type]
        )
        assert raw.parse().model == "beta/b1"
        assert raw.headers["x-freemodels-attempts"] == "2"
        stream = await api.chat.completions.create(model="auto", messages=ASK, stream=True)
        assert {c.model async for c in stream} == {"beta/b1"}
        await api.close()
        limited = [s for s in rig.samples if s.provider == "alpha"]
        assert [s.outcome for s in limited] == [Outcome.RATE_LIMITED]
        assert limited[0].kind is ProbeKind.ROUTED
        assert len(rig.chat_requests("alpha")) == 1, "the paused budget is not asked again"
    catalog_providers = rig.server.router.catalog.providers
    ledger = Ledger(History(history).db, budget_limits(catalog_providers))
    assert ledger.paused_until("alpha") is not None, "every process sees the pause"


async def test_a_pinned_model_answers_and_its_error_is_returned_unchanged() -> None:
    specs = [Spec("alpha", "a1", Behaviour(real_status=429)), Spec("beta", "b1")]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        answer = await api.chat.completions.create(model="beta/b1", messages=ASK)
        assert answer.model == "beta/b1"
        with pytest.raises(openai.RateLimitError) as caught:
            await api.chat.completions.create(model="alpha/a1", messages=ASK)
        assert caught.value.response.headers["x-freemodels-attempts"] == "1"
        with pytest.raises(openai.NotFoundError, match="unknown model"):
            await api.chat.completions.create(model="alpha/nope", messages=ASK)
        await api.close()
        assert len(rig.chat_requests("beta")) == 1, "a pin never fails over"


async def test_the_clients_key_never_reaches_a_provider() -> None:
    specs = [Spec("alpha", "a1", Behaviour(real_status=503)), Spec("beta", "b1")]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        await api.chat.completions.create(model="auto", messages=ASK)
        stream = await api.chat.completions.create(model="auto", messages=ASK, stream=True)
        async for _ in stream:
            pass
        await api.close()
        assert len(rig.fleet.requests) == 4
        for request in rig.fleet.requests:
            assert request.authorization == f"Bearer {fleet_key(request.provider)}"
            assert CLIENT_KEY not in json.dumps(request.headers)
            assert CLIENT_KEY not in json.dumps(request.body)


async def test_a_context_length_400_moves_to_a_larger_model_and_blames_no_one() -> None:
    small = Behaviour(status=400, body=CONTEXT_400)
    specs = [
        Spec("alpha", "small", small, context=8192),
        Spec("alpha", "also-small", Behaviour(), context=8192),
        Spec("beta", "large", Behaviour(), context=200000),
    ]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        answer = await api.chat.completions.create(model="auto", messages=ASK)
        assert answer.model == "beta/large"
        assert not rig.chat_requests("alpha", "also-small"), "no smaller context is tried"
        assert not [s for s in rig.samples if s.model == "small"], "the model is not blamed"
        # Any other 400 is the request's fault: returned as is, no failover, no blame.
        rig.fleet.set("alpha", "small", Behaviour(status=400, body=error_json(400, "bad role")))
        rig.fleet.require_key("alpha", fleet_key("alpha"))
        before = len(rig.chat_requests())
        with pytest.raises(openai.BadRequestError, match="bad role"):
            await api.chat.completions.create(model="auto", messages=ASK)
        assert len(rig.chat_requests()) == before + 1
        await api.close()
        assert not [s for s in rig.samples if s.model == "small"]


async def test_a_failure_mid_stream_ends_with_an_error_event_and_is_not_spliced() -> None:
    specs = [Spec("alpha", "a1", Behaviour(shape="error_event")), Spec("beta", "b1")]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        stream = await api.chat.completions.create(model="auto", messages=ASK, stream=True)
        seen: list[str] = []
        with pytest.raises(openai.APIError, match="alpha/a1"):
            async for chunk in stream:
                seen.append(chunk.model)
        assert set(seen) == {"alpha/a1"}
        await api.close()
        assert not rig.chat_requests("beta"), "another model's output is never appended"
        assert [s.outcome for s in rig.samples] == [Outcome.BAD_RESPONSE]


async def test_no_usable_model_is_a_503_listing_what_was_tried() -> None:
    specs = [
        Spec("alpha", "a1", Behaviour(real_status=429, retry_after="7")),
        Spec("beta", "b1", Behaviour(real_status=429, retry_after="12")),
    ]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        with pytest.raises(openai.APIStatusError) as caught:
            await api.chat.completions.create(model="auto", messages=ASK)
        await api.close()
    error = caught.value
    assert error.status_code == 503
    assert error.response.headers["Retry-After"] == "7"
    tried = error.response.json()["error"]["tried"]
    assert [t["model"] for t in tried] == ["alpha/a1", "beta/b1"]
    assert all("rate_limited" in t["reason"] for t in tried)


async def test_at_most_four_attempts() -> None:
    specs = [Spec(f"p{i}", "m", Behaviour(real_status=500)) for i in range(6)]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        with pytest.raises(openai.APIStatusError) as caught:
            await api.chat.completions.create(model="auto", messages=ASK)
        await api.close()
        assert caught.value.status_code == 503
        assert "Retry-After" not in caught.value.response.headers
        assert len(rig.chat_requests()) == 4


async def test_a_users_group_tries_its_members_in_order_then_the_ranking() -> None:
    specs = [
        Spec("alpha", "a1"),
        Spec("beta", "b1", Behaviour(real_status=503)),
        Spec("gamma", "c1"),
    ]
    groups = {"coder": ("beta/b1", "gamma/c1", "auto")}
    async with router_rig(specs, groups=groups) as rig:
        api = client(rig.url)
        raw = await api.chat.completions.with_raw_response.create(model="coder", messages=ASK)
        assert raw.parse().model == "gamma/c1", "beta failed over to the next member"
        assert raw.headers["x-freemodels-attempts"] == "2"
        listed = [model.id async for model in api.models.list()]
        assert listed[:3] == ["auto", "auto:tools", "coder"]
        await api.close()


def test_a_bad_groups_file_is_a_one_line_error(tmp_path: Path) -> None:
    from freemodels.core.catalog.parse import Catalog
    from freemodels.core.records import Model, Provider
    from freemodels.errors import UsageError
    from freemodels.servers.router.groups import load_groups

    catalog = Catalog((Provider("p", "p", "http://x", (), "x", models=(Model("m", "m", 8),)),))
    path = tmp_path / "router.toml"
    assert load_groups(path, catalog) == {}
    path.write_text('[groups]\ncoder = ["p/m", "auto:tools"]\n')
    assert load_groups(path, catalog) == {"coder": ("p/m", "auto:tools")}
    for text, problem in [
        ("[groups\n", "cannot be read"),
        ('[groups]\ncoder = ["p/nope"]\n', "'p/nope' is no alias"),
        ('[groups]\nauto = ["p/m"]\n', "group 'auto'"),
        ("[groups]\ncoder = []\n", "non-empty list"),
        ("[other]\nx = 1\n", "unknown key 'other'"),
    ]:
        path.write_text(text)
        with pytest.raises(UsageError, match=problem) as caught:
            load_groups(path, catalog)
        assert str(path) in str(caught.value)


async def test_a_provider_echoing_its_key_never_shows_it_to_the_client() -> None:
    echo = Behaviour(real_status=500, echo_auth=True)
    specs = [Spec("alpha", "a1", echo), Spec("beta", "b1", echo)]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        for model in ("auto", "alpha/a1"):
            with pytest.raises(openai.APIStatusError) as caught:
                await api.chat.completions.create(model=model, messages=ASK)
            text = caught.value.response.text
            assert "Incorrect API key" in text
            assert fleet_key("alpha") not in text and fleet_key("beta") not in text
        await api.close()
        assert all(fleet_key(s.provider) not in (s.error or "") for s in rig.samples)


async def test_a_refused_key_skips_the_provider_and_a_stall_times_out_to_the_next() -> None:
    from freemodels.servers.router.upstream import Timeouts

    specs = [
        Spec("alpha", "a1", Behaviour(real_status=401)),
        Spec("alpha", "a2"),
        Spec("beta", "b1", Behaviour(shape="keepalive_forever")),
        Spec("gamma", "c1"),
    ]
    async with router_rig(specs, timeouts=Timeouts(first_token_s=3.0)) as rig:
        api = client(rig.url)
        raw = await api.chat.completions.with_raw_response.create(model="auto", messages=ASK)
        assert raw.parse().model == "gamma/c1"
        assert raw.headers["x-freemodels-attempts"] == "3"
        await api.close()
        assert not rig.chat_requests("alpha", "a2"), "the provider's key was refused: skipped"
        outcomes = {s.provider: s.outcome for s in rig.samples}
        assert outcomes == {
            "alpha": Outcome.AUTH_FAILED, "beta": Outcome.TIMEOUT, "gamma": Outcome.OK,
        }  # fmt: skip


async def test_metrics_count_attempts_failovers_and_streamed_tokens() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    specs = [Spec("alpha", "a1", Behaviour(real_status=429)), Spec("beta", "b1")]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        stream = await api.chat.completions.create(model="auto", messages=ASK, stream=True)
        async for _ in stream:
            pass
        await api.close()
        registry = CollectorRegistry()
        registry.register(rig.server.metrics)
        text = generate_latest(registry).decode()
    assert (
        'freemodels_routed_requests_total{model="a1",outcome="rate_limited",provider="alpha"} 1.0'
        in text
    )
    assert 'freemodels_routed_requests_total{model="b1",outcome="ok",provider="beta"} 1.0' in text
    assert "freemodels_router_failovers_total 1.0" in text
    assert 'freemodels_routed_tokens_total{direction="out",model="b1",provider="beta"} 3.0' in text
    assert 'freemodels_router_attempts_bucket{le="2.0"} 1.0' in text
    assert "freemodels_router_ttft_seconds_count 1.0" in text


async def test_a_whole_answer_that_breaks_fails_over_since_the_client_saw_nothing() -> None:
    specs = [Spec("alpha", "a1", Behaviour(shape="error_event")), Spec("beta", "b1")]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        raw = await api.chat.completions.with_raw_response.create(model="auto", messages=ASK)
        assert raw.parse().model == "beta/b1"
        assert raw.parse().choices[0].message.content == "Hello from the"
        assert raw.headers["x-freemodels-attempts"] == "2"
        with pytest.raises(openai.APIStatusError, match="alpha/a1") as caught:
            await api.chat.completions.create(model="alpha/a1", messages=ASK)
        assert caught.value.status_code == 502, "a pinned model has no next"
        await api.close()
    assert [s.outcome for s in rig.samples if s.provider == "alpha"] == [Outcome.BAD_RESPONSE] * 2
