"""The JSON records of `check`, `stats`, `best --json` and `watch`.

The contract: docs/architecture.md, "JSON records".
"""

from __future__ import annotations

from typing import Any

from freemodels.core.records import ModelStats, Outcome


def to_record(
    stats: ModelStats, rank: int, *, speed: bool = False, tools: bool = False
) -> dict[str, Any]:
    """One model's record, in the contract's field order; times null unless the latest was ok."""
    ok = stats.outcome is Outcome.OK
    record: dict[str, Any] = {
        "rank": rank,
        "provider": stats.provider,
        "model": stats.model,
        "name": stats.name,
        "outcome": stats.outcome.value if stats.outcome else None,
        "http_status": stats.http_status,
        "samples": stats.samples,
        "ok": stats.ok,
        "availability": stats.availability,
        "ttft_ms": stats.ttft_ms if ok else None,
        "ttft_p50_ms": stats.ttft_p50_ms,
        "ttft_p95_ms": stats.ttft_p95_ms,
        "total_ms": stats.total_ms if ok else None,
        "jitter_ms": stats.jitter_ms,
        "stability": stats.stability,
        "error": stats.error,
    }
    if speed:
        record["tokens_per_s"] = stats.tokens_per_s
    if tools:
        record["tool_calls"] = stats.tool_calls
    return record


def to_records(
    rows: list[ModelStats], *, speed: bool = False, tools: bool = False
) -> list[dict[str, Any]]:
    """Ranked rows as records, rank 1 first."""
    return [to_record(row, index, speed=speed, tools=tools) for index, row in enumerate(rows, 1)]
