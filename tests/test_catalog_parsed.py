"""Parsed catalog text kept in the cache folder: the same tables as tomllib's, never stale, and a
cache that is damaged, unwritable or missing only costs the parse."""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from freemodels import paths
from freemodels.core.catalog.parse import bundled_catalog_text, load_catalog
from freemodels.core.catalog.parsed import cached_tables, keep_tables
from freemodels.errors import CatalogError
from programs import fresh_python

CATALOG = """\
schema_version = 1
[providers.solo]
name = "Solo"
base_url = "http://127.0.0.1:9/v1"
signup_url = "http://127.0.0.1:9"
key_required = false
until = 2027-03-01
[[providers.solo.models]]
id = "m"
name = "M"
context = 131072
until = 2027-01-15
"""


def entry() -> Path:
    (kept,) = paths.cache_dir().glob("catalog-file-*.marshal")
    return kept


def slot() -> str:
    return entry().name.removeprefix("catalog-").removesuffix(".marshal")


def test_two_catalog_files_used_in_turn_keep_one_entry_each(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(CATALOG, encoding="utf-8")
    (tmp_path / "b.toml").write_text(CATALOG.replace("Solo", "Duo"), encoding="utf-8")
    for name in ("a", "b", "a", "b"):
        load_catalog(tmp_path / f"{name}.toml")
    kept = sorted(paths.cache_dir().glob("catalog-file-*.marshal"))
    assert len(kept) == 2
    texts = {(tmp_path / f"{n}.toml").read_text(encoding="utf-8") for n in ("a", "b")}
    slots = [p.name.removeprefix("catalog-").removesuffix(".marshal") for p in kept]
    assert all(any(cached_tables(t, s) is not None for s in slots) for t in texts)


def test_a_second_read_gives_the_same_catalog_from_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG, encoding="utf-8")
    first = load_catalog(path)
    assert entry().is_file()
    assert cached_tables(CATALOG, slot()) == tomllib.loads(CATALOG)  # dates put back as dates
    assert load_catalog(path) == first
    assert first.providers[0].models[0].until == dt.date(2027, 1, 15)


def test_the_bundled_catalog_comes_back_whole() -> None:
    text = bundled_catalog_text()
    keep_tables(text, "bundled", tomllib.loads(text))
    assert cached_tables(text, "bundled") == tomllib.loads(text)


def test_an_edited_catalog_is_never_read_stale(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG, encoding="utf-8")
    load_catalog(path)
    edited = CATALOG.replace('name = "M"', 'name = "N"')  # same length, same second
    path.write_text(edited, encoding="utf-8")
    assert load_catalog(path).providers[0].models[0].name == "N"
    assert cached_tables(CATALOG, slot()) is None  # the entry now holds the edited text


def test_a_broken_catalog_is_an_error_every_time_and_is_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG + "\n[providers.solo\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(CatalogError, match="not valid TOML"):
            load_catalog(path)
    assert not list(paths.cache_dir().glob("catalog-*"))


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"\x00not marshal at all",
        b"\xe9\x02\x00\x00\x00",  # a truncated tuple
        "marshal:a text alone",
        "marshal:a bad date path",
        "marshal:another format",
    ],
)
def test_a_damaged_entry_costs_only_the_parse(tmp_path: Path, damage: bytes | str) -> None:
    import marshal

    from freemodels.core.catalog.parsed import FORMAT

    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG, encoding="utf-8")
    expected = load_catalog(path)
    if isinstance(damage, str):
        damage = {
            "marshal:a text alone": marshal.dumps(CATALOG),
            "marshal:a bad date path": marshal.dumps(
                (FORMAT, CATALOG, {"providers": {}}, [(("providers", "gone", 3), 1)])
            ),
            "marshal:another format": marshal.dumps(((0, 0), CATALOG, {}, [])),
        }[damage]
    entry().write_bytes(damage)

    assert cached_tables(CATALOG, slot()) is None
    assert load_catalog(path) == expected
    assert cached_tables(CATALOG, slot()) is not None  # kept again, whole


def test_times_and_datetimes_are_parsed_every_time_not_kept() -> None:
    text = "a = 2027-01-15T10:00:00Z\nb = 10:00:00\n"
    keep_tables(text, "overlay", tomllib.loads(text))
    assert cached_tables(text, "overlay") is None
    assert not (paths.cache_dir() / "catalog-overlay.marshal").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_cache_folder_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG, encoding="utf-8")
    folder = paths.cache_dir()
    folder.mkdir(parents=True)
    folder.chmod(0o500)
    try:
        assert load_catalog(path).providers[0].id == "solo"
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_an_unwritable_cache_leaves_no_partial_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Root writes anywhere: a full disk stands for every failed write."""

    def full(self: Path, data: bytes) -> int:
        self.touch()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    keep_tables(CATALOG, "file", tomllib.loads(CATALOG))
    assert list(paths.cache_dir().iterdir()) == []


def test_a_partial_file_that_cannot_be_removed_is_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Path, data: bytes) -> int:
        raise PermissionError(13, "Permission denied")

    def cannot_remove(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_bytes", refuse)
    monkeypatch.setattr(Path, "unlink", cannot_remove)
    keep_tables(CATALOG, "file", tomllib.loads(CATALOG))  # best effort: nothing raised


def test_a_cached_read_does_not_import_tomllib(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG, encoding="utf-8")
    load_catalog(path)  # kept
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from freemodels.core.catalog.parse import load_catalog\n"
        f"assert load_catalog(Path({str(path)!r})).providers[0].id == 'solo'\n"
        "print('tomllib' in sys.modules)\n"
    )
    assert fresh_python(code) == "False"


KEYS = st.text(min_size=1, max_size=8)
SCALARS = (
    st.text(max_size=20)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.dates()
)
TABLES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=30,
)


@given(tables=st.dictionaries(KEYS, TABLES, max_size=6), text=st.text(max_size=40))
def test_any_tables_come_back_equal_and_typed(tables: dict[str, Any], text: str) -> None:
    keep_tables(text, "file", tables)
    back = cached_tables(text, "file")
    assert back == tables
    assert _types(back) == _types(tables)  # a date stays a date, a bool a bool


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value]
    return type(value)
