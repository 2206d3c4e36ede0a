"""Content checks on a parsed catalog: the faults a strict parser cannot see.

The parser rejects what is malformed (types, unknown keys); this module finds what is well-formed
but wrong, the faults found in peer catalogs: a tier that contradicts its SWE-bench score,
embedding or guard models that can never answer a chat ping, a label naming another version than
its id, duplicate entries. It runs on the bundled catalog (in tests) and on user overlays
(`providers --json` and `providers refresh` report its findings).
"""

from __future__ import annotations

import re

from freemodels.core.catalog.parse import TIERS, Catalog
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
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_VERSION = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.])")


def tier_for(swe_bench: float) -> str:
    """The tier a SWE-bench Verified score (percent) falls in."""
    for tier, floor in TIER_FLOORS:
        if swe_bench >= floor:
            return tier
    return TIER_FLOORS[-1][0]


def validate_catalog(catalog: Catalog, *, bundled: bool = False) -> list[str]:
    """Every content problem of the catalog, one line each ("provider/model: what"); [] if none.

    `bundled` adds the rules only the shipped file must follow (https everywhere).
    """
    problems: list[str] = []
    seen: set[ModelRef] = set()
    for provider in catalog.providers:
        problems.extend(_provider_problems(provider, bundled=bundled))
        for model in provider.models:
            ref = ModelRef(provider.id, model.id)
            if ref in seen:
                problems.append(f"{ref}: listed twice")
            seen.add(ref)
            problems.extend(f"{ref}: {p}" for p in _model_problems(model))
    return problems


def _provider_problems(provider: Provider, *, bundled: bool) -> list[str]:
    problems: list[str] = []
    where = provider.id
    if not provider.models:
        problems.append(f"{where}: has no model")
    schemes = ("https://",) if bundled else ("https://", "http://")
    if not provider.base_url.startswith(schemes):
        problems.append(f"{where}: base_url {provider.base_url!r} is not {' or '.join(schemes)}")
    if not provider.signup_url.startswith("https://"):
        problems.append(f"{where}: signup_url {provider.signup_url!r} is not https://")
    for name in provider.api_key_env:
        if not _ENV_NAME.match(name):
            problems.append(f"{where}: api_key_env {name!r} is not an environment variable name")
    for name, value in provider.headers:
        if "://" in value and bundled and not value.startswith("https://"):
            problems.append(f"{where}: header {name!r} is not an https:// URL")
    return problems


def _model_problems(model: Model) -> list[str]:
    problems: list[str] = []
    if model.context <= 0:
        problems.append(f"context {model.context} is not a positive number of tokens")
    if model.max_output is not None and model.max_output > model.context:
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
