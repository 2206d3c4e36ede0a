"""Catalog text parsed once: the tables of the last text read from each source, kept in the
user's cache folder.

tomllib takes ~5 ms for the bundled catalog and ~7 ms for 400 models, before every command's
first request; marshal reads the same tables back in ~0.1 ms (docs/architecture.md,
"Performance notes"). An entry holds the text it was parsed from and is used only when the text
is the same, character for character, so an edited catalog is never read stale, and a cache
that cannot be read or written only costs the parse.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import marshal
import os
import sys
from pathlib import Path
from typing import Any

from freemodels import paths

# The layout of an entry: (FORMAT, the text, its tables with each date as None, the dates as
# (path, ordinal) pairs). marshal keeps str, int, float, bool, list and dict, not dates.
FORMAT = (1, sys.hexversion >> 16)

Tables = dict[str, Any]
_Path = tuple[str | int, ...]


class _NotPlain(Exception):
    """A value marshal cannot keep and this cache does not convert (a TOML time or datetime)."""


def cached_tables(text: str, slot: str) -> Tables | None:
    """The tables of `text` as last parsed from the source named `slot`, if this is that text."""
    try:
        entry = marshal.loads(_entry_path(slot).read_bytes())
    except (OSError, EOFError, ValueError, TypeError):  # none yet, unreadable, or another format
        return None
    if not (isinstance(entry, tuple) and len(entry) == 4 and entry[0] == FORMAT):
        return None
    if entry[1] != text or not isinstance(entry[2], dict):
        return None
    tables: Tables = entry[2]
    try:
        for where, ordinal in entry[3]:
            _put(tables, where, dt.date.fromordinal(ordinal))
    except (LookupError, TypeError, ValueError, OverflowError):  # a damaged entry
        return None
    return tables


def keep_tables(text: str, slot: str, tables: Tables) -> None:
    """Keep the tables parsed from `text` for the next read of `slot`; best effort."""
    dates: list[tuple[_Path, int]] = []
    try:
        plain = _plain(tables, (), dates)
    except _NotPlain:
        return
    path = _entry_path(slot)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial.write_bytes(marshal.dumps((FORMAT, text, plain, dates)))
        os.replace(partial, path)  # whole or not at all, also beside another process
    except OSError:
        # A read-only or full cache folder: the next command parses the text again.
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


def _entry_path(slot: str) -> Path:
    return paths.cache_dir() / f"catalog-{slot}.marshal"


def _plain(value: Any, where: _Path, dates: list[tuple[_Path, int]]) -> Any:
    """`value` with each date replaced by None and noted in `dates`."""
    if isinstance(value, dict):
        return {key: _plain(item, (*where, key), dates) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, (*where, index), dates) for index, item in enumerate(value)]
    if type(value) is dt.date:
        dates.append((where, value.toordinal()))
        return None
    if isinstance(value, str | int | float):  # bool is an int
        return value
    raise _NotPlain(type(value).__name__)


def _put(tables: Tables, where: _Path, value: Any) -> None:
    node: Any = tables
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = value
