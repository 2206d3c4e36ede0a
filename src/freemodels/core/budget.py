"""Rate budgets: the single gate every request passes (DESIGN.md §2 "Rate budgets").

PROVISIONAL STUB: the interface is final, the implementation (a request ledger in the history
database shared by every freemodels process) is being written. Callers: `await gate.acquire(...)`
before every request (probes, speed/tool tests, key tests, GET /models).
"""

from __future__ import annotations

from freemodels.core.records import Model, ProbeKind, Provider


class RequestGate:
    """Waits until a request fits its provider's budget, then records it before it is sent."""

    async def acquire(self, provider: Provider, model: Model | None, kind: ProbeKind) -> None:
        """Wait for room in the budget and record the request (stub: records nothing yet)."""

    def pause(self, budget_id: str, until: float) -> None:
        """Pause a budget until the wall-clock time `until` (after a 429)."""
