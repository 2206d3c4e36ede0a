"""A request asking more completion tokens than a model gives is clamped for that model, so
the provider answers instead of refusing it with a 400 (the fleet enforces the cap)."""

from __future__ import annotations

import aiohttp
import anthropic
import openai

from freemodels.core.records import Model
from freemodels.fleet.server import Behaviour
from freemodels.servers.router.output import fit_output
from router_fixtures import CLIENT_KEY, Spec, fleet_key, router_rig
from test_router_openai import ASK


def capped(cap: int, **extra: object) -> Behaviour:
    return Behaviour(max_output=cap, **extra)  # type: ignore[arg-type]


async def test_the_fleet_itself_refuses_a_request_over_the_cap() -> None:
    """The control: without the router's clamp, this model answers 400."""
    async with router_rig([Spec("alpha", "a1", capped(4096), max_output=4096)]) as rig:
        url = rig.fleet.base_url("alpha") + "/chat/completions"
        headers = {"Authorization": f"Bearer {fleet_key('alpha')}"}
        body = {"model": "a1", "messages": ASK, "max_tokens": 32000}
        async with aiohttp.ClientSession() as session, session.post(
            url, json=body, headers=headers
        ) as response:  # fmt: skip
            assert response.status == 400
            assert "at most 4096" in await response.text()


async def test_a_request_over_the_cap_is_clamped_streamed_and_not_in_both_protocols() -> None:
    async with router_rig([Spec("alpha", "a1", capped(4096), max_output=4096)]) as rig:
        api = openai.AsyncOpenAI(
            base_url=f"{rig.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30
        )
        raw = await api.chat.completions.with_raw_response.create(
            model="auto",
            messages=ASK,
            max_tokens=32000,  # type: ignore[arg-type]
        )
        assert raw.parse().choices[0].message.content
        assert raw.headers["x-freemodels-attempts"] == "1"
        stream = await api.chat.completions.create(
            model="alpha/a1", messages=ASK, max_completion_tokens=100000, stream=True,  # type: ignore[arg-type]
        )  # fmt: skip
        assert [c async for c in stream]
        small = await api.chat.completions.create(
            model="auto",
            messages=ASK,
            max_tokens=1000,  # type: ignore[arg-type]
        )
        assert small.choices[0].message.content
        await api.close()
        claude = anthropic.AsyncAnthropic(
            base_url=rig.url, api_key=CLIENT_KEY, max_retries=0, timeout=30
        )
        async with claude.messages.stream(
            model="claude-x", max_tokens=32000, messages=[{"role": "user", "content": "Hi"}]
        ) as events:
            final = await events.get_final_message()
        assert final.content and final.stop_reason == "end_turn"
        await claude.close()
    sent = [request.body for request in rig.chat_requests()]
    assert [body["max_tokens"] for body in sent if "max_tokens" in body] == [4096, 1000, 4096]  # type: ignore[index]
    assert [body.get("max_completion_tokens") for body in sent] == [None, 4096, None, None]  # type: ignore[union-attr]
    assert all(sample.outcome == "ok" for sample in rig.samples)


async def test_each_attempt_is_clamped_for_its_own_model() -> None:
    """The second candidate has a larger cap: it gets the most it gives, not the first's."""
    specs = [
        Spec("alpha", "a1", capped(4096, real_status=503), max_output=4096),
        Spec("beta", "b1", capped(16384), max_output=16384),
    ]
    async with router_rig(specs) as rig:
        api = openai.AsyncOpenAI(
            base_url=f"{rig.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30
        )
        raw = await api.chat.completions.with_raw_response.create(
            model="auto",
            messages=ASK,
            max_tokens=32000,  # type: ignore[arg-type]
        )
        assert raw.parse().model == "beta/b1"
        assert raw.headers["x-freemodels-attempts"] == "2"
        await api.close()
    assert rig.chat_requests("alpha")[0].body["max_tokens"] == 4096  # type: ignore[attr-defined]
    assert rig.chat_requests("beta")[0].body["max_tokens"] == 16384  # type: ignore[attr-defined]


def test_the_cap_is_the_catalogs_else_its_default() -> None:
    declared = Model("m", "m", 131072, max_output=8192)
    body = {"messages": ASK, "max_tokens": 8192}
    assert fit_output(body, declared) is body, "a request that fits is sent as it is"
    assert fit_output({"max_tokens": 9000}, declared) == {"max_tokens": 8192}
    assert fit_output({"max_tokens": True}, declared) == {"max_tokens": True}
    assert fit_output({"messages": ASK}, declared) == {"messages": ASK}
    small = Model("s", "s", 4096)
    assert fit_output({"max_tokens": 32000}, small) == {"max_tokens": 4096}
    unknown = Model("u", "u", None)
    assert fit_output({"max_completion_tokens": 50000}, unknown) == {"max_completion_tokens": 32768}
