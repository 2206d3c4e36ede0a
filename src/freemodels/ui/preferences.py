"""The dashboard's preferences: what it sorts by, filters on, pins, writes to, and looks like.

Kept as TOML in `paths.preferences_path()`. `load` and `save` touch the disk, so the app calls
them from a worker (or the CLI before the app starts); the record itself is plain data.
"""

from __future__ import annotations

import os
import tempfile
import threading
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from freemodels.core.records import ModelRef
from freemodels.errors import FreemodelsError

SORTS: tuple[str, ...] = (
    "rank",
    "ttft",
    "p50",
    "p95",
    "availability",
    "stability",
    "tier",
    "swe",
    "context",
    "model",
    "provider",
    "samples",
)
DEFAULT_TOOL = "opencode"
THEMES = ("textual-dark", "textual-light")


class PreferencesError(FreemodelsError):
    """The preferences file cannot be read or written."""


@dataclass(frozen=True, slots=True)
class Preferences:
    """Everything the dashboard remembers between runs (and the live text filter)."""

    sort: str = "rank"
    """The sort column: one of SORTS; `rank` is the monitor's own ranking."""
    reverse: bool = False
    """Reverse the sort (unmeasured values stay last either way)."""
    provider: str | None = None
    """Show only this provider's models."""
    only_configured: bool = False
    """Hide providers without a key."""
    only_usable: bool = False
    """Hide models that are not usable now."""
    only_tools: bool = False
    """Hide models whose function calling is not known to work."""
    pin_favourites: bool = False
    """Favourites on top, whatever the sort."""
    favourites: frozenset[ModelRef] = frozenset()
    """The models the user starred (kept as `provider/model` strings in the file)."""
    tool: str = DEFAULT_TOOL
    """The coding tool `enter` writes the pick into."""
    theme: str = THEMES[0]
    """The Textual theme name."""
    text: str = field(default="", compare=True)
    """The `/` filter; not persisted: a filter left over from yesterday would hide models."""

    def toggled_favourite(self, ref: ModelRef) -> Preferences:
        """With `ref` starred, or unstarred when it was."""
        return replace(self, favourites=self.favourites ^ {ref})


_PERSISTED = tuple(f.name for f in fields(Preferences) if f.name != "text")


def load(path: Path) -> tuple[Preferences, str | None]:
    """The preferences in `path` (defaults when absent) and a warning for what was ignored."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Preferences(), None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Preferences(), f"{path} could not be read ({exc}); using the defaults"
    return _from_table(raw, path)


def _from_table(raw: dict[str, Any], path: Path) -> tuple[Preferences, str | None]:
    defaults = Preferences()
    values: dict[str, Any] = {}
    ignored: list[str] = []
    for name, value in raw.items():
        if name not in _PERSISTED:
            ignored.append(name)
            continue
        expected = getattr(defaults, name)
        if name == "favourites":
            refs, complete = _refs(value)
            values[name] = refs
            if not complete:
                ignored.append(name)
        elif name == "provider":
            if isinstance(value, str):
                values[name] = value or None
            else:
                ignored.append(name)
        elif type(value) is type(expected):
            values[name] = value
        else:
            ignored.append(name)
    if values.get("sort", "rank") not in SORTS:
        ignored.append("sort")
        values.pop("sort")
    warning = f"{path}: ignored {', '.join(sorted(set(ignored)))}" if ignored else None
    return replace(defaults, **values), warning


def _refs(value: object) -> tuple[frozenset[ModelRef], bool]:
    """The favourites that are `provider/model` strings, and whether every entry was one."""
    if not isinstance(value, list):
        return frozenset(), False
    refs: set[ModelRef] = set()
    bad = 0
    for item in value:
        try:
            refs.add(ModelRef.parse(item if isinstance(item, str) else ""))
        except ValueError:
            bad += 1
    return frozenset(refs), bad == 0


def dumps(prefs: Preferences) -> str:
    """The TOML text of the persisted fields."""
    lines = ["# freemodels dashboard preferences (rewritten by the dashboard)"]
    for name in _PERSISTED:
        value = getattr(prefs, name)
        if name == "provider":
            value = value or ""
        lines.append(f"{name} = {_toml(value)}")
    return "\n".join(lines) + "\n"


# Saves run in worker threads and may overlap (a user pressing `s` five times a second): one
# at a time, each through a temporary file of its own, so none replaces another's half-write.
_SAVING = threading.Lock()


def save(path: Path, prefs: Preferences) -> None:
    """Write the preferences atomically; PreferencesError when the disk refuses."""
    text = dumps(prefs)
    with _SAVING:
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            raise PreferencesError(
                f"cannot save preferences to {path}: {exc.strerror or type(exc).__name__}",
                "check the permissions of that directory",
            ) from None
        finally:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'
    if isinstance(value, ModelRef):
        return _toml(str(value))
    if isinstance(value, frozenset):
        return "[" + ", ".join(_toml(v) for v in sorted(value, key=str)) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")
