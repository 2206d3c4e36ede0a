"""What happens before the first probe: the key lookup that needs no keyring, the env key first."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from freemodels.core.keys.lookup import KeyRing
from freemodels.core.keys.os_keyring import NO_BACKEND, KeyringStore, keyring_unreachable
from freemodels.core.probe.clients import ClientPool
from freemodels.core.probe.prober import Prober
from freemodels.core.records import Model, Provider

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the D-Bus shortcut applies to Linux only"
)


@pytest.fixture
def headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    core = sys.modules.get("keyring.core")
    if core is not None:
        monkeypatch.setattr(core, "_keyring_backend", None)


@linux_only
def test_without_a_dbus_session_the_keyring_is_known_missing(headless: None) -> None:
    if keyring_unreachable() is False:
        pytest.skip("a third-party keyring backend (keyrings.*) is installed here")
    store = KeyringStore()
    assert store.check() == NO_BACKEND
    assert store.missing


@linux_only
def test_anything_that_could_give_keyring_a_backend_keeps_it_in_use(
    headless: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
    assert not keyring_unreachable()
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    assert not keyring_unreachable()
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    config = tmp_path / "cfg"
    (config / "python_keyring").mkdir(parents=True)
    (config / "python_keyring" / "keyringrc.cfg").write_text("[backend]\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    assert not keyring_unreachable()


def test_a_backend_set_in_this_process_is_used() -> None:
    from keyring.backends import fail

    from keys_fixtures import installed

    with installed(fail.Keyring()):
        assert not keyring_unreachable()


async def test_a_key_in_the_environment_never_waits_for_the_stores() -> None:
    """The stores' factory would block: a provider whose key is in the environment is answered
    without it, at once (no thread), so its first probe goes out while the stores load."""

    def stores() -> tuple[()]:
        raise AssertionError("the key stores were consulted for a key in the environment")

    provider = Provider("p", "P", "http://127.0.0.1:9/v1", ("P_KEY",), "https://x.invalid",
                        models=(Model("m", "M", 8192),))  # fmt: skip
    keys = KeyRing(stores, env={"P_KEY": "sk-env"})
    async with ClientPool() as pool:
        prober = Prober(pool, keys)
        future = prober.prefetch(provider)
        assert future.done()
        resolved = future.result()
        assert resolved is not None and resolved.source == "env:P_KEY"
