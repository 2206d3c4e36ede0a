"""The user's catalog overlay file: read it keeping comments, replace it atomically.

`providers refresh --add-new` and `providers add` both edit it through tomlkit, so what a user
wrote by hand (comments, order, their own providers) survives every edit.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import tomlkit
import tomlkit.exceptions

from freemodels.errors import CatalogError


def load_overlay(path: Path) -> tomlkit.TOMLDocument:
    """The overlay as an editable document; a new one, with its header, when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        doc = tomlkit.document()
        doc.add(tomlkit.comment("freemodels user catalog: merged over the bundled providers.toml."))
        doc.add(tomlkit.comment("Same provider id: fields override; models add or override by id."))
        doc.add("schema_version", 1)
        return doc
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read the overlay ({exc.__class__.__name__})") from None
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise CatalogError(
            f"{path}: not valid TOML: {exc}", "fix the syntax; nothing was written"
        ) from None


def replace_overlay(path: Path, text: str, check: Callable[[Path], object] | None = None) -> None:
    """Replace the overlay atomically (through a symlink, keeping its mode), once `check` (which
    raises on a bad catalog) accepted the new text in its temporary file."""
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if check is not None:
            check(Path(temp))
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
