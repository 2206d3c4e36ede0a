"""The router's Anthropic Messages endpoint, driven by the official `anthropic` SDK."""

from __future__ import annotations

import anthropic
import pytest

from freemodels.core.records import Outcome
from freemodels.fleet.server import Behaviour
from router_fixtures import CLIENT_KEY, Spec, fleet_key, router_rig

TOOLS = [
    {
        "name": "read_file",
        "description": "Read a file.",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    }
]
PIXEL = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6"
    "kgAAAABJRU5ErkJggg=="
)


def client(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key=CLIENT_KEY, max_retries=0, timeout=30)


async def test_a_message_streamed_and_not_with_a_system_prompt() -> None:
    async with router_rig([Spec("alpha", "a1"), Spec("beta", "b1")]) as rig:
        api = client(rig.url)
        message = await api.messages.create(
            model="claude-x", max_tokens=1024, system="Be brief.",
            messages=[{"role": "user", "content": "Say hello."}],
        )  # fmt: skip
        assert message.model == "alpha/a1"
        assert message.content[0].type == "text"
        assert message.content[0].text == "Hello from the"
        assert message.stop_reason == "end_turn"
        assert message.usage.output_tokens == 3
        async with api.messages.stream(
            model="claude-x", max_tokens=1024,
            messages=[{"role": "user", "content": "Say hello."}],
        ) as stream:  # fmt: skip
            kinds = [event.type async for event in stream]
            final = await stream.get_final_message()
        assert final.content[0].text == "Hello from the"  # type: ignore[union-attr]
        assert final.stop_reason == "end_turn"
        assert final.usage.output_tokens == 3
        assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
        assert {"content_block_start", "content_block_delta", "content_block_stop"} <= set(kinds)
        assert "message_delta" in kinds
        await api.close()
    body = rig.chat_requests()[0].body  # type: ignore[attr-defined]
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    for request in rig.fleet.requests:
        assert request.authorization == f"Bearer {fleet_key(request.provider)}"
        assert CLIENT_KEY not in str(request.headers)


async def test_tools_come_back_as_tool_use_blocks_streamed_and_not() -> None:
    async with router_rig([Spec("alpha", "a1", Behaviour(tool_call=True))]) as rig:
        api = client(rig.url)
        message = await api.messages.create(
            model="claude-x", max_tokens=1024, tools=TOOLS,  # type: ignore[arg-type]
            tool_choice={"type": "any"}, messages=[{"role": "user", "content": "Read a.txt"}],
        )  # fmt: skip
        assert message.stop_reason == "tool_use"
        use = message.content[-1]
        assert use.type == "tool_use" and use.name == "read_file"
        assert "path" in use.input  # type: ignore[operator]
        async with api.messages.stream(
            model="claude-x", max_tokens=1024, tools=TOOLS,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Read a.txt"}],
        ) as stream:  # fmt: skip
            deltas = [e.delta.type async for e in stream if e.type == "content_block_delta"]
            final = await stream.get_final_message()
        assert set(deltas) == {"input_json_delta"}
        streamed = final.content[-1]
        assert streamed.type == "tool_use" and "path" in streamed.input  # type: ignore[operator]
        assert final.stop_reason == "tool_use"
        await api.close()
    body = rig.chat_requests()[0].body  # type: ignore[attr-defined]
    assert body["tools"][0]["function"]["name"] == "read_file"
    assert body["tools"][0]["function"]["parameters"] == TOOLS[0]["input_schema"]
    assert body["tool_choice"] == "required"


async def test_tool_results_and_images_are_translated_for_the_model() -> None:
    async with router_rig([Spec("alpha", "a1")]) as rig:
        api = client(rig.url)
        await api.messages.create(
            model="claude-x",
            max_tokens=256 + 1,
            tools=TOOLS,  # type: ignore[arg-type]
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in a.txt and this picture?"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Reading it."},
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "read_file",
                            "input": {"path": "a.txt"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "hello"},
                        {"type": "text", "text": "Go on."},
                    ],
                },
            ],
        )
        await api.close()
    sent = rig.chat_requests()[0].body["messages"]  # type: ignore[attr-defined]
    assert sent[0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PIXEL}"},
    }
    assert sent[1]["tool_calls"][0]["id"] == "toolu_1"
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == '{"path": "a.txt"}'
    assert sent[2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "hello"}
    assert sent[3] == {"role": "user", "content": "Go on."}


async def test_errors_come_in_anthropics_shape() -> None:
    specs = [Spec("alpha", "a1", Behaviour(real_status=429, retry_after="9"))]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        with pytest.raises(anthropic.APIStatusError) as caught:
            await api.messages.create(
                model="claude-x", max_tokens=1024, messages=[{"role": "user", "content": "hi"}]
            )
        error = caught.value
        assert error.status_code == 503
        assert error.body["type"] == "error"  # type: ignore[index]
        assert error.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
        assert error.response.headers["Retry-After"] == "9"
        with pytest.raises(anthropic.BadRequestError):
            await api.messages.create(model="claude-x", max_tokens=10, messages=[])
        with pytest.raises(anthropic.NotFoundError):
            await api.messages.create(
                model="alpha/none", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
        counted = await api.messages.count_tokens(
            model="claude-x", messages=[{"role": "user", "content": "hello " * 100}]
        )
        assert 100 <= counted.input_tokens <= 400
        await api.close()


async def test_a_failure_mid_stream_ends_with_an_error_event() -> None:
    specs = [Spec("alpha", "a1", Behaviour(shape="error_event")), Spec("beta", "b1")]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        texts: list[str] = []
        with pytest.raises(anthropic.APIStatusError, match="alpha/a1"):
            async with api.messages.stream(
                model="claude-x", max_tokens=1024, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                async for text in stream.text_stream:
                    texts.append(text)
        assert texts == ["Hello"]
        await api.close()
        assert not rig.chat_requests("beta")
        assert [s.outcome for s in rig.samples] == [Outcome.BAD_RESPONSE]


async def test_a_whole_message_that_breaks_comes_from_the_next_model() -> None:
    specs = [Spec("alpha", "a1", Behaviour(shape="error_event")), Spec("beta", "b1")]
    async with router_rig(specs) as rig:
        api = client(rig.url)
        message = await api.messages.create(
            model="claude-x", max_tokens=1024, messages=[{"role": "user", "content": "hi"}]
        )
        assert message.model == "beta/b1"
        assert message.content[0].text == "Hello from the"  # type: ignore[union-attr]
        await api.close()
