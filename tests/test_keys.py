"""Key lookup and the key stores: environment, OS keyring, the 0600 secrets file."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring.backends import chainer, fail, null

from freemodels import paths
from freemodels.core.keys.lookup import (
    KeyRing,
    ResolvedKey,
    clean_key,
    key_format_warning,
    mask,
)
from freemodels.core.keys.os_keyring import (
    KeyringStore,
    SecretsFileStore,
    default_keyring,
    keyring_problem,
)
from freemodels.core.records import Provider
from freemodels.errors import KeyStoreError, UsageError
from keys_fixtures import BrokenKeyring, HangingKeyring, LockedKeyring, MemoryKeyring, installed
from programs import fresh_python

SENTINEL = "gsk_SENTINEL7f3a9c2e41d8b6SENTINELzz42"


def provider(pid: str = "groq", env: tuple[str, ...] = ("GROQ_API_KEY",)) -> Provider:
    return Provider(pid, pid.title(), f"https://{pid}.example/v1", env, f"https://{pid}.example/k")


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with installed(MemoryKeyring()) as backend:
        assert isinstance(backend, MemoryKeyring)
        yield backend


@pytest.fixture
def no_keyring() -> Iterator[None]:
    with installed(fail.Keyring()):
        yield


# -- values ----------------------------------------------------------------------------------


def test_mask_shows_prefix_and_last_four_only() -> None:
    assert mask("gsk_abcdefghijklmnopa1b2") == "gsk_…a1b2"
    assert mask("nvapi-abcdefghijkl9z9z") == "nva…9z9z"
    assert mask("short") == "…rt"
    # Too short to show any of it, yet never a bare "…" (a replaced key read as "(…)").
    assert mask("x") == "…(1 character)" and mask("xy") == "…(2 characters)"
    assert "SENTINEL" not in mask(SENTINEL)


def test_resolved_key_repr_hides_the_value() -> None:
    assert SENTINEL not in repr(ResolvedKey(SENTINEL, "keyring"))


def test_clean_key_trims_and_refuses_empty_or_broken_keys() -> None:
    assert clean_key("  gsk_abc123  \n") == "gsk_abc123"
    with pytest.raises(UsageError, match="empty"):
        clean_key(" \n\t")
    with pytest.raises(UsageError, match="spaces, line breaks"):
        clean_key("gsk_one\ngsk_two\n")


def test_format_warning_only_for_known_prefixes() -> None:
    assert key_format_warning("groq", "gsk_abc") is None
    assert key_format_warning("nvidia", "nvapi-abc") is None
    warning = key_format_warning("groq", "sk-or-v1-abc")
    assert warning is not None and "'gsk_'" in warning and "stored anyway" in warning
    assert key_format_warning("some-new-provider", "anything") is None


# -- lookup order ----------------------------------------------------------------------------


class DictStore:
    def __init__(self, name: str, keys: dict[str, str]) -> None:
        self.name = name
        self.keys = keys

    def get(self, provider_id: str) -> str | None:
        return self.keys.get(provider_id)


def test_environment_first_then_stores_in_order() -> None:
    p = provider(env=("GROQ_API_KEY", "GROQ_KEY"))
    first, second = DictStore("keyring", {"groq": "gsk_ring"}), DictStore("file", {"groq": "x"})
    ring = KeyRing([first, second], env={"GROQ_KEY": " gsk_env2 "})
    assert ring.resolve(p) == ResolvedKey("gsk_env2", "env:GROQ_KEY")
    ring = KeyRing([first, second], env={"GROQ_API_KEY": "gsk_env1", "GROQ_KEY": "gsk_env2"})
    assert ring.resolve(p) == ResolvedKey("gsk_env1", "env:GROQ_API_KEY")
    ring = KeyRing([first, second], env={})
    assert ring.resolve(p) == ResolvedKey("gsk_ring", "keyring")
    assert KeyRing([second], env={}).resolve(provider("other")) is None


def test_status_reports_source_masked_and_shadowed_stores() -> None:
    store = DictStore("keyring", {"groq": "gsk_stored0000"})
    ring = KeyRing([store], env={"GROQ_API_KEY": SENTINEL})
    status = ring.status(provider())
    assert status.configured and status.source == "env:GROQ_API_KEY"
    assert status.masked == mask(SENTINEL) and status.shadowed == ("keyring",)
    assert SENTINEL not in repr(status)
    missing = KeyRing([], env={}).status(provider())
    assert not missing.configured and missing.masked is None
    assert missing.signup_url == "https://groq.example/k"


# -- the OS keyring --------------------------------------------------------------------------


def test_keyring_round_trip_when_a_backend_works(memory_keyring: MemoryKeyring) -> None:
    said: list[str] = []
    ring = default_keyring(interactive=False, env={}, warn=said.append)
    assert [s.name for s in ring.stores] == ["keyring", "file"]
    stored = ring.store_key(provider(), SENTINEL)
    assert stored.store == "keyring" and stored.replaced is None
    assert memory_keyring.passwords == {("freemodels", "groq"): SENTINEL}
    assert ring.resolve(provider()) == ResolvedKey(SENTINEL, "keyring")
    again = ring.store_key(provider(), "gsk_newer0000000")
    assert again.replaced == mask(SENTINEL)
    assert ring.remove_key("groq") == ("keyring",)
    assert ring.resolve(provider()) is None
    assert ring.remove_key("groq") == ()
    assert not paths.secrets_path().exists()
    assert said == []


def test_store_key_names_the_environment_override(memory_keyring: MemoryKeyring) -> None:
    ring = default_keyring(interactive=False, env={"GROQ_API_KEY": "gsk_env"}, warn=print)
    assert ring.store_key(provider(), "gsk_stored").env_override == "GROQ_API_KEY"


def test_keyring_problems_are_detected() -> None:
    assert keyring_problem(fail.Keyring()) is not None
    assert keyring_problem(null.Keyring()) is not None  # priority -1: keyring disabled
    assert keyring_problem(MemoryKeyring()) is None


def test_an_empty_chainer_is_no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
    problem = keyring_problem(chainer.ChainerBackend())
    assert problem is not None and "no backend" in problem


def test_a_hanging_keyring_times_out_warns_once_and_steps_aside() -> None:
    backend = HangingKeyring()
    said: list[str] = []
    store = KeyringStore(timeout=0.2, backend=backend, warn=said.append)
    try:
        started = time.monotonic()
        assert store.get("groq") is None
        assert store.get("cerebras") is None
        # The keyring hangs for 30 s; the store gives up at its 0.2 s timeout, once.
        assert time.monotonic() - started < 10.0
        assert backend.calls == 1 and not store.available
        assert len(said) == 1 and "did not answer within 0.2 s" in said[0]
        ring = KeyRing([store, SecretsFileStore(warn=said.append)], env={})
        assert ring.resolve(provider()) is None  # goes on without the keyring
        # ...but a key meant for the keyring never lands in the plaintext file behind its back.
        with pytest.raises(KeyStoreError, match="cannot be used now"):
            ring.store_key(provider(), SENTINEL)
        with pytest.raises(KeyStoreError, match="cannot be used now"):
            ring.remove_key("groq")
        assert not paths.secrets_path().exists()
    finally:
        backend.release.set()


def test_a_locked_keyring_refuses_writes_instead_of_falling_back() -> None:
    with installed(LockedKeyring()):
        ring = default_keyring(interactive=False, env={}, warn=lambda _: None)
        with pytest.raises(KeyStoreError, match="refused the change: KeyringLocked"):
            ring.store_key(provider(), SENTINEL)
    assert not paths.secrets_path().exists()


def test_a_hanging_keyring_at_startup_falls_back_to_the_file() -> None:
    backend = HangingKeyring()
    said: list[str] = []
    import freemodels.core.keys.os_keyring as keystores

    try:
        with installed(backend):
            original = keystores.NONINTERACTIVE_TIMEOUT_S
            keystores.NONINTERACTIVE_TIMEOUT_S = 0.2
            try:
                ring = default_keyring(interactive=False, env={}, warn=said.append)
            finally:
                keystores.NONINTERACTIVE_TIMEOUT_S = original
            # get_keyring() itself answered; the first real call hangs and is abandoned.
            assert ring.resolve(provider()) is None
            assert any("did not answer" in s for s in said)
    finally:
        backend.release.set()


def test_a_broken_keyring_hands_writes_to_the_file() -> None:
    said: list[str] = []
    with installed(BrokenKeyring()):
        ring = default_keyring(interactive=False, env={}, warn=said.append)
        stored = ring.store_key(provider(), SENTINEL)
    assert stored.store == "file" and stored.fallback_reason is not None
    assert "InitError" in stored.fallback_reason
    assert stat.S_IMODE(paths.secrets_path().stat().st_mode) == 0o600
    assert ring.resolve(provider()) == ResolvedKey(SENTINEL, "file")


# -- the secrets file ------------------------------------------------------------------------


def test_without_keyring_the_file_is_used_and_said_once(no_keyring: None) -> None:
    said: list[str] = []
    ring = default_keyring(interactive=False, env={}, warn=said.append)
    assert [s.name for s in ring.stores] == ["file"]
    assert said == [], "nothing is said until a key is looked up in a store"
    ring.resolve(provider())
    ring.resolve(provider())
    assert len(said) == 1
    assert "no OS keyring available" in said[0] and "secrets.toml (0600)" in said[0]


def test_secrets_file_round_trip_is_0600_from_creation(
    no_keyring: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_chmod(*args: object, **kwargs: object) -> None:
        raise AssertionError("the secrets file must be created 0600, never chmod-ed")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    old_umask = os.umask(0)  # the widest umask: the mode must still come out 0600
    try:
        ring = default_keyring(interactive=False, env={}, warn=lambda _: None)
        ring.store_key(provider(), SENTINEL)
        ring.store_key(provider("cerebras", ("CEREBRAS_API_KEY",)), "csk-second0000")
    finally:
        os.umask(old_umask)
    path = paths.secrets_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    fresh = default_keyring(interactive=False, env={}, warn=lambda _: None)
    assert fresh.resolve(provider()) == ResolvedKey(SENTINEL, "file")
    status = fresh.status(provider())
    assert status.source == "file" and status.masked == mask(SENTINEL)
    assert fresh.remove_key("groq") == ("file",)
    assert fresh.resolve(provider()) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert fresh.remove_key("cerebras") == ("file",)
    assert not path.exists()
    assert os.listdir(path.parent) == []  # no temp or lock file left behind


def test_secrets_file_escapes_awkward_values(tmp_path: Path) -> None:
    store = SecretsFileStore(tmp_path / "s.toml")
    awkward = 'a"b\\c\u00e9'
    store.set("odd.id", awkward)
    assert SecretsFileStore(tmp_path / "s.toml").get("odd.id") == awkward


def test_a_readable_secrets_file_is_warned_about(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[keys]\ngroq = "gsk_x"\n')
    path.chmod(0o644)
    said: list[str] = []
    assert SecretsFileStore(path, warn=said.append).get("groq") == "gsk_x"
    assert len(said) == 1 and "chmod 600" in said[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f'[keys]\ngroq = "{SENTINEL}\n', "not valid TOML"),
        (f'groq = "{SENTINEL}"\n', "unknown key 'groq'"),
        ("[keys]\ngroq = 3\n", "keys.groq must be a string"),
    ],
)
def test_a_bad_secrets_file_is_a_clear_error_without_its_content(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "s.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, text.encode())
    os.close(fd)
    with pytest.raises(KeyStoreError, match=message) as caught:
        SecretsFileStore(path).get("groq")
    assert SENTINEL not in str(caught.value)


def test_core_key_modules_stay_headless() -> None:
    code = (
        "import sys, freemodels.core.keys.lookup, freemodels.core.keys.os_keyring, "
        "freemodels.core.keys.verify, "
        "freemodels.core.keys.peer_import; "
        # Not rich: httpx itself imports it (for its own command line) when it is installed.
        "bad = [m for m in ('textual', 'freemodels.ui', 'freemodels.cli') if m in sys.modules]; "
        "print(bad)"
    )
    assert fresh_python(code) == "[]"


def test_a_broken_secrets_file_is_reported_when_the_keyring_is_built(no_keyring: None) -> None:
    path = paths.secrets_path()
    path.parent.mkdir(parents=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"[keys\n")
    os.close(fd)
    with pytest.raises(KeyStoreError, match=r"secrets\.toml is not valid TOML"):
        default_keyring(interactive=False, env={}, warn=lambda _: None)
