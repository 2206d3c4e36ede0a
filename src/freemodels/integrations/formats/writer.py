"""The one careful writer of other tools' config files.

The rules: docs/architecture.md, "Writing other tools' config".

Reads the file the tool reads, parses it leniently, applies a tool's edits with minimal text
changes, checks the result means exactly what the edits say, then replaces the file atomically
(through a symlink, keeping the mode) after one `<file>.freemodels.bak`. Any problem stops
before the first byte is written and says which file, what is wrong and that nothing changed.
"""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freemodels.errors import ConfigWriteError
from freemodels.integrations.formats.edits import Edit, ShapeError, apply_to_value, same
from freemodels.integrations.formats.jsonc import JsoncSyntaxError
from freemodels.integrations.formats.jsonedit import JsonDocument
from freemodels.integrations.formats.yamledit import YamlDocument, YAMLError

BACKUP_SUFFIX = ".freemodels.bak"
UNCHANGED = "nothing was changed"

Document = JsonDocument | YamlDocument


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file's text before and after (None: absent / to be deleted)."""

    path: Path
    before: str | None
    after: str | None
    private: bool = False  # holds a plaintext key: written 0600
    secret: str | None = field(default=None, repr=False)  # masked in diffs

    @property
    def changed(self) -> bool:
        """Whether committing would change the disk."""
        return self.before != self.after or (self.private and _mode(self.path) not in (None, 0o600))

    def diff(self) -> str:
        """A unified diff of the change, with any plaintext key masked."""
        before = (self.before or "").splitlines(keepends=True)
        after = (self.after or "").splitlines(keepends=True)
        lines = difflib.unified_diff(
            before,
            after,
            fromfile=str(self.path) if self.before is not None else "/dev/null",
            tofile=str(self.path) if self.after is not None else "/dev/null",
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        if self.secret:
            from freemodels.core.keys.lookup import mask

            text = text.replace(self.secret, mask(self.secret))
        return text


def backup_path(path: Path) -> Path:
    """Where the one backup of `path` lives (beside the path the tool reads)."""
    return path.with_name(path.name + BACKUP_SUFFIX)


def read_text(path: Path) -> str | None:
    """The file's text, or None when it does not exist; ConfigWriteError when unreadable."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None  # also a dangling link: its target is created on write
    except IsADirectoryError:
        raise ConfigWriteError(f"{path} is a directory, not a config file; {UNCHANGED}") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigWriteError(
            f"cannot read {path}: {reason}; {UNCHANGED}", "check the file's permissions"
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigWriteError(
            f"{path} is not UTF-8 text (byte {exc.start}); {UNCHANGED}"
        ) from None


def load(path: Path, fmt: str, text: str) -> Document:
    """Parse `text` (from `path`) for editing; ConfigWriteError on a syntax error."""
    try:
        if fmt == "yaml":
            return YamlDocument(text)
        return JsonDocument(text)
    except JsoncSyntaxError as exc:
        raise ConfigWriteError(
            f"{path} is not valid JSON/JSONC: {exc}; {UNCHANGED}", "fix the file, then retry"
        ) from None
    except YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigWriteError(
            f"{path} is not valid YAML{line}: {problem}; {UNCHANGED}", "fix the file, then retry"
        ) from None


def plan(
    path: Path,
    fmt: str,
    text: str | None,
    document: Document,
    edits: list[Edit],
    *,
    private: bool = False,
    secret: str | None = None,
) -> FileChange:
    """Apply `edits` to `document` and check the result; nothing touches the disk."""
    before_value = document.value
    try:
        expected = apply_to_value(before_value, edits)
        for edit in edits:
            document.apply(edit)
    except ShapeError as exc:
        raise ConfigWriteError(f"{path}: {exc}; {UNCHANGED}", "fix the file, then retry") from None
    if text is not None and same(before_value, expected):
        # Nothing to change: keep the exact bytes (a YAML re-dump could reformat).
        return FileChange(path, text, text, private=private, secret=secret)
    if text is None and not edits:
        return FileChange(path, None, None)
    after = document.text
    reparsed = load(path, fmt, after).value
    if not same(reparsed, expected):
        # The safety net: the minimal edit must mean exactly what was asked, nothing else.
        raise ConfigWriteError(
            f"editing {path} would change more than freemodels' entries; {UNCHANGED}",
            "please report this with a copy of the file",
        )
    return FileChange(path, text, after, private=private, secret=secret)


def commit(change: FileChange, *, backup: bool = True) -> bool:
    """Write one change: backup once, atomic replace through symlinks, mode kept; True if written.

    `backup=False` (undo) only takes our own entries out, so it needs no backup.
    """
    if not change.changed:
        return False
    link = change.path
    target = Path(os.path.realpath(link))
    if change.after is None:
        try:
            link.unlink(missing_ok=True)
        except OSError as exc:
            raise ConfigWriteError(f"cannot remove {link}: {exc.strerror}; {UNCHANGED}") from None
        return True
    mode = _mode(target)
    if backup and change.before is not None and mode is not None:
        copy = backup_path(link)
        if not copy.exists() and not copy.is_symlink():
            _atomic_write(copy, change.before, mode)
    new_mode = 0o600 if change.private else (mode if mode is not None else 0o666 & ~_umask())
    _atomic_write(target, change.after, new_mode)
    return True


def _atomic_write(target: Path, text: str, mode: int) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigWriteError(
            f"cannot write {target}: {exc.strerror}; {UNCHANGED}", "check the folder's permissions"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise ConfigWriteError(f"cannot write {target}: {exc.strerror}; {UNCHANGED}") from None


def _mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def _umask() -> int:
    # os.umask() can only be read by setting it, which races with other threads (the TUI).
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def write_env_line(path: Path, name: str, value: str) -> bool:
    """Set `name=value` in a dotenv file (0600), keeping its other lines; True if written."""
    text = read_text(path) or ""
    lines = text.splitlines(keepends=True)
    entry = f"{name}={value}\n"
    for index, line in enumerate(lines):
        if line.split("=", 1)[0].strip().removeprefix("export ").strip() == name:
            if line.rstrip("\r\n") == entry.rstrip("\n") and _mode(path) == 0o600:
                return False
            lines[index] = entry
            break
    else:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(entry)
    _atomic_write(Path(os.path.realpath(path)), "".join(lines), 0o600)
    return True


def parsed_value(path: Path, fmt: str) -> Any:
    """The parsed content of a file, or None when it is absent or unreadable as config."""
    try:
        text = read_text(path)
        return None if text is None else load(path, fmt, text).value
    except ConfigWriteError:
        return None
