"""The preferences file: overlapping saves never fail and the newest preferences win."""

from __future__ import annotations

import threading
import tomllib
from dataclasses import replace
from pathlib import Path

from canned import make_app

from freemodels.ui import preferences
from freemodels.ui.preferences import SORTS, Preferences


def test_many_concurrent_saves_all_succeed_and_leave_one_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "config" / "preferences.toml"
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def saver(index: int) -> None:
        start.wait()
        for round_ in range(20):
            try:
                sort = SORTS[(index + round_) % len(SORTS)]
                preferences.save(path, Preferences(sort=sort, reverse=bool(index % 2)))
            except BaseException as exc:  # the test reports every failure, whatever it is
                errors.append(exc)

    threads = [threading.Thread(target=saver, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    loaded, warning = preferences.load(path)
    assert warning is None
    assert loaded.sort in SORTS
    assert [p.name for p in path.parent.iterdir()] == ["preferences.toml"]  # no temp file left


def test_a_failed_save_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "preferences.toml"
    path.mkdir()  # a directory where the file should be: os.replace refuses
    try:
        preferences.save(path, Preferences())
    except preferences.PreferencesError as exc:
        assert "cannot save preferences" in str(exc)
    else:
        raise AssertionError("saving over a directory succeeded")
    assert [p.name for p in tmp_path.iterdir()] == ["preferences.toml"]


async def test_pressing_s_and_shift_s_fast_saves_without_errors(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*("s", "S") * 15, "s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        errors = [n.message for n in app._notifications if n.severity == "error"]
        assert errors == []
        final = app.dashboard.prefs
    saved = tomllib.loads((tmp_path / "preferences.toml").read_text())
    assert (saved["sort"], saved["reverse"]) == (final.sort, final.reverse)
    assert replace(final, text="") == preferences.load(tmp_path / "preferences.toml")[0]
