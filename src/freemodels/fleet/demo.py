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
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from freemodels.fleet.server import Behaviour, Fleet

QUEUE_GRACE_S = 60.0
"""No long NIM-style queue in the fleet's first minute (so `check --demo` ends in seconds)."""
QUEUE_GRACE_REQUESTS = 3
"""Nor in a model's first requests."""

Profile = Callable[[Fleet], Behaviour]


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


# -- profiles -------------------------------------------------------------------------------


def steady(
    median_ms: float,
    spread_ms: float,
    *,
    interval_ms: float,
    reasoning: bool = False,
    tool_call: bool = True,
) -> Profile:
    """A provider that answers ok with a narrow normal TTFT (Groq, Cerebras)."""

    def profile(fleet: Fleet) -> Behaviour:
        def sample(rng: random.Random, index: int) -> Behaviour:
            ttft = max(rng.gauss(median_ms, spread_ms), median_ms * 0.6) / 1000
            return Behaviour(
                ttft_s=ttft,
                token_interval_s=interval_ms / 1000,
                tokens=8,
                reasoning=reasoning,
                tool_call=tool_call,
            )

        return Behaviour(sampler=sample, reasoning=reasoning, tool_call=tool_call)

    return profile


def queued(median_ms: float, sigma: float, *, queue_chance: float = 0.02) -> Profile:
    """NIM-like: lognormal TTFT with a fat tail, headers late, and rare 20-90 s queues."""

    def profile(fleet: Fleet) -> Behaviour:
        def sample(rng: random.Random, index: int) -> Behaviour:
            ttft = min(rng.lognormvariate(math.log(median_ms / 1000), sigma), 8.0)
            # Draw every number on every request so the sequence does not depend on the clock.
            queue = rng.random() < queue_chance
            wait = rng.uniform(20.0, 90.0)
            if index < QUEUE_GRACE_REQUESTS:
                ttft = min(ttft, 3.0)
            elif queue and fleet.age() >= QUEUE_GRACE_S:
                ttft = wait
            return Behaviour(
                ttft_s=ttft,
                headers_delay_s=ttft * 0.9,
                token_interval_s=0.02,
                tokens=8,
                tool_call=True,
            )

        return Behaviour(sampler=sample, tool_call=True)

    return profile


def bursty_429(median_ms: float, *, burst_chance: float = 0.12) -> Profile:
    """OpenRouter-like: ok, but now and then a stretch of 429s with Retry-After."""

    def profile(fleet: Fleet) -> Behaviour:
        left = 0  # 429s still to send in the current burst
        retry = "5"

        def sample(rng: random.Random, index: int) -> Behaviour:
            nonlocal left, retry
            ttft = max(rng.gauss(median_ms, median_ms * 0.2), median_ms * 0.5) / 1000
            starts = rng.random() < burst_chance
            length = rng.randint(2, 4)
            retry_after = str(rng.randint(3, 12))
            if left == 0 and starts and index >= 1:
                left, retry = length, retry_after
            if left > 0:
                left -= 1
                return Behaviour(status=429, retry_after=retry, headers_delay_s=0.08)
            return Behaviour(ttft_s=ttft, token_interval_s=0.01, tokens=8, tool_call=True)

        return Behaviour(sampler=sample, tool_call=True)

    return profile


def flaky(median_ms: float, failure_rate: float = 0.3) -> Profile:
    """Answers ok, except ~30 % of requests fail with a 5xx."""

    def profile(fleet: Fleet) -> Behaviour:
        def sample(rng: random.Random, index: int) -> Behaviour:
            ttft = max(rng.gauss(median_ms, median_ms * 0.15), median_ms * 0.5) / 1000
            fails = rng.random() < failure_rate
            status = rng.choice((500, 502, 503))
            if fails:
                return Behaviour(status=status, headers_delay_s=ttft * 0.5)
            return Behaviour(ttft_s=ttft, token_interval_s=0.008, tokens=8, tool_call=True)

        return Behaviour(sampler=sample, tool_call=True)

    return profile


def retired(fleet: Fleet) -> Behaviour:
    """A model the provider took down: 404, and gone from GET /models."""
    return Behaviour(status=404, headers_delay_s=0.06, listed=False)


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
                "llama-3.3-70b-versatile",
                "Llama 3.3 70B",
                131072,
                steady(190, 18, interval_ms=3),
                tier="B",
                swe_bench=22.0,
                tool_calls=True,
            ),
            DemoModel(
                "llama-3.1-8b-instant",
                "Llama 3.1 8B Instant",
                131072,
                steady(160, 12, interval_ms=2, tool_call=False),
                tier="C",
                swe_bench=18.0,
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
                "zai-glm-4.7",
                "GLM 4.7",
                131072,
                steady(150, 20, interval_ms=1),
                tier="S+",
                swe_bench=73.8,
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
                "deepseek-ai/deepseek-v4-flash",
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
    """A providers.toml (DESIGN.md §2) for the demo providers at this fleet's http URLs."""
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
