"""Hypothesis strategies: JSON-like values written as messy JSONC/JSON5 or commented YAML.

Every comment carries a unique marker (`c0`, `c1`, ...) so tests can check each one survives.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
LITERAL_NAMES = frozenset({"null", "true", "false", "Infinity", "NaN"})
"""Words that are values in JSON5 and, bare in a key's place, also valid names (IdentifierName)."""

keys = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=8
).filter(lambda k: not k.startswith("freemodels"))
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(-1e6, 1e6, allow_nan=False).filter(lambda f: f != 0 or str(f) == "0.0")
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)


@dataclass
class Writer:
    """Writes a value as JSONC (or JSON5) with random layout, comments and trailing commas."""

    rnd: random.Random
    json5: bool = False
    comments: list[str] = field(default_factory=list)
    bare_literal_keys: bool = False
    """Whether a key such as `null` was written bare (valid JSON5 that json-five rejects)."""

    def gap(self, indent: int) -> str:
        """Whitespace with, sometimes, a comment in it."""
        pad = "\n" + "  " * indent
        choice = self.rnd.random()
        if choice < 0.2:
            marker = f"c{len(self.comments)} ünï"
            self.comments.append(marker)
            return f" // {marker}{pad}"
        if choice < 0.35:
            marker = f"c{len(self.comments)}"
            self.comments.append(marker)
            return f" /* {marker} */ "
        return self.rnd.choice(["", " ", pad])

    def string(self, text: str, key: bool = False) -> str:
        """A string (or, in JSON5, sometimes single-quoted or a bare key)."""
        if self.json5 and key and _IDENT.fullmatch(text) and self.rnd.random() < 0.5:
            self.bare_literal_keys |= text in LITERAL_NAMES
            return text
        if self.json5 and self.rnd.random() < 0.4:
            out = []
            for ch in text:
                if ch == "\\":
                    out.append("\\\\")
                elif ch == "'":
                    out.append("\\'")
                elif ch < " " or ch in "\u2028\u2029\x7f":
                    out.append(f"\\u{ord(ch):04x}")
                else:
                    out.append(ch)
            return "'" + "".join(out) + "'"
        return json.dumps(text, ensure_ascii=self.rnd.random() < 0.3)

    def write(self, value: Any, indent: int = 0) -> str:
        """The whole value as text."""
        if isinstance(value, dict):
            parts = [
                f"{self.gap(indent + 1)}{self.string(k, key=True)}{self.gap(indent + 1)}:"
                f"{self.gap(indent + 1)}{self.write(v, indent + 1)}"
                for k, v in value.items()
            ]
            return "{" + self._join(parts, indent) + "}"
        if isinstance(value, list):
            parts = [f"{self.gap(indent + 1)}{self.write(v, indent + 1)}" for v in value]
            return "[" + self._join(parts, indent) + "]"
        if isinstance(value, str):
            return self.string(value)
        return json.dumps(value)

    def _join(self, parts: list[str], indent: int) -> str:
        if not parts:
            return self.gap(indent)
        trailing = "," if self.rnd.random() < 0.5 else ""
        return ",".join(parts) + trailing + self.gap(indent) + "\n" + "  " * indent


def yaml_document(rnd: random.Random, top: dict[str, Any]) -> tuple[str, list[str]]:
    """A block-style YAML mapping of scalars/lists/maps with end-of-line and full-line comments."""
    lines: list[str] = []
    comments: list[str] = []

    def comment() -> str:
        marker = f"c{len(comments)}"
        comments.append(marker)
        return marker

    def scalar(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def emit(mapping: dict[str, Any], indent: int) -> None:
        pad = "  " * indent
        for key, value in mapping.items():
            if rnd.random() < 0.25:
                lines.append(f"{pad}# {comment()}")
            name = json.dumps(key, ensure_ascii=False)
            if isinstance(value, dict) and value:
                lines.append(f"{pad}{name}:")
                emit(value, indent + 1)
            elif isinstance(value, list) and value:
                lines.append(f"{pad}{name}:")
                for item in value:
                    lines.append(f"{pad}  - {scalar(item)}")
            else:
                tail = f"  # {comment()}" if rnd.random() < 0.3 else ""
                shown = (
                    "{}"
                    if isinstance(value, dict)
                    else "[]"
                    if isinstance(value, list)
                    else scalar(value)
                )
                lines.append(f"{pad}{name}: {shown}{tail}")

    emit(top, 0)
    return "\n".join(lines) + "\n", comments


yaml_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=10)
)
yaml_keys = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=8
).filter(lambda k: not k.startswith("freemodels") and k.strip() == k and k not in _RESERVED)
_RESERVED = {
    "model",
    "openai-api-base",
    "openai-api-key",
    "GOOSE_PROVIDER",
    "GOOSE_MODEL",
    "models",
}
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: (
        st.lists(yaml_scalars, max_size=3) | st.dictionaries(yaml_keys, inner, max_size=3)
    ),
    max_leaves=6,
)
