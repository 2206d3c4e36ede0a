"""Minimal text edits to a JSONC/JSON5 document: only the touched member's text changes.

Everything else (comments, key order, quoting, indentation, trailing commas) stays byte for byte.
New members follow the indentation and comma style of their siblings; new values are written as
plain JSON, which every JSONC and JSON5 reader accepts.
"""

from __future__ import annotations

import json
import re
from typing import Any

from freemodels.integrations.formats.edits import Delete, Edit, Insert, Path, Set, ShapeError, same
from freemodels.integrations.formats.jsonc import Child, Node, parse

_INDENTED_LINE = re.compile(r"^([ \t]+)\S", re.MULTILINE)


class JsonDocument:
    """A JSONC/JSON5 text plus its span tree; `apply` edits the text in place."""

    def __init__(self, text: str) -> None:
        # An empty file holds nothing to keep, so it is edited as an empty object.
        self.text = text if text.strip() else "{}\n"
        self.root: Node = parse(self.text)
        self.newline = "\r\n" if "\r\n" in self.text else "\n"
        match = _INDENTED_LINE.search(self.text)
        if match is None:
            self.unit = "  "
        else:
            found = match.group(1)
            self.unit = "\t" if found.startswith("\t") else " " * min(len(found), 8)

    @property
    def value(self) -> Any:
        """The document as plain Python values."""
        return self.root.value

    def apply(self, edit: Edit) -> None:
        """Apply one edit; raises ShapeError when the document has another type in the way."""
        if isinstance(edit, Set):
            self._set(edit.path, edit.value)
        elif isinstance(edit, Delete):
            self._delete(edit.path)
        else:
            self._insert(edit)

    # -- navigation ---------------------------------------------------------------------------

    def _walk(self, path: Path) -> tuple[Node, int]:
        """The deepest existing node along `path` and how many steps reached it."""
        node = self.root
        for depth, part in enumerate(path):
            if isinstance(part, int):
                if node.kind != "array":
                    raise ShapeError(path[:depth], "an array", node.value)
                if not -len(node.children) <= part < len(node.children):
                    raise ShapeError(path[: depth + 1], "an array item", node.value)
                node = node.children[part].node
                continue
            if node.kind != "object":
                raise ShapeError(path[:depth], "an object", node.value)
            child = node.child(part)
            if child is None:
                return node, depth
            node = child.node
        return node, len(path)

    # -- operations ---------------------------------------------------------------------------

    def _set(self, path: Path, value: Any) -> None:
        node, depth = self._walk(path)
        if depth < len(path):
            rest = path[depth + 1 :]
            if any(isinstance(part, int) for part in rest):
                raise ShapeError(path, "an existing array", None)
            for part in reversed(rest):
                value = {part: value}
            key = path[depth]
            assert isinstance(key, str)
            self._add_child(node, key, value, len(node.children))
            return
        if isinstance(value, dict) and node.kind == "object":
            for key, item in value.items():
                self._set((*path, key), item)
            return
        if same(node.value, value):
            return
        rendered = self._render(value, self._line_indent(node.start))
        self._splice([(node.start, node.end, rendered)])

    def _insert(self, edit: Insert) -> None:
        node, depth = self._walk(edit.path)
        if depth < len(edit.path):
            self._set(edit.path, [])
            node, depth = self._walk(edit.path)
        if node.kind != "array":
            raise ShapeError(edit.path, "an array", node.value)
        count = len(node.children)
        index = count if edit.index < 0 or edit.index > count else edit.index
        self._add_child(node, None, edit.value, index)

    def _delete(self, path: Path) -> None:
        if not path:
            raise ValueError("cannot delete the top level")
        node, depth = self._walk(path[:-1])
        if depth < len(path) - 1:
            return
        last = path[-1]
        if isinstance(last, str):
            if node.kind != "object":
                return
            index = next(
                (i for i in range(len(node.children) - 1, -1, -1) if node.children[i].key == last),
                None,
            )
        else:
            in_range = node.kind == "array" and -len(node.children) <= last < len(node.children)
            index = last % len(node.children) if in_range else None
        if index is None:
            return
        self._remove_child(node, index)

    # -- text surgery -------------------------------------------------------------------------

    def _add_child(self, node: Node, key: str | None, value: Any, index: int) -> None:
        text, nl = self.text, self.newline
        multiline = "\n" in text[node.start : node.end] or "\r" in text[node.start : node.end]
        children = node.children
        parent_indent = self._line_indent(node.start)
        if children and self._starts_line(children[0].start):
            child_indent = self._line_indent(children[0].start)
        else:
            child_indent = parent_indent + self.unit

        def member(indent: str) -> str:
            body = self._render(value, indent) if multiline else _compact(value)
            return body if key is None else f"{json.dumps(key, ensure_ascii=False)}: {body}"

        if not children:
            inner = text[node.start + 1 : node.end - 1]
            if not inner.strip():
                multiline = True
                new = f"{nl}{child_indent}{member(child_indent)}{nl}{parent_indent}"
                self._splice([(node.start + 1, node.end - 1, new)])
            else:  # only comments inside: keep them below our member
                multiline = True
                self._splice(
                    [(node.start + 1, node.start + 1, f"{nl}{child_indent}{member(child_indent)}")]
                )
            return
        if index < len(children):
            before = children[index]
            gap = f"{nl}{child_indent}" if multiline else " "
            self._splice([(before.start, before.start, f"{member(child_indent)},{gap}")])
            return
        last = children[-1]
        if not multiline:
            if last.comma is None:
                self._splice([(last.node.end, last.node.end, f", {member('')}")])
            else:
                self._splice([(last.comma + 1, last.comma + 1, f" {member('')},")])
            return
        after = last.node.end if last.comma is None else last.comma + 1
        at = self._end_of_line(after)
        trailing = "," if last.comma is not None else ""
        splices = [(at, at, f"{nl}{child_indent}{member(child_indent)}{trailing}")]
        if last.comma is None:
            splices.append((last.node.end, last.node.end, ","))
        self._splice(splices)

    def _remove_child(self, node: Node, index: int) -> None:
        child: Child = node.children[index]
        text = self.text
        if len(node.children) == 1:
            inner_before = text[node.start + 1 : child.start]
            inner_after = text[
                (child.comma + 1 if child.comma is not None else child.node.end) : node.end - 1
            ]
            if not inner_before.strip() and not inner_after.strip():
                self._splice([(node.start + 1, node.end - 1, "")])  # `{ ours }` → `{}`
                return
        end = child.node.end if child.comma is None else child.comma + 1
        start = child.start
        splices: list[tuple[int, int, str]] = []
        previous = node.children[index - 1] if index > 0 else None
        if child.comma is None and previous is not None and previous.comma is not None:
            between = text[previous.comma + 1 : child.start]
            if between.strip(" \t") == "":
                start = previous.comma  # `, "ours": 1` on one line
            else:
                splices.append((previous.comma, previous.comma + 1, ""))
        line_start = text.rfind("\n", 0, start) + 1
        rest = self._end_of_line(end, comments=False)
        if (
            start == child.start
            and not text[line_start:start].strip(" \t")
            and rest < len(text)
            and text[rest] in "\r\n"
        ):
            # The member fills its lines: remove them whole.
            start = line_start
            end = rest + (2 if text.startswith("\r\n", rest) else 1)
        elif start == child.start:
            while end < len(text) and text[end] in " \t":
                end += 1
        splices.append((start, end, ""))
        self._splice(splices)

    def _end_of_line(self, pos: int, *, comments: bool = True) -> int:
        """Where the line containing `pos` breaks, skipping same-line blanks and comments.

        Returns `pos` moved past them; it points at the line break when only those follow.
        """
        text, n = self.text, len(self.text)
        while pos < n:
            if text[pos] in " \t":
                pos += 1
            elif comments and text.startswith("//", pos):
                breaks = [i for i in (text.find("\n", pos), text.find("\r", pos)) if i >= 0]
                return min(breaks) if breaks else n
            elif comments and text.startswith("/*", pos):
                close = text.find("*/", pos + 2)
                if close < 0 or "\n" in text[pos:close]:
                    return pos
                pos = close + 2
            else:
                return pos
        return pos

    def _starts_line(self, pos: int) -> bool:
        line_start = self.text.rfind("\n", 0, pos) + 1
        return not self.text[line_start:pos].strip(" \t")

    def _line_indent(self, pos: int) -> str:
        line_start = self.text.rfind("\n", 0, pos) + 1
        line = self.text[line_start:pos]
        return line[: len(line) - len(line.lstrip(" \t"))]

    def _render(self, value: Any, indent: str) -> str:
        rendered = json.dumps(value, indent=self.unit, ensure_ascii=False)
        return rendered.replace("\n", self.newline + indent)

    def _splice(self, splices: list[tuple[int, int, str]]) -> None:
        text = self.text
        for start, end, new in sorted(splices, key=lambda s: s[0], reverse=True):
            text = text[:start] + new + text[end:]
        self.root = parse(text)
        self.text = text


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
