"""Edits a tool module asks for, as data, and their meaning on plain values.

Tool modules are pure: they read the parsed document and return a list of edits. The documents
(`jsonedit.JsonDocument`, `yamledit.YamlDocument`) apply them to the text with minimal changes;
`apply_to_value` is the reference meaning, which the writer checks every result against.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

PathPart = str | int
Path = tuple[PathPart, ...]


@dataclass(frozen=True, slots=True)
class Set:
    """Put `value` at `path`, creating missing objects; object into object merges key by key."""

    path: Path
    value: Any


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove the member or item at `path`; nothing happens when it is absent."""

    path: Path


@dataclass(frozen=True, slots=True)
class Insert:
    """Insert `value` into the array at `path` before `index` (-1: append), creating the array."""

    path: Path
    value: Any
    index: int = -1


Edit = Set | Delete | Insert


class ShapeError(ValueError):
    """The document has a different type where an edit needs an object or array."""

    def __init__(self, path: Path, expected: str, found: Any) -> None:
        self.path = path
        self.expected = expected
        self.found = type_name(found)
        super().__init__(f"expected {expected} at {dotted(path)}, found {self.found}")


def dotted(path: Path) -> str:
    """`provider.freemodels-groq.models[0]`, for messages."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "the top level"


def type_name(value: Any) -> str:
    """The JSON name of a value's type."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number"


def same(a: Any, b: Any) -> bool:
    """Equality that tells 1 from True and 1 from 1.0, as a JSON reader would."""
    return _canonical(a) == _canonical(b)


def _canonical(value: Any) -> str:
    return json.dumps(_string_keys(value), sort_keys=True, default=str)


def _string_keys(value: Any) -> Any:
    # YAML allows keys that are not strings (a damaged `key:` line can parse as a null key);
    # sorting mixed key types fails, so keys become the strings a JSON writer would make of them.
    if isinstance(value, dict):
        return {_key_text(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def _key_text(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(key, default=str).strip('"')


def lookup(value: Any, path: Path) -> Any:
    """The value at `path`, or None when any step is missing or of another type."""
    for part in path:
        if isinstance(part, int):
            if not isinstance(value, list) or not -len(value) <= part < len(value):
                return None
        elif not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def container_at(root: Any, path: Path, *, create: bool) -> Any:
    """The object/array that holds the last step of `path` (created when missing if asked)."""
    node = root
    for i, part in enumerate(path[:-1]):
        next_part = path[i + 1]
        if isinstance(part, int):
            if not isinstance(node, list) or not -len(node) <= part < len(node):
                raise ShapeError(path[: i + 1], "an array item", node)
            node = node[part]
            continue
        if not isinstance(node, dict):
            raise ShapeError(path[:i], "an object", node)
        if part not in node:
            if not create:
                return None
            node[part] = [] if isinstance(next_part, int) else {}
        node = node[part]
    return node


def apply_to_value(value: Any, edits: list[Edit]) -> Any:
    """The reference result of `edits` on a plain JSON-like value (the input is not changed)."""
    root = copy.deepcopy(value)
    for edit in edits:
        root = _apply_one(root, edit)
    return root


def apply_in_place(root: Any, edit: Edit) -> Any:
    """Apply one edit to `root` (mutated; a top-level Set may return a new root)."""
    return _apply_one(root, edit)


def _apply_one(root: Any, edit: Edit) -> Any:
    if not edit.path:
        if isinstance(edit, Set):
            return _merge(root, edit.value)
        raise ValueError("only Set may target the top level")
    if isinstance(edit, Insert):
        array = lookup(root, edit.path)
        if array is None:
            _apply_one(root, Set(edit.path, []))
            array = lookup(root, edit.path)
        if not isinstance(array, list):
            raise ShapeError(edit.path, "an array", array)
        array.insert(len(array) if edit.index < 0 else edit.index, copy.deepcopy(edit.value))
        return root
    parent = container_at(root, edit.path, create=isinstance(edit, Set))
    last = edit.path[-1]
    if isinstance(edit, Delete):
        if isinstance(parent, dict) and isinstance(last, str):
            parent.pop(last, None)
        elif (
            isinstance(parent, list)
            and isinstance(last, int)
            and -len(parent) <= last < len(parent)
        ):
            del parent[last]
        return root
    if isinstance(last, int):
        if not isinstance(parent, list) or not -len(parent) <= last < len(parent):
            raise ShapeError(edit.path, "an array item", parent)
        parent[last] = _merge(parent[last], edit.value)
    else:
        if not isinstance(parent, dict):
            raise ShapeError(edit.path[:-1], "an object", parent)
        parent[last] = _merge(parent.get(last), edit.value)
    return root


def _merge(old: Any, new: Any) -> Any:
    # An equal value is left as it is, so YAML keeps its quoting and a rerun changes nothing.
    if isinstance(old, dict) and isinstance(new, dict):
        for key, value in new.items():
            if key not in old or not same(old[key], value):
                old[key] = _merge(old.get(key), value)
        return old
    return old if same(old, new) else copy.deepcopy(new)
