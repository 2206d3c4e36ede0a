"""User-named model groups of the router, from `router.toml` in the config dir.

    [groups]
    coder = ["groq/llama-3.3-70b-versatile", "cerebras/qwen-3-coder-480b", "auto:tools"]

A request naming `coder` tries those in order (an alias such as `auto:tools` stands for the
live ranking at that point), with failover as for `auto`. A group may not take an alias's name
or contain a `/`; its members must be aliases or catalog models. A bad file stops `serve` with
the file, the group and what is wrong (exit 2).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from freemodels.core.catalog.parse import Catalog
from freemodels.core.records import ModelRef
from freemodels.errors import UsageError
from freemodels.servers.router.pick import ALIASES

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def load_groups(path: Path, catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """The groups in `path` (none when the file is absent); UsageError when it is wrong."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _bad(path, f"cannot be read ({exc})") from None
    unknown = set(raw) - {"groups", "timeouts"}  # [timeouts]: servers/router/deadlines.py
    if unknown:
        raise _bad(path, f"unknown key {sorted(unknown)[0]!r} (only [groups], [timeouts])")
    table = raw.get("groups", {})
    if not isinstance(table, dict):
        raise _bad(path, "'groups' must be a table of name = [models]")
    groups: dict[str, tuple[str, ...]] = {}
    for name, members in table.items():
        where = f"group {name!r}"
        if name in ALIASES or not _NAME.match(name):
            raise _bad(path, f"{where}: pick a name without '/' that is not auto or auto:tools")
        if not isinstance(members, list) or not members:
            raise _bad(path, f"{where}: expected a non-empty list of provider/model or aliases")
        for member in members:
            if not isinstance(member, str) or not _known(member, catalog):
                raise _bad(path, f"{where}: {member!r} is no alias and no catalog model")
        groups[name] = tuple(members)
    return groups


def _known(member: str, catalog: Catalog) -> bool:
    if member in ALIASES:
        return True
    try:
        ref = ModelRef.parse(member)
    except ValueError:
        return False
    return catalog.get(ref) is not None


def _bad(path: Path, problem: str) -> UsageError:
    return UsageError(f"{path}: {problem}", "fix or remove the file; see README 'The router'")
