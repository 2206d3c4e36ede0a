"""Content checks on a parsed catalog: the faults a strict parser cannot see.

The parser rejects what is malformed (types, unknown keys); this module finds what is well-formed
but wrong, the faults found in peer catalogs: a tier that contradicts its SWE-bench score,
embedding or guard models that can never answer a chat ping, a label naming another version than
its id, duplicate entries. It runs on the bundled catalog (in tests) and on user overlays
(`providers --json` and `providers refresh` report its findings).

The checks that depend on today's date (an end date that has passed) run only when `today` is
given: in the lint step (`python -m freemodels.core.catalog.lint`, run by CI after the tests),
never in a unit test, so that a model's shutdown day cannot turn unrelated changes red.
"""

from __future__ import annotations

import datetime as dt
import re

from freemodels.core.catalog.parse import TIERS, Catalog, ended
from freemodels.core.records import Model, ModelRef, Provider

# Lower bounds of each tier on the SWE-bench Verified scale (percent), best first.
TIER_FLOORS: tuple[tuple[str, float], ...] = (
    ("S+", 70.0),
    ("S", 60.0),
    ("A+", 50.0),
    ("A", 40.0),
    ("A-", 35.0),
    ("B+", 30.0),
    ("B", 20.0),
    ("C", 0.0),
)
assert tuple(tier for tier, _ in TIER_FLOORS) == TIERS

# Models that cannot answer a chat completion: embeddings, rerankers, safety classifiers, speech.
NOT_CHAT = re.compile(
    r"embed|rerank|(^|[/_.:-])bge([/_.:-]|$)|guard|content-safety|moderation|whisper|transcribe",
    re.IGNORECASE,
)
# Services known to be gone (docs/catalog.md, "Sources"): listing one again is a mistake
# whatever its `until` says.
RETIRED_PROVIDERS: dict[str, dt.date] = {
    "github-models": dt.date(
        2026, 7, 30
    ),  # GitHub changelog 2026-07-30 "GitHub Models is now retired"
}
# Providers whose free use is a one-time credit, not a renewing tier: they must say so.
TRIAL_PROVIDERS = frozenset({"cerebras", "sambanova", "scaleway", "qwen", "novita"})
# An end date this close is announced in the lint step's output, before it fails it.
WARN_AHEAD = dt.timedelta(days=14)
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_VERSION = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.])")


def tier_for(swe_bench: float) -> str:
    """The tier a SWE-bench Verified score (percent) falls in."""
    for tier, floor in TIER_FLOORS:
        if swe_bench >= floor:
            return tier
    return TIER_FLOORS[-1][0]


def validate_catalog(
    catalog: Catalog, *, bundled: bool = False, today: dt.date | None = None
) -> list[str]:
    """Every content problem of the catalog, one line each ("provider/model: what"); [] if none.

    `bundled` adds the rules only the shipped file must follow (https everywhere, a verification
    date on every provider); `today` adds the date-dependent ones (no end date in the past).
    """
    problems: list[str] = []
    seen: set[ModelRef] = set()
    for provider in catalog.providers:
        problems.extend(_provider_problems(provider, bundled=bundled))
        if today is not None:
            problems.extend(_date_problems(provider, today))
        for model in provider.models:
            ref = ModelRef(provider.id, model.id)
            if ref in seen:
                problems.append(f"{ref}: listed twice")
            seen.add(ref)
            problems.extend(f"{ref}: {p}" for p in _model_problems(model, bundled=bundled))
    return problems


def upcoming_ends(catalog: Catalog, today: dt.date) -> list[str]:
    """End dates within WARN_AHEAD of today, one line each: what the lint step warns about."""
    lines: list[str] = []
    soon = today + WARN_AHEAD
    for provider in catalog.providers:
        if provider.until is not None and today < provider.until <= soon:
            lines.append(f"{provider.id}: ends on {provider.until.isoformat()}")
        for model in provider.models:
            if model.until is not None and today < model.until <= soon:
                lines.append(f"{provider.id}/{model.id}: ends on {model.until.isoformat()}")
    return lines


def _date_problems(provider: Provider, today: dt.date) -> list[str]:
    problems: list[str] = []
    if ended(provider.until, today):
        assert provider.until is not None
        problems.append(f"{provider.id}: ended on {provider.until.isoformat()}; remove it")
    for model in provider.models:
        if ended(model.until, today):
            assert model.until is not None
            problems.append(
                f"{provider.id}/{model.id}: ended on {model.until.isoformat()}; remove it"
            )
    if provider.verified is not None and provider.verified > today:
        problems.append(f"{provider.id}: verified {provider.verified.isoformat()} is in the future")
    return problems


def _provider_problems(provider: Provider, *, bundled: bool) -> list[str]:
    problems: list[str] = []
    where = provider.id
    if not provider.models:
        problems.append(f"{where}: has no model")
    schemes = ("https://",) if bundled else ("https://", "http://")
    if not provider.base_url.startswith(schemes):
        problems.append(f"{where}: base_url {provider.base_url!r} is not {' or '.join(schemes)}")
    # The parser lets a user's own server leave these out; the shipped catalog fills them all.
    if (bundled or provider.signup_url) and not provider.signup_url.startswith("https://"):
        problems.append(f"{where}: signup_url {provider.signup_url!r} is not https://")
    if bundled and not provider.api_key_env:
        problems.append(f"{where}: api_key_env is empty")
    for name in provider.api_key_env:
        if not _ENV_NAME.match(name):
            problems.append(f"{where}: api_key_env {name!r} is not an environment variable name")
    for name, value in provider.headers:
        if "://" in value and bundled and not value.startswith("https://"):
            problems.append(f"{where}: header {name!r} is not an https:// URL")
    retired = RETIRED_PROVIDERS.get(provider.id)
    if retired is not None:
        problems.append(f"{where}: the service was retired on {retired.isoformat()}; remove it")
    if provider.id in TRIAL_PROVIDERS and not provider.trial:
        problems.append(f'{where}: its free use is a one-time trial credit: set free = "trial"')
    if provider.keyless and provider.key_required:
        problems.append(f'{where}: free = "keyless" but key_required is true')
    if bundled and provider.verified is None:
        problems.append(f"{where}: no verification date: set verified = YYYY-MM-DD")
    return problems


def _model_problems(model: Model, *, bundled: bool) -> list[str]:
    problems: list[str] = []
    if model.context is None:
        if bundled:
            problems.append("context is missing")
    elif model.context <= 0:
        problems.append(f"context {model.context} is not a positive number of tokens")
    if model.max_output is not None and model.context and model.max_output > model.context:
        problems.append(f"max_output {model.max_output} exceeds context {model.context}")
    if NOT_CHAT.search(model.id) or NOT_CHAT.search(model.name):
        problems.append("looks like an embedding/rerank/guard model, which cannot answer a chat")
    if model.swe_bench is not None:
        expected = tier_for(model.swe_bench)
        if model.tier is not None and model.tier != expected:
            score = f"{model.swe_bench:g}"
            problems.append(f"tier {model.tier!r} contradicts swe_bench {score} ({expected!r})")
    if not model.name.strip():
        problems.append("name is empty")
    problems.extend(_label_problems(model))
    return problems


def _label_problems(model: Model) -> list[str]:
    # A version number in the label must appear in the id ("GLM 5.1" on z-ai/glm-5.2 is wrong).
    normalized_id = re.sub(r"[-_]", ".", model.id.lower())
    return [
        f"name {model.name!r} names version {version} but the id does not"
        for version in _VERSION.findall(model.name)
        if version not in normalized_id
    ]


def main(argv: list[str] | None = None) -> int:
    """The lint step: check the bundled catalog against today's date; exit 1 on a problem."""
    import argparse
    import sys

    from freemodels.core.catalog.parse import load_catalog

    parser = argparse.ArgumentParser(
        prog="python -m freemodels.core.catalog.lint",
        description="Check the bundled catalog, including end dates against today.",
    )
    parser.add_argument("--today", type=dt.date.fromisoformat, help="check as of this date")
    args = parser.parse_args(argv)
    today: dt.date = args.today or dt.date.today()
    catalog = load_catalog()
    for line in upcoming_ends(catalog, today):
        print(f"catalog lint: warning: {line}", file=sys.stderr)
    problems = validate_catalog(catalog, bundled=True, today=today)
    for problem in problems:
        print(f"catalog lint: {problem}", file=sys.stderr)
    if problems:
        print(f"catalog lint: {len(problems)} problem(s) in providers.toml", file=sys.stderr)
        return 1
    print(f"catalog lint: providers.toml is clean as of {today.isoformat()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
