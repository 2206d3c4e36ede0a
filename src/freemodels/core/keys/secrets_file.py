"""The secrets file: keys in a 0600 TOML file, for machines where no OS keyring works."""

from __future__ import annotations

import contextlib
import os
import threading
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from freemodels import paths
from freemodels.core.keys.lookup import Warn, say_once
from freemodels.debuglog import register_secret
from freemodels.errors import KeyStoreError


class SecretsFileStore:
    """Keys in a TOML file made with mode 0600 (never chmod-ed), replaced atomically."""

    name = "file"

    def __init__(self, path: Path | None = None, *, warn: Warn = say_once) -> None:
        self._path = path
        self._warn = warn
        self._lock = threading.Lock()
        self._cache: tuple[tuple[int, int, int], dict[str, str]] | None = None
        self._announce: Callable[[], None] | None = None

    def announce(self, notice: Callable[[], None]) -> None:
        """Call `notice` once, when this store is first used."""
        self._announce = notice

    def _announced(self) -> None:
        notice, self._announce = self._announce, None
        if notice is not None:
            notice()

    @property
    def path(self) -> Path:
        """The secrets file."""
        return self._path if self._path is not None else paths.secrets_path()

    @property
    def location(self) -> str:
        """The file's path, home shown as `~`."""
        return _tilde(self.path)

    @property
    def available(self) -> bool:
        """The file store always takes writes."""
        return True

    def exists(self) -> bool:
        """Whether the file exists."""
        return self.path.exists()

    def get(self, provider_id: str) -> str | None:
        """The key stored in the file, if any."""
        self._announced()
        return self.read().get(provider_id)

    def read(self) -> dict[str, str]:
        """Every stored key by provider id (empty without a file)."""
        path = self.path
        try:
            st = path.stat()
        except FileNotFoundError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            if self._cache is not None and self._cache[0] == stamp:
                return dict(self._cache[1])
        if st.st_mode & 0o077:
            self._warn(
                f"{_tilde(path)} is readable by other users (mode {st.st_mode & 0o777:o}); "
                f"run: chmod 600 {_tilde(path)}"
            )
        keys = _parse_secrets(_read_text(path), path)
        with self._lock:
            self._cache = (stamp, keys)
        return dict(keys)

    def set(self, provider_id: str, value: str) -> None:
        """Save (or replace) the key."""
        self._announced()
        register_secret(value)
        with self._locked():
            keys = self.read()
            keys[provider_id] = value
            self._write(keys)

    def delete(self, provider_id: str) -> bool:
        """Delete the key; whether there was one. The file goes when its last key does."""
        with self._locked():
            keys = self.read()
            if provider_id not in keys:
                return False
            del keys[provider_id]
            if keys:
                self._write(keys)
            else:
                self.path.unlink()
            return True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Two `keys set` at once must not lose one key: an advisory lock, taken on the directory
        # so that no lock file is left lying around.
        path = self.path
        _make_private_dir(path.parent)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            try:
                import fcntl
            except ImportError:  # Windows: no advisory locks; the writes stay atomic anyway
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, keys: Mapping[str, str]) -> None:
        path = self.path
        text = _render_secrets(keys)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            # Created 0600 from the first byte; a chmod afterwards would leave a window.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise KeyStoreError(
                f"cannot write {_tilde(path)}: {exc.strerror or type(exc).__name__}",
                "check the permissions of that directory",
            ) from None
        with self._lock:
            self._cache = None


_HEADER = (
    "# freemodels API keys, written by `freemodels keys set` because no OS keyring was available.\n"
    "# Mode 0600: keep it private. Edit with `freemodels keys set/rm`.\n"
)


def _render_secrets(keys: Mapping[str, str]) -> str:
    lines = [_HEADER, "[keys]"]
    lines += [f"{_toml_string(pid)} = {_toml_string(value)}" for pid, value in sorted(keys.items())]
    return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyStoreError(
            f"cannot read {_tilde(path)}: {getattr(exc, 'strerror', None) or type(exc).__name__}",
            "fix its permissions, or delete it and set the keys again",
        ) from None


def _parse_secrets(text: str, path: Path) -> dict[str, str]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message names a line and column, never the file's content.
        raise KeyStoreError(
            f"{_tilde(path)} is not valid TOML ({exc})",
            "fix it, or delete it and set the keys again",
        ) from None
    extra = sorted(set(raw) - {"keys"})
    if extra:
        raise KeyStoreError(
            f"{_tilde(path)}: unknown key '{extra[0]}' (only a [keys] table belongs there)",
            'keys go under [keys] as provider = "key"',
        )
    table = raw.get("keys", {})
    if not isinstance(table, dict):
        raise KeyStoreError(
            f"{_tilde(path)}: 'keys' must be a table", 'write [keys], then id = "key" lines'
        )
    keys: dict[str, str] = {}
    for pid, value in table.items():
        if not isinstance(value, str):
            raise KeyStoreError(
                f"{_tilde(path)}: keys.{pid} must be a string", f'write {pid} = "the key"'
            )
        if value.strip():
            register_secret(value.strip())
            keys[pid] = value.strip()
    return keys


def _make_private_dir(directory: Path) -> None:
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700, exist_ok=True)


def _tilde(path: Path) -> str:
    home = Path.home()
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)
