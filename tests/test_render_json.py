"""The commands' JSON printer: the same text as json.dumps(indent=2), however it is made."""

from __future__ import annotations

import json
from typing import Any

import pytest

from freemodels.cli.render import dumps

DOCUMENTS: list[Any] = [
    [],
    [{}],
    {},
    None,
    [{"rank": 1, "provider": "p", "ttft_ms": 301.25, "ok": True, "error": None}],
    [{"name": 'naïve «quotes» "and" \\ back\nslash,\n    fake indent'}, {"n": -0.0}],
    [{"a": float("nan"), "b": float("inf"), "c": 10**20, "d": 1e-7}],
    [{"nested": {"x": [1, 2]}}, {"flat": 1}],
    [{"a": 1}, [1, 2]],
    [1, 2, "x"],
    {"providers": [{"id": "groq"}]},
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_dumps_is_json_dumps_with_indent_2(document: Any) -> None:
    assert dumps(document) == json.dumps(document, ensure_ascii=False, indent=2)
