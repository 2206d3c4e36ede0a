"""Canned catalog, Snapshots and app factory for the dashboard tests: no clock, no network."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from freemodels.core.catalog.parse import Catalog, parse_catalog
from freemodels.core.keys.lookup import KeyRing
from freemodels.core.records import (
    BudgetState,
    Health,
    ModelRef,
    ModelStats,
    Outcome,
    ProbeResult,
    Snapshot,
)
from freemodels.ui.app import DashboardApp
from freemodels.ui.preferences import Preferences
from freemodels.ui.services import Services
from freemodels.ui.source import ManualSource

NOW = 1_800_000_000.0

CATALOG_TOML = """
schema_version = 1

[providers.groq]
name = "Groq"
base_url = "http://127.0.0.1:9/groq/v1"
api_key_env = ["GROQ_API_KEY"]
signup_url = "https://console.groq.com/keys"
rpm = 30
rpd = 1000

[[providers.groq.models]]
id = "llama-3.3-70b-versatile"
name = "Llama 3.3 70B"
context = 131072
tier = "B"
swe_bench = 22.0

[[providers.groq.models]]
id = "openai/gpt-oss-120b"
name = "GPT OSS 120B"
context = 131072
tier = "S"
swe_bench = 62.4

[providers.cerebras]
name = "Cerebras"
base_url = "http://127.0.0.1:9/cerebras/v1"
api_key_env = ["CEREBRAS_API_KEY"]
signup_url = "https://cloud.cerebras.ai"
rpm = 30

[[providers.cerebras.models]]
id = "zai-glm-4.7"
name = "GLM 4.7"
context = 131072
tier = "S+"
swe_bench = 73.8

[[providers.cerebras.models]]
id = "qwen-3-coder"
name = "Qwen3 Coder"
context = 262144
tier = "A+"
swe_bench = 55.0

[providers.openrouter]
name = "OpenRouter"
base_url = "http://127.0.0.1:9/openrouter/v1"
api_key_env = ["OPENROUTER_API_KEY"]
signup_url = "https://openrouter.ai/settings/keys"
rpm = 20
rpd = 50

[[providers.openrouter.models]]
id = "deepseek/deepseek-r1:free"
name = "DeepSeek R1"
context = 163840
tier = "S"
swe_bench = 49.2

[[providers.openrouter.models]]
id = "gone/model:free"
name = "Gone Model"
context = 32768
tier = "C"
"""


def catalog() -> Catalog:
    """Three providers, six models."""
    return parse_catalog(CATALOG_TOML, "canned", allow_http=True)


def _stats(
    provider: str, model: str, name: str, outcome: Outcome | None, ttft: float | None, **kw: object
) -> ModelStats:
    ok = outcome is Outcome.OK
    base = ModelStats(
        provider=provider, model=model, name=name, outcome=outcome,
        http_status=200 if ok else None, samples=6 if outcome else 0, ok=6 if ok else 0,
        availability=1.0 if ok else None, ttft_ms=ttft, ttft_p50_ms=ttft,
        ttft_p90_ms=None if ttft is None else ttft * 1.2,
        ttft_p95_ms=None if ttft is None else ttft * 1.3,
        total_ms=None if ttft is None else ttft + 20, jitter_ms=None if ttft is None else 12.0,
        stability=90 if ok else None, error=None, usable=ok,
        health=Health.UP if ok else Health.UNKNOWN,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def rows() -> tuple[ModelStats, ...]:
    """The canned ranking, best first."""
    return (
        _stats("cerebras", "zai-glm-4.7", "GLM 4.7", Outcome.OK, 142.0),
        _stats("groq", "llama-3.3-70b-versatile", "Llama 3.3 70B", Outcome.OK, 181.0),
        _stats("groq", "openai/gpt-oss-120b", "GPT OSS 120B", Outcome.OK, 240.0),
        _stats(
            "openrouter",
            "deepseek/deepseek-r1:free",
            "DeepSeek R1",
            Outcome.RATE_LIMITED,
            None,
            http_status=429,
            error="HTTP 429: rate limited",
            stability=None,
        ),
        _stats(
            "cerebras",
            "qwen-3-coder",
            "Qwen3 Coder",
            Outcome.SERVER_ERROR,
            None,
            http_status=503,
            error="HTTP 503: overloaded",
            health=Health.DOWN,
            availability=0.25,
        ),
        _stats(
            "openrouter",
            "gone/model:free",
            "Gone Model",
            Outcome.NOT_FOUND,
            None,
            http_status=404,
            error="HTTP 404: no such model",
        ),
    )


def samples() -> dict[ModelRef, tuple[ProbeResult, ...]]:
    """Six samples per measured model, 30 s apart (sparklines)."""
    out: dict[ModelRef, tuple[ProbeResult, ...]] = {}
    for row in rows():
        if row.ttft_ms is None:
            continue
        out[row.ref] = tuple(
            ProbeResult(
                row.provider,
                row.model,
                Outcome.OK,
                NOW - 30 * (6 - i),
                200,
                ttft_ms=row.ttft_ms + (i % 3) * 10 - 10,
                total_ms=row.ttft_ms + 20,
            )
            for i in range(6)
        )
    return out


def snapshot(**kw: object) -> Snapshot:
    """The canned Snapshot at NOW; OpenRouter paused for 42 s."""
    budgets = {
        "groq": BudgetState("groq", 30, 1000, 6, 120),
        "cerebras": BudgetState("cerebras", 30, None, 4, 80),
        "openrouter": BudgetState("openrouter", 20, 50, 2, 48, paused_until=NOW + 42),
    }
    base = Snapshot(at=NOW, window_s=1800.0, rows=rows(), budgets=budgets, samples=samples())
    return replace(base, **kw)  # type: ignore[arg-type]


def make_app(
    tmp_path: Path,
    *,
    env: dict[str, str] | None = None,
    prefs: Preferences | None = None,
    source: ManualSource | None = None,
) -> DashboardApp:
    """The dashboard on canned data: a fixed clock, no countdown tick, no throttle."""
    cat = catalog()
    keys = {"GROQ_API_KEY": "gsk_testkey1234abcd"} if env is None else env
    services = Services(
        cat, KeyRing(env={**os.environ, **keys}),
        tmp_path / "history.sqlite3", tmp_path / "preferences.toml",
    )  # fmt: skip
    return DashboardApp(
        source or ManualSource(snapshot()), cat, services, prefs,
        clock=lambda: NOW, refresh_s=0.0, tick_s=None,
    )  # fmt: skip
