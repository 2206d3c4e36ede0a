"""What the user is told once about the catalog itself: retired providers, and a stale catalog.

A retired provider (its `until` has come) is hidden with one line instead of a row per model that
can never answer; a bundled catalog whose newest verification is older than STALE_AFTER gets one
hint to refresh it. Both are lines for stderr, said once per command, never per row.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping

from freemodels.core.catalog.parse import Catalog
from freemodels.errors import UsageError

STALE_AFTER = dt.timedelta(days=60)
TODAY_ENV = "FREEMODELS_TODAY"


def catalog_today(env: Mapping[str, str] | None = None) -> dt.date:
    """Today for the catalog's dates; FREEMODELS_TODAY=YYYY-MM-DD overrides it (tests, demos)."""
    source = os.environ if env is None else env
    value = source.get(TODAY_ENV)
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{TODAY_ENV}={value!r} is not a date", "use YYYY-MM-DD, or unset it"
        ) from None


def newest_verification(catalog: Catalog) -> dt.date | None:
    """The most recent `verified` date of the catalog's providers, if any has one."""
    dates = [p.verified for p in catalog.providers if p.verified is not None]
    return max(dates) if dates else None


def catalog_notices(catalog: Catalog, today: dt.date, *, bundled: bool) -> list[str]:
    """One line per retired provider, and the stale-catalog hint for the bundled catalog."""
    lines = [
        f"{p.name} ({p.id}) ended on {p.until.isoformat()}: its models are hidden"
        for p in catalog.ended(today)
        if p.until is not None
    ]
    newest = newest_verification(catalog)
    if bundled and newest is not None and today - newest > STALE_AFTER:
        days = (today - newest).days
        lines.append(f"the catalog is {days} days old; run `freemodels providers refresh`")
    return lines
