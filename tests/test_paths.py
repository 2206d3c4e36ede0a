"""Where files go on Linux: the XDG Base Directory rules, applied without platformdirs."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs
import pytest

from freemodels import paths

pytestmark = pytest.mark.skipif(
    sys.platform in ("darwin", "win32"), reason="platformdirs answers there"
)

KINDS = (
    ("XDG_CONFIG_HOME", ".config", paths.config_dir, platformdirs.user_config_dir),
    ("XDG_DATA_HOME", ".local/share", paths.data_dir, platformdirs.user_data_dir),
    ("XDG_STATE_HOME", ".local/state", paths.state_dir, platformdirs.user_state_dir),
    ("XDG_CACHE_HOME", ".cache", paths.cache_dir, platformdirs.user_cache_dir),
)


@pytest.mark.parametrize(("variable", "default", "ours", "theirs"), KINDS)
def test_an_absolute_xdg_variable_is_used_as_platformdirs_uses_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, default: str,
    ours: object, theirs: object,
) -> None:  # fmt: skip
    monkeypatch.setenv(variable, str(tmp_path / "xdg"))
    assert ours() == tmp_path / "xdg" / "freemodels"  # type: ignore[operator]
    assert ours() == Path(theirs("freemodels", appauthor=False))  # type: ignore[operator]


@pytest.mark.parametrize(("variable", "default", "ours", "theirs"), KINDS)
@pytest.mark.parametrize("value", [None, "", "relative/dir"])
def test_an_unset_empty_or_relative_xdg_variable_falls_back_to_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, default: str,
    ours: object, theirs: object, value: str | None,
) -> None:  # fmt: skip
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if value is None:
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, value)
    assert ours() == tmp_path / "home" / default / "freemodels"  # type: ignore[operator]
    if value is None:
        assert ours() == Path(theirs("freemodels", appauthor=False))  # type: ignore[operator]


def test_a_freemodels_override_wins_over_xdg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("FREEMODELS_DATA_DIR", str(tmp_path / "mine"))
    assert paths.history_path() == tmp_path / "mine" / "history.sqlite3"
