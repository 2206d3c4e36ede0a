"""The catalog's staleness rules: free kinds, end dates, verification dates and their notices.

Every date here is fixed: the lint's date-dependent step runs in CI (`python -m
freemodels.core.catalog.lint`), never as a unit test that would change its result with the
calendar. tests/data/catalog/lint/ holds one faulty catalog per rule.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from freemodels.core.catalog import lint
from freemodels.core.catalog.lint import upcoming_ends, validate_catalog
from freemodels.core.catalog.notices import catalog_notices, catalog_today
from freemodels.core.catalog.parse import Catalog, load_catalog, parse_catalog
from freemodels.errors import CatalogError, UsageError

LINT = Path(__file__).resolve().parent / "data" / "catalog" / "lint"
TODAY = dt.date(2026, 11, 30)


def lint_file(name: str, today: dt.date | None = TODAY) -> list[str]:
    path = LINT / name
    catalog = parse_catalog(path.read_text(encoding="utf-8"), str(path))
    return validate_catalog(catalog, bundled=True, today=today)


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "freemodels", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )


# -- one faulty catalog per rule ------------------------------------------------------------


def test_a_model_past_its_end_date_fails_the_lint() -> None:
    assert lint_file("past_end_date.toml") == [
        "groq/llama-3.3-70b-versatile: ended on 2026-08-16; remove it"
    ]
    # The same file is clean before that day: the rule is about the date, not the field.
    assert lint_file("past_end_date.toml", dt.date(2026, 8, 15)) == []


def test_a_retired_provider_still_listed_fails_the_lint() -> None:
    problems = lint_file("retired_provider.toml")
    assert problems == ["github-models: the service was retired on 2026-07-30; remove it"]


def test_a_missing_verification_date_fails_the_bundled_lint() -> None:
    assert lint_file("missing_verified.toml") == [
        "mistral: no verification date: set verified = YYYY-MM-DD"
    ]


def test_a_trial_provider_without_the_trial_marker_fails_the_lint() -> None:
    assert lint_file("trial_without_marker.toml") == [
        'cerebras: its free use is a one-time trial credit: set free = "trial"'
    ]


def test_a_provider_past_its_end_date_fails_the_lint() -> None:
    assert lint_file("ended_provider.toml") == ["sunset: ended on 2026-07-30; remove it"]


def test_date_rules_stay_out_of_the_unit_tests_without_a_date() -> None:
    # Without `today` only the date-free rules run: what tests/test_catalog.py applies.
    assert lint_file("past_end_date.toml", today=None) == []


def test_a_verification_date_in_the_future_is_a_typo() -> None:
    problems = lint_file("ended_provider.toml", dt.date(2026, 6, 1))
    assert "alive: verified 2026-11-01 is in the future" in problems


def test_end_dates_within_two_weeks_are_announced() -> None:
    path = LINT / "past_end_date.toml"
    catalog = parse_catalog(path.read_text(encoding="utf-8"), str(path))
    assert upcoming_ends(catalog, dt.date(2026, 8, 10)) == [
        "groq/llama-3.3-70b-versatile: ends on 2026-08-16"
    ]
    assert upcoming_ends(catalog, dt.date(2026, 7, 1)) == []


# -- the lint step -------------------------------------------------------------------------------


def test_lint_step_is_clean_on_the_bundled_catalog_as_of_its_verification(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert lint.main(["--today", "2026-11-30"]) == 0
    assert "clean as of 2026-11-30" in capsys.readouterr().out


def test_lint_step_exits_1_naming_each_problem(capsys: pytest.CaptureFixture[str]) -> None:
    # A day before every verification date: each provider's date is then "in the future".
    assert lint.main(["--today", "2026-01-01"]) == 1
    err = capsys.readouterr().err
    assert "catalog lint: groq: verified 2026-11-30 is in the future" in err
    assert err.rstrip().endswith("problem(s) in providers.toml")


# -- the format ----------------------------------------------------------------------------------


HEAD = """schema_version = 1
[providers.acme]
name = "Acme"
base_url = "https://api.acme.test/v1"
api_key_env = ["ACME_API_KEY"]
signup_url = "https://acme.test/keys"
"""
MODEL = '[[providers.acme.models]]\nid = "m"\nname = "M"\ncontext = 8192\n'


def test_free_kind_defaults_to_a_renewing_tier() -> None:
    (provider,) = parse_catalog(HEAD + MODEL, "t").providers
    assert (provider.free, provider.until, provider.verified) == ("tier", None, None)
    assert provider.key_required and not provider.trial and not provider.keyless


def test_keyless_providers_need_no_key() -> None:
    text = HEAD + 'free = "keyless"\nverified = 2026-11-30\nuntil = 2027-01-01\n' + MODEL
    (provider,) = parse_catalog(text, "t").providers
    assert provider.keyless and provider.key_required is False
    assert provider.verified == TODAY and provider.until == dt.date(2027, 1, 1)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('free = "forever"\n', "key 'free' must be one of tier, trial, keyless"),
        ('free = "keyless"\nkey_required = true\n', 'free = "keyless" contradicts'),
        ('verified = "yesterday"\n', "key 'verified' has the wrong type"),
        ("until = 2026\n", "key 'until' has the wrong type"),
    ],
)
def test_bad_free_fields_are_one_line_errors(extra: str, expected: str) -> None:
    with pytest.raises(CatalogError) as info:
        parse_catalog(HEAD + extra + MODEL, "t.toml")
    assert expected in str(info.value) and "\n" not in str(info.value)


# -- a retired provider disappears with one notice ---------------------------------------------


def test_ended_provider_is_hidden_with_one_notice() -> None:
    path = LINT / "ended_provider.toml"
    catalog = parse_catalog(path.read_text(encoding="utf-8"), str(path))
    assert catalog_notices(catalog, TODAY, bundled=False) == [
        "Sunset AI (sunset) ended on 2026-07-30: its models are hidden"
    ]
    assert [p.id for p in catalog.without_expired(TODAY).providers] == ["alive"]
    # The day before its end it is still there, without a notice.
    day_before = dt.date(2026, 7, 29)
    assert catalog_notices(catalog, day_before, bundled=False) == []
    assert len(catalog.without_expired(day_before).providers) == 2


def test_cli_hides_an_ended_provider_with_a_one_line_notice() -> None:
    result = run_cli("providers", "--json", "--catalog", str(LINT / "ended_provider.toml"))
    assert result.returncode == 0, result.stderr
    assert [p["id"] for p in json.loads(result.stdout)] == ["alive"]
    assert result.stderr.splitlines() == [
        "freemodels: note: Sunset AI (sunset) ended on 2026-07-30: its models are hidden"
    ]


# -- a stale bundled catalog says so once ---------------------------------------------------------


def test_stale_hint_after_sixty_days_of_the_newest_verification() -> None:
    bundled = load_catalog()
    newest = max(p.verified for p in bundled.providers if p.verified is not None)
    assert catalog_notices(bundled, newest + dt.timedelta(days=60), bundled=True) == []
    assert catalog_notices(bundled, newest + dt.timedelta(days=61), bundled=True) == [
        "the catalog is 61 days old; run `freemodels providers refresh`"
    ]
    # A --catalog file is the user's own: no hint about the bundled one.
    assert catalog_notices(bundled, newest + dt.timedelta(days=99), bundled=False) == []


def test_cli_says_the_stale_hint_once_on_stderr() -> None:
    result = run_cli("providers", "--json", FREEMODELS_TODAY="2027-03-01")
    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)  # stdout stays one JSON document
    assert result.stderr.splitlines() == [
        "freemodels: note: the catalog is 91 days old; run `freemodels providers refresh`"
    ]


def test_today_override_must_be_a_date() -> None:
    assert catalog_today({"FREEMODELS_TODAY": "2026-11-30"}) == TODAY
    with pytest.raises(UsageError):
        catalog_today({"FREEMODELS_TODAY": "soon"})


def test_catalog_today_defaults_to_the_calendar() -> None:
    assert isinstance(catalog_today({}), dt.date)


def test_empty_catalog_has_no_notice() -> None:
    assert catalog_notices(Catalog(()), TODAY, bundled=True) == []
