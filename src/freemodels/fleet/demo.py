"""The `--demo` fleet: six simulated providers with the habits of real free tiers.

A newcomer without keys or network sees a real ranking: fast Groq- and Cerebras-like providers,
a NIM-like one with a fat tail and rare long queues, an OpenRouter-like one answering 429 in
bursts, a retired model (404), a flaky one (5xx), a keyless one and reasoning models.

Demo providers have their own ids (`demo-…`) and key variables (`DEMO_GROQ_API_KEY`, …), so a
real key is never sent to the simulator. Every behaviour comes from a sampler fed by the fleet's
seeded per-model generator, so a seed replays the same answers in the same order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from freemodels.fleet.profiles import Profile, bursty_429, flaky, queued, retired, steady
from freemodels.fleet.server import Behaviour, Fleet


@dataclass(frozen=True, slots=True)
class DemoModel:
    """One simulated model: its catalog entry and how it behaves."""

    id: str
    name: str
    context: int
    profile: Profile
    tier: str | None = None
    swe_bench: float | None = None
    reasoning: bool = False
    tool_calls: bool | None = None


@dataclass(frozen=True, slots=True)
class DemoProvider:
    """One simulated provider: its catalog entry, key and models."""

    id: str
    name: str
    key_env: str
    signup_url: str
    key: str | None  # None: keyless
    rpm: int
    models: tuple[DemoModel, ...]
    unlisted_paid: tuple[str, ...] = ()  # in GET /models with a price, never in the catalog


# -- the demo fleet -------------------------------------------------------------------------

PROVIDERS = (
    DemoProvider(
        "demo-groq",
        "Groq (demo)",
        "DEMO_GROQ_API_KEY",
        "https://console.groq.com/keys",
        "gsk_demo0freemodels0simulated0a1b2",
        600,
        (
            DemoModel(
                "qwen/qwen3.6-27b",
                "Qwen3.6 27B",
                131072,
                steady(190, 18, interval_ms=3),
                tier="S+",
                swe_bench=77.2,
                tool_calls=True,
            ),
            DemoModel(
                "openai/gpt-oss-20b",
                "GPT OSS 20B",
                131072,
                steady(160, 12, interval_ms=2, tool_call=False),
                tier="S",
                swe_bench=60.7,
                tool_calls=False,
            ),
            DemoModel(
                "openai/gpt-oss-120b",
                "GPT OSS 120B",
                131072,
                steady(230, 20, interval_ms=3, reasoning=True),
                tier="S",
                swe_bench=62.4,
                reasoning=True,
                tool_calls=True,
            ),
        ),
    ),
    DemoProvider(
        "demo-cerebras",
        "Cerebras (demo)",
        "DEMO_CEREBRAS_API_KEY",
        "https://cloud.cerebras.ai",
        "csk-demo0freemodels0simulated0c3d4",
        600,
        (
            DemoModel(
                "gemma-4-31b",
                "Gemma 4 31B",
                65536,
                steady(150, 20, interval_ms=1),
                tier="A+",
                swe_bench=52.0,
                tool_calls=True,
            ),
            DemoModel(
                "gpt-oss-120b",
                "GPT OSS 120B",
                131072,
                steady(120, 15, interval_ms=1, reasoning=True),
                tier="S",
                swe_bench=62.4,
                reasoning=True,
                tool_calls=True,
            ),
        ),
    ),
    DemoProvider(
        "demo-nvidia",
        "NVIDIA NIM (demo)",
        "DEMO_NVIDIA_API_KEY",
        "https://build.nvidia.com",
        "nvapi-demo0freemodels0simulated0e5f6",
        600,
        (
            DemoModel(
                "moonshotai/kimi-k2.6",
                "Kimi K2.6",
                262144,
                queued(700, 0.55),
                tier="S+",
                swe_bench=80.2,
                tool_calls=True,
            ),
            DemoModel(
                "deepseek-ai/deepseek-v4-flash-0731",
                "DeepSeek V4 Flash",
                1048576,
                queued(850, 0.6),
                tier="S+",
                swe_bench=79.0,
                tool_calls=True,
            ),
            DemoModel(
                "mistralai/codestral-22b-instruct-v0.1",
                "Codestral 22B",
                32768,
                retired,
                tier="B+",
                swe_bench=30.0,
            ),
        ),
    ),
    DemoProvider(
        "demo-openrouter",
        "OpenRouter (demo)",
        "DEMO_OPENROUTER_API_KEY",
        "https://openrouter.ai/settings/keys",
        "sk-or-v1-demo0freemodels0simulated0a7b8",
        20,
        (
            DemoModel(
                "nvidia/nemotron-3-super-120b-a12b:free",
                "Nemotron 3 Super",
                262144,
                bursty_429(450),
                tier="S",
                swe_bench=60.5,
                tool_calls=True,
            ),
            DemoModel(
                "openai/gpt-oss-20b:free",
                "GPT OSS 20B",
                131072,
                bursty_429(380),
                tier="S",
                swe_bench=60.7,
                tool_calls=True,
            ),
        ),
        unlisted_paid=("openai/gpt-5",),
    ),
    DemoProvider(
        "demo-mistral",
        "Mistral (demo)",
        "DEMO_MISTRAL_API_KEY",
        "https://console.mistral.ai/api-keys",
        "demo0mistral0freemodels0simulated09c0",
        600,
        (
            DemoModel(
                "devstral-2512",
                "Devstral 2",
                262144,
                flaky(350),
                tier="S+",
                swe_bench=72.2,
                tool_calls=True,
            ),
            DemoModel(
                "mistral-small-2603",
                "Mistral Small 4",
                131072,
                steady(300, 35, interval_ms=8),
                tier="A",
                swe_bench=48.0,
                tool_calls=True,
            ),
        ),
    ),
    DemoProvider(
        "demo-ovhcloud",
        "OVHcloud AI Endpoints (demo)",
        "DEMO_OVHCLOUD_API_KEY",
        "https://endpoints.ai.cloud.ovh.net",
        None,
        600,
        (
            DemoModel(
                "Meta-Llama-3_3-70B-Instruct",
                "Llama 3.3 70B",
                131072,
                steady(420, 45, interval_ms=12),
                tier="B",
                swe_bench=22.0,
                tool_calls=True,
            ),
        ),
    ),
)


DEMO_MAX_RECORDS = 2000
"""The demo fleet runs inside a long-lived dashboard: keep its request log bounded."""


def configure_demo(fleet: Fleet) -> None:
    """Give the fleet the demo providers, their models, behaviours and keys."""
    if fleet.max_records is None:
        fleet.max_records = DEMO_MAX_RECORDS
    for provider in PROVIDERS:
        for model in provider.models:
            behaviour = model.profile(fleet)
            behaviour.context = model.context
            fleet.set(provider.id, model.id, behaviour)
        for paid in provider.unlisted_paid:
            fleet.set(provider.id, paid, Behaviour(price="0.0000025", context=400000))
        fleet.require_key(provider.id, provider.key)


def demo_env() -> dict[str, str]:
    """The demo keys, by each demo provider's own variable; exactly what the fleet requires."""
    return {p.key_env: p.key for p in PROVIDERS if p.key is not None}


def demo_catalog_toml(fleet: Fleet) -> str:
    """A providers.toml for the demo providers at this fleet's http URLs.

    The format: docs/catalog.md.
    """
    lines = [
        "# The --demo catalog: simulated providers served by freemodels.fleet on loopback.",
        "schema_version = 1",
    ]
    for provider in PROVIDERS:
        lines += [
            "",
            f"[providers.{provider.id}]",
            f"name = {_s(provider.name)}",
            f"base_url = {_s(fleet.base_url(provider.id))}",
            f"api_key_env = [{_s(provider.key_env)}]",
            f"signup_url = {_s(provider.signup_url)}",
            f"key_required = {_b(provider.key is not None)}",
            f"free = {_s('tier' if provider.key is not None else 'keyless')}",
            f"rpm = {provider.rpm}",
        ]
        for model in provider.models:
            lines += [
                "",
                f"[[providers.{provider.id}.models]]",
                f"id = {_s(model.id)}",
                f"name = {_s(model.name)}",
                f"context = {model.context}",
            ]
            if model.tier is not None:
                lines.append(f"tier = {_s(model.tier)}")
            if model.swe_bench is not None:
                lines.append(f"swe_bench = {model.swe_bench}")
            if model.reasoning:
                lines.append("reasoning = true")
            if model.tool_calls is not None:
                lines.append(f"tool_calls = {_b(model.tool_calls)}")
    return "\n".join(lines) + "\n"


def _s(text: str) -> str:
    # A JSON string of printable text is a valid TOML basic string.
    return json.dumps(text)


def _b(value: bool) -> str:
    return "true" if value else "false"
