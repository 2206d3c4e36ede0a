"""A lenient JSONC / JSON5 parser that remembers where every value sits in the text.

The editor (`jsonedit`) splices text at these offsets instead of re-serialising the document, so
comments, key order, quoting and whitespace outside the edited value survive byte for byte.
json-five's model API round-trips too, but inserting a member means building its whitespace nodes
by hand and its offsets are private; a span tree is the smaller, testable seam. Tests compare the
values parsed here with json-five's (`json5.loads`) as the oracle.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 256
_MAX_INT_BITS = 4000 * 3  # well under the 4300 decimal digits Python converts
_IDENT_START = re.compile(r"[A-Za-z_$\u00c0-\uffff]")
_IDENT = re.compile(r"[A-Za-z0-9_$\u00c0-\uffff]*")
_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F]+|Infinity|NaN|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
)
_ESCAPES = {
    "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "0": "\0",
    "'": "'", '"': '"', "\\": "\\", "/": "/",
}  # fmt: skip
_LINE_BREAKS = ("\r\n", "\n", "\r", "\u2028", "\u2029")


class JsoncSyntaxError(ValueError):
    """The text is not JSONC/JSON5; `line` and `column` are 1-based."""

    def __init__(self, message: str, text: str, offset: int) -> None:
        self.line = text.count("\n", 0, offset) + 1
        self.column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        super().__init__(f"{message} at line {self.line}, column {self.column}")


@dataclass(slots=True)
class Child:
    """One member of an object (with its key) or item of an array, and its following comma."""

    key: str | None
    start: int  # where the member (its key) or item begins
    node: Node
    comma: int | None = None  # offset of the comma after it, if any


@dataclass(slots=True)
class Node:
    """A parsed value: its kind, its text span and, for containers, its children."""

    kind: str  # "object", "array", "string", "number", "literal"
    start: int
    end: int
    value: Any = None
    children: list[Child] = field(default_factory=list)

    def child(self, key: str) -> Child | None:
        """The last member with this key (the one parsers keep), if any."""
        for child in reversed(self.children):
            if child.key == key:
                return child
        return None


def parse(text: str) -> Node:
    """Parse a whole JSONC/JSON5 document; raises JsoncSyntaxError."""
    parser = _Parser(text)
    parser.skip()
    if parser.pos >= len(text):
        raise JsoncSyntaxError("the file holds no value", text, parser.pos)
    node = parser.value(0)
    parser.skip()
    if parser.pos < len(text):
        raise JsoncSyntaxError("unexpected text after the value", text, parser.pos)
    return node


class _Parser:
    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos

    def fail(self, message: str, at: int | None = None) -> JsoncSyntaxError:
        return JsoncSyntaxError(message, self.text, self.pos if at is None else at)

    def skip(self) -> int:
        text, n = self.text, len(self.text)
        while self.pos < n:
            char = text[self.pos]
            if char in " \t\r\n\ufeff\u00a0\u2028\u2029\v\f":
                self.pos += 1
            elif text.startswith("//", self.pos):
                ends = [i for i in (text.find(b, self.pos) for b in "\n\r\u2028\u2029") if i >= 0]
                self.pos = min(ends) if ends else n
            elif text.startswith("/*", self.pos):
                close = text.find("*/", self.pos + 2)
                if close < 0:
                    raise self.fail("unterminated /* comment")
                self.pos = close + 2
            else:
                break
        return self.pos

    def value(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH}")
        char = self.text[self.pos] if self.pos < len(self.text) else ""
        if char == "{":
            return self.container(depth, "object", "}")
        if char == "[":
            return self.container(depth, "array", "]")
        if char and char in "\"'":  # "" is in every string: the end of file is not a quote
            start = self.pos
            value = self.string()
            return Node("string", start, self.pos, value)
        for word, literal in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos) and not self.ident_continues(len(word)):
                start, self.pos = self.pos, self.pos + len(word)
                return Node("literal", start, self.pos, literal)
        match = _NUMBER.match(self.text, self.pos)
        if match and not self.ident_continues(match.end() - self.pos):
            start, self.pos = self.pos, match.end()
            return Node("number", start, self.pos, self.number(match.group(), start))
        raise self.fail("expected a value" if char else "unexpected end of file")

    def number(self, raw: str, start: int) -> int | float:
        # Python refuses to convert ints of more than 4300 decimal digits (and json.dumps of
        # them): such a number is bad input here, not a crash later.
        try:
            value = _number(raw)
        except ValueError:
            raise self.fail("number too long", start) from None
        if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
            raise self.fail("number too long", start)
        return value

    def ident_continues(self, length: int) -> bool:
        after = self.pos + length
        return after < len(self.text) and bool(_IDENT.match(self.text, after).group())  # type: ignore[union-attr]

    def container(self, depth: int, kind: str, close: str) -> Node:
        node = Node(kind, self.pos, self.pos, {} if kind == "object" else [])
        self.pos += 1
        while True:
            self.skip()
            if self.pos >= len(self.text):
                raise self.fail(f"missing '{close}'", node.start)
            if self.text[self.pos] == close:
                self.pos += 1
                node.end = self.pos
                return node
            if node.children and node.children[-1].comma is None:
                raise self.fail(f"expected ',' or '{close}'")
            start = self.pos
            key = None
            if kind == "object":
                key = self.key()
                self.skip()
                if not self.text.startswith(":", self.pos):
                    raise self.fail("expected ':' after the key")
                self.pos += 1
                self.skip()
            child = Child(key, start, self.value(depth + 1))
            if key is None:
                node.value.append(child.node.value)
            else:
                node.value[key] = child.node.value
            node.children.append(child)
            self.skip()
            if self.text.startswith(",", self.pos):
                child.comma = self.pos
                self.pos += 1

    def key(self) -> str:
        if self.pos < len(self.text) and self.text[self.pos] in "\"'":
            return self.string()
        if not _IDENT_START.match(self.text, self.pos):
            raise self.fail("expected a key")
        match = _IDENT.match(self.text, self.pos)
        assert match is not None
        self.pos = match.end()
        return match.group()

    def string(self) -> str:
        quote, start = self.text[self.pos], self.pos
        self.pos += 1
        out: list[str] = []
        text = self.text
        while True:
            if self.pos >= len(text):
                raise self.fail("unterminated string", start)
            char = text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(out)
            if char in "\n\r":
                raise self.fail("line break inside a string")
            if char != "\\":
                out.append(char)
                self.pos += 1
                continue
            self.pos += 1
            out.append(self.escape())

    def escape(self) -> str:
        text = self.text
        if self.pos >= len(text):
            raise self.fail("unterminated string")
        for brk in _LINE_BREAKS:  # JSON5 line continuation
            if text.startswith(brk, self.pos):
                self.pos += len(brk)
                return ""
        char = text[self.pos]
        self.pos += 1
        if char in _ESCAPES:
            return _ESCAPES[char]
        if char in "xu":
            width = 2 if char == "x" else 4
            digits = text[self.pos : self.pos + width]
            if len(digits) != width or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise self.fail(f"bad \\{char} escape")
            self.pos += width
            code = int(digits, 16)
            if 0xD800 <= code < 0xDC00 and text.startswith("\\u", self.pos):
                low = text[self.pos + 2 : self.pos + 6]
                if len(low) == 4 and all(c in "0123456789abcdefABCDEF" for c in low):
                    low_code = int(low, 16)
                    if 0xDC00 <= low_code < 0xE000:
                        self.pos += 6
                        return chr(0x10000 + ((code - 0xD800) << 10) + (low_code - 0xDC00))
            return chr(code)
        if char.isdigit():
            raise self.fail("octal escapes are not allowed", self.pos - 1)
        return char  # JSON5: any other escaped character stands for itself


def _number(raw: str) -> int | float:
    sign = -1 if raw.startswith("-") else 1
    body = raw.lstrip("+-")
    if body == "Infinity":
        return sign * math.inf
    if body == "NaN":
        return math.nan
    if body[:2] in ("0x", "0X"):
        return sign * int(body, 16)
    if any(c in body for c in ".eE"):
        return sign * float(body)
    return sign * int(body)
