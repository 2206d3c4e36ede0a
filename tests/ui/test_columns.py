"""How the ranking table's columns share the width: nothing that matters is cut or hidden."""

from __future__ import annotations

import pytest

from freemodels.ui.columns import CELL_PADDING, COLUMNS, sort_arrow, visible_columns
from freemodels.ui.preferences import SORTS

# The widest cells of a real fleet: long provider names, 5-digit times, a long status.
CONTENT = {
    "rank": 3, "tier": 2, "model": 33, "provider": 24, "provider_id": 13, "ttft": 9, "p50": 9,
    "p95": 9, "samples": 3, "availability": 4, "stability": 3, "status": 17, "context": 4, "swe": 3,
}  # fmt: skip
NUMBERS = ("rank", "ttft", "p50", "p95", "samples", "availability", "stability", "context", "swe")


def keys(width: int, sort: str = "rank", content: dict[str, int] = CONTENT) -> list[str]:
    return [c.key for c in visible_columns(width, content, sort=sort)]


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("reverse", [False, True])
def test_the_sort_column_shows_at_every_width_and_numbers_are_never_cut(
    sort: str, reverse: bool
) -> None:
    for width in range(40, 260):
        shown = visible_columns(width, CONTENT, sort=sort, reverse=reverse)
        by_key = {c.key: c for c in shown}
        assert any(c.sort == sort for c in shown), (width, sort)
        sorted_by = next(c for c in shown if c.sort == sort)
        assert sorted_by.label.endswith(sort_arrow(sort, reverse))
        for key in ("rank", "model", "ttft", "status"):
            assert key in by_key, (width, key)
        for key in NUMBERS:
            if key in by_key:
                assert by_key[key].width >= CONTENT[key], (width, key)
        # Provider names are whole, or the ids stand in for them (whole too).
        assert not ("provider" in by_key and "provider_id" in by_key)
        if "provider" in by_key:
            assert by_key["provider"].width >= CONTENT["provider"]
        if "provider_id" in by_key:
            assert by_key["provider_id"].width >= CONTENT["provider_id"]
        used = sum(c.width + 2 * CELL_PADDING for c in shown)
        if width >= 80:
            assert used <= width, (width, sort)


def test_more_columns_as_the_width_grows() -> None:
    at_80, at_120, at_200 = keys(78), keys(118), keys(200)
    assert at_80 == ["rank", "model", "provider_id", "ttft", "p50", "status"]
    # The provider names replace the ids once they fit.
    assert set(at_80) - {"provider_id"} < set(at_120) < set(at_200)
    assert "samples" in at_120 and "availability" in at_120 and "provider" in at_120
    assert len(at_200) == len(COLUMNS) - 1  # the provider ids stand in only when names do not fit


def test_a_hidden_sort_column_is_shown_in_place_of_a_lesser_one() -> None:
    assert "swe" not in keys(78)
    assert "swe" in keys(78, sort="swe")
    assert "p50" not in keys(78, sort="swe") or "provider_id" not in keys(78, sort="swe")


def test_short_names_leave_room_for_more_columns() -> None:
    short = {**CONTENT, "model": 12, "provider": 10, "status": 12, "ttft": 6, "p50": 6, "p95": 6}
    assert "samples" in keys(78, content=short)
    assert "provider" in keys(78, content=short)


@pytest.mark.parametrize(
    ("sort", "reverse", "arrow"),
    [
        ("ttft", False, "↑"),  # fastest first: smallest values first
        ("ttft", True, "↓"),
        ("model", False, "↑"),  # A to Z
        ("model", True, "↓"),
        ("availability", False, "↓"),  # most available first
        ("rank", False, "↑"),
    ],
)
def test_an_arrow_names_the_direction_of_the_values(sort: str, reverse: bool, arrow: str) -> None:
    assert sort_arrow(sort, reverse) == arrow
