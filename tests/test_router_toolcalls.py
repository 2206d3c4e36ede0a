"""Routed answers are outcomes too: one that called a tool marks the model's tool calling as
working, streamed or not, through either protocol (the official SDKs as clients)."""

from __future__ import annotations

import time

import anthropic
import openai

from freemodels.core.monitor.stats import ModelInfo, model_stats
from freemodels.core.records import Outcome, ProbeKind, ProbeResult
from freemodels.fleet.server import Behaviour
from freemodels.servers.router.toolcalls import carry_calls
from router_fixtures import CLIENT_KEY, Spec, router_rig
from test_router_anthropic import TOOLS as ANTHROPIC_TOOLS
from test_router_openai import ASK, TOOLS


def routed(samples: list[ProbeResult]) -> list[ProbeResult]:
    return [s for s in samples if s.kind is ProbeKind.ROUTED and s.outcome is Outcome.OK]


async def test_routed_tool_calls_are_recorded_streamed_and_not_in_both_protocols() -> None:
    async with router_rig([Spec("alpha", "a1", Behaviour(tool_call=True))]) as rig:
        api = openai.AsyncOpenAI(
            base_url=f"{rig.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30
        )
        answer = await api.chat.completions.create(
            model="auto:tools", messages=ASK, tools=TOOLS,  # type: ignore[arg-type]
        )  # fmt: skip
        assert answer.choices[0].message.tool_calls
        stream = await api.chat.completions.create(
            model="auto:tools", messages=ASK, tools=TOOLS, stream=True,  # type: ignore[arg-type]
        )  # fmt: skip
        assert [c async for c in stream]
        # The same model asked without tools answers in text: nothing is said of its tools.
        text = await api.chat.completions.create(model="auto", messages=ASK)
        assert text.choices[0].message.content
        await api.close()
        claude = anthropic.AsyncAnthropic(
            base_url=rig.url, api_key=CLIENT_KEY, max_retries=0, timeout=30
        )
        async with claude.messages.stream(
            model="claude-x", max_tokens=1024, tools=ANTHROPIC_TOOLS,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Read a.txt"}],
        ) as events:  # fmt: skip
            final = await events.get_final_message()
        assert final.stop_reason == "tool_use"
        await claude.close()
    samples = routed(rig.samples)
    assert [s.tool_calls for s in samples] == [True, True, None, True]


async def test_a_routed_call_turns_a_failed_tool_test_into_working_tools() -> None:
    async with router_rig([Spec("alpha", "a1", Behaviour(tool_call=True))]) as rig:
        api = openai.AsyncOpenAI(
            base_url=f"{rig.url}/v1", api_key=CLIENT_KEY, max_retries=0, timeout=30
        )
        stream = await api.chat.completions.create(
            model="alpha/a1", messages=ASK, tools=TOOLS, stream=True,  # type: ignore[arg-type]
        )  # fmt: skip
        assert [c async for c in stream]
        await api.close()
    now = time.time()
    failed_test = ProbeResult(
        "alpha", "a1", Outcome.OK, now - 60, ttft_ms=100.0, kind=ProbeKind.TOOLS, tool_calls=False
    )
    info = ModelInfo("alpha", "a1", "a1")
    assert model_stats(info, [failed_test], now, 1800.0).tool_calls is False
    samples = [failed_test, *routed(rig.samples)]
    assert model_stats(info, samples, time.time() + 1, 1800.0).tool_calls is True


def test_only_a_non_empty_list_of_calls_counts() -> None:
    assert carry_calls(['{"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}'])
    assert carry_calls(['{"choices": [{"delta": {"tool_calls": [ {"index": 0}]}}]}'])
    assert not carry_calls(['{"choices":[{"delta":{"content":"hi","tool_calls":null}}]}'])
    assert not carry_calls(['{"choices":[{"delta":{"content":"hi","tool_calls":[]}}]}'])
    assert not carry_calls(['{"choices":[{"delta":{"content":"\\"tool_calls\\": [{"}}]}'])
    assert not carry_calls([])
