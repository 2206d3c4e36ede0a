"""Edits to a YAML document through ruamel.yaml's round-trip mode (comments and order kept).

ruamel.yaml keeps a comment attached to the key before it; deleting that key would drop the
comment, so a deletion hands the comment on to the previous key first.
"""

from __future__ import annotations

import io
import itertools
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from freemodels.integrations.formats.edits import Delete, Edit, apply_in_place, container_at

__all__ = ["YAMLError", "YamlDocument", "plain"]

# ruamel.yaml loads and dumps recursively: a few hundred levels exhaust Python's stack, and an
# alias may point back at its own parent. Aliases may also multiply a small text into billions of
# values. No tool's config comes near either bound, so beyond them the file is bad input.
MAX_DEPTH = 100
MAX_VALUES = 100_000


class ShapeLimitError(YAMLError):
    """The document nests too deep or expands too far (read by the writer as a YAML error)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class YamlDocument:
    """A YAML text loaded for round-trip editing; `text` dumps it back."""

    def __init__(self, text: str) -> None:
        self._original = text
        self._yaml = YAML(typ="rt")
        self._yaml.preserve_quotes = True
        self._yaml.width = 4096  # never re-wrap long lines the user wrote
        self._prefix = ""
        if text.strip():
            mapping, offset = guess_indent(text)
            self._yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
            try:
                data = self._yaml.load(text)
            except RecursionError:
                raise ShapeLimitError(f"nesting deeper than {MAX_DEPTH}") from None
            _check_shape(data)
        else:
            data = None
        if data is None:
            # Empty or comments only: keep the text as it is and add our keys after it.
            self._prefix = text if not text or text.endswith("\n") else text + "\n"
            data = CommentedMap()
        self.data: Any = data
        self._changed = False

    @property
    def value(self) -> Any:
        """The document as plain Python values."""
        return plain(self.data)

    def apply(self, edit: Edit) -> None:
        """Apply one edit to the loaded document."""
        if isinstance(edit, Delete) and edit.path:
            parent = container_at(self.data, edit.path, create=False)
            key = edit.path[-1]
            if (isinstance(parent, CommentedMap) and key in parent) or (
                isinstance(parent, CommentedSeq) and isinstance(key, int) and 0 <= key < len(parent)
            ):
                _hand_on_comment(parent, key)
        self.data = apply_in_place(self.data, edit)
        self._changed = True

    @property
    def text(self) -> str:
        """The document as YAML text (the original text when nothing was applied)."""
        if not self._changed:
            return self._original
        data = self.data
        if (
            isinstance(data, CommentedMap)
            and not data
            and not data.ca.comment
            and not data.ca.items
        ):
            return self._prefix  # nothing left: no `{}` in a file meant for humans
        stream = io.StringIO()
        self._yaml.dump(self.data, stream)
        return self._prefix + stream.getvalue()


def _check_shape(data: Any) -> None:
    """Refuse a document deeper than MAX_DEPTH (or cyclic) or of more than MAX_VALUES values.

    Walked without recursion, and stopped at either bound, so a cycle or an alias bomb ends.
    """
    stack, count = [(data, 0)], 0
    while stack:
        value, level = stack.pop()
        count += 1
        if level > MAX_DEPTH:
            raise ShapeLimitError(f"nesting deeper than {MAX_DEPTH} (or an alias inside itself)")
        if count > MAX_VALUES:
            raise ShapeLimitError(f"more than {MAX_VALUES} values once aliases are expanded")
        if isinstance(value, dict):
            stack.extend((item, level + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, level + 1) for item in value)


def _hand_on_comment(container: Any, key: Any) -> None:
    """Move the comment lines after entry `key` to the entry before it (ruamel drops them)."""
    holder, index, at = _tail(container, key)
    slot = holder.ca.items.get(index)
    if not slot or len(slot) <= at or slot[at] is None:
        return
    keys = (
        list(container.keys())
        if isinstance(container, CommentedMap)
        else list(range(len(container)))
    )
    position = keys.index(key)
    if position == 0:
        _comment_before_first(container, slot[at])
        return
    new_holder, new_index, new_at = _tail(container, keys[position - 1])
    held = new_holder.ca.items.setdefault(new_index, [None, None, None, None])
    if held[new_at] is None:
        held[new_at] = slot[at]
    else:
        held[new_at].value = held[new_at].value + slot[at].value.lstrip("\n")


def _comment_before_first(container: Any, token: Any) -> None:
    """Keep lines that followed the removed first entry as a comment before the new first one."""
    text = token.value.lstrip("\n")
    if not text.strip() or len(container) < 2:
        return
    indent = token.column if isinstance(container, CommentedMap) else max(token.column, 0)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    after = 1 if isinstance(container, CommentedSeq) else list(container.keys())[1]
    before = "\n".join(line.removeprefix("#").removeprefix(" ") for line in lines)
    container.yaml_set_comment_before_after_key(after, before=before, indent=indent)


def _tail(container: Any, index: Any) -> tuple[Any, Any, int]:
    """The container, key and comment slot that end the entry `container[index]` in the text."""
    value = container[index]
    if isinstance(value, CommentedMap) and value:
        return _tail(value, list(value.keys())[-1])
    if isinstance(value, CommentedSeq) and value:
        return _tail(value, len(value) - 1)
    return container, index, 0 if isinstance(container, CommentedSeq) else 2


def guess_indent(text: str) -> tuple[int, int]:
    """The file's mapping indent and dash offset, so the keys we add line up with the user's."""
    mapping: int | None = None
    offset: int | None = None
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    for parent, child in itertools.pairwise(lines):
        if not parent.split(" #")[0].rstrip().endswith(":"):
            continue
        outer = len(parent) - len(parent.lstrip(" "))
        inner = len(child) - len(child.lstrip(" "))
        if inner <= outer and not child.lstrip().startswith("- "):
            continue
        if child.lstrip().startswith("- "):
            offset = inner - outer if offset is None else offset
        elif mapping is None:
            mapping = inner - outer
        if mapping is not None and offset is not None:
            break
    return mapping or 2, offset or 0


def plain(value: Any) -> Any:
    """ruamel's round-trip types turned into plain dicts, lists and scalars."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return str(value)
