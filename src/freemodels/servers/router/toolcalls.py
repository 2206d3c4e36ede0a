"""Whether a routed answer carried tool calls: routed answers are outcomes like tool tests.

A routed answer that called a tool shows that the model's function calling works, as a tool
test would (docs/architecture.md, "Screens and servers"): the monitor then counts the model as
tool-capable for `auto:tools` and the Tools column without spending a test of its own. An
answer without a call says nothing either way (the model chose to answer in text).

The streamed relay does not parse the events it passes on, so the check is a text search that
only matches a non-empty list: some providers send `"tool_calls": null` or `[]` in every chunk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_CALLS = re.compile(r'"tool_calls"\s*:\s*\[\s*\{')


def carry_calls(events: Iterable[str]) -> bool:
    """Whether any of these OpenAI chunk texts carries at least one tool call."""
    return any('"tool_calls"' in data and _CALLS.search(data) is not None for data in events)
