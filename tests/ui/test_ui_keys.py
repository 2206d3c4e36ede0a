"""The keys screen (`p`): the cursor keys the help promises, and what a replaced key shows."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from canned import make_app
from textual.widgets import DataTable, Input

from freemodels.core.keys.lookup import KeyRing
from freemodels.core.keys.os_keyring import SecretsFileStore
from freemodels.ui.app import DashboardApp
from freemodels.ui.screens.keys import KeysScreen

WIDE = (160, 48)


def with_store(app: DashboardApp, store: SecretsFileStore) -> None:
    app.services = replace(app.services, keys=KeyRing([store], env=dict(os.environ)))


async def type_key(app: DashboardApp, pilot: object, key: str) -> None:
    await pilot.press("a")  # type: ignore[attr-defined]
    assert isinstance(app.screen.focused, Input)
    await pilot.press(*key, "enter")  # type: ignore[attr-defined]
    await app.workers.wait_for_complete()
    await pilot.pause()  # type: ignore[attr-defined]


async def test_j_and_k_move_the_cursor_so_a_edits_the_row_under_it(tmp_path: Path) -> None:
    store = SecretsFileStore(tmp_path / "secrets.toml")
    app = make_app(tmp_path, env={})
    with_store(app, store)
    async with app.run_test(size=WIDE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, KeysScreen)
        table = app.screen.query_one("#keys-table", DataTable)
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1  # cerebras, the catalog's second provider
        await type_key(app, pilot, "csk-abcdefgh5678")
        assert str(table.get_cell("cerebras", "key")) == "csk…5678"
        assert str(table.get_cell("groq", "key")) == "-"
    assert store.get("cerebras") == "csk-abcdefgh5678"
    assert store.get("groq") is None


async def test_a_replaced_key_shows_masked_old_and_new(tmp_path: Path) -> None:
    store = SecretsFileStore(tmp_path / "secrets.toml")
    store.set("groq", "gsk_oldoldold1111")
    app = make_app(tmp_path, env={})
    with_store(app, store)
    async with app.run_test(size=WIDE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("p")
        await pilot.pause()
        await type_key(app, pilot, "gsk_newnewnew2222")
        table = app.screen.query_one("#keys-table", DataTable)
        assert str(table.get_cell("groq", "key")) == "gsk_…2222"
        saved = [n.message for n in app._notifications if n.title == "Key saved"]
        assert len(saved) == 1
        assert "key gsk_…2222 stored in" in saved[0]
        assert "replacing gsk_…1111" in saved[0]
        assert "newnewnew" not in saved[0] and "oldoldold" not in saved[0]


async def test_a_replaced_key_loses_the_old_keys_test_verdict(tmp_path: Path) -> None:
    from freemodels.core.keys.verify import KeyTestResult, KeyVerdict

    store = SecretsFileStore(tmp_path / "secrets.toml")
    store.set("groq", "gsk_oldoldold1111")
    app = make_app(tmp_path, env={})

    class Services(type(app.services)):  # type: ignore[misc]
        def test_key(self, provider_id: str) -> KeyTestResult:
            return KeyTestResult(provider_id, KeyVerdict.REJECTED, "HTTP 401", 401)

    app.services = Services(app.catalog, KeyRing([store], env=dict(os.environ)), tmp_path / "h")
    async with app.run_test(size=WIDE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("t")
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#keys-table", DataTable)
        assert str(table.get_cell("groq", "test")) == "rejected"
        await type_key(app, pilot, "gsk_newnewnew2222")
        assert str(table.get_cell("groq", "test")) == ""  # the verdict was about the old key
