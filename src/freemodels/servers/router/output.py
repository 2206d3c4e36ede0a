"""Each model's output cap: a request asking more completion tokens than the model gives is
clamped for that model, instead of drawing a 400 from the provider.

Coding tools send one `max_tokens` for whatever model answers (Claude Code asks 32000, tools
written by `use TOOL router` 8192), while free models stop at 4096, 8192 or 32768. The cap is the
catalog's `max_output`, else its documented default, min(context, 32768) (`Model.output_limit`).
Each attempt is clamped for its own model, so failing over to a model with a larger cap sends
the client's own number again. A request that sets no limit is sent as it is: the provider's
default applies.
"""

from __future__ import annotations

from typing import Any

from freemodels.core.records import Model

LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")


def fit_output(body: dict[str, Any], model: Model) -> dict[str, Any]:
    """`body` with its output limits clamped to the model's cap (`body` itself when they fit)."""
    cap = model.output_limit
    over = [
        name
        for name in LIMIT_FIELDS
        if isinstance(body.get(name), int)
        and not isinstance(body.get(name), bool)
        and body[name] > cap
    ]
    if not over:
        return body
    return {**body, **dict.fromkeys(over, cap)}
