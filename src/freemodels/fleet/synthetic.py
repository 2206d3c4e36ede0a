"""Uniform synthetic fleets for benchmarks, and a catalog for any fleet.

`bench-0 … bench-N-1`, each with models `m-0 …`, all answering alike: the benchmark measures the
client, so the server must be boring and cheap.
"""

from __future__ import annotations

import json
import re

from freemodels.fleet.server import Behaviour, Fleet


def configure_uniform(
    fleet: Fleet, *, providers: int, models_per_provider: int, behaviour: Behaviour
) -> None:
    """Add `providers` keyless providers of `models_per_provider` models sharing one behaviour."""
    for p in range(providers):
        for m in range(models_per_provider):
            fleet.set(f"bench-{p}", f"m-{m}", behaviour)


def catalog_toml(fleet: Fleet, *, rpm: int | None = None) -> str:
    """A providers.toml for every provider and model of a started fleet (http URLs).

    Keyless providers get `key_required = false`; a keyed one names `<ID>_API_KEY` (upper case,
    '-' and '.' as '_'), which must hold the key the fleet requires.
    """
    lines = ["# A catalog for a freemodels.fleet on loopback.", "schema_version = 1"]
    for provider, models in fleet.providers().items():
        lines += [
            "",
            f"[providers.{json.dumps(provider)}]",
            f"name = {json.dumps(provider)}",
            f"base_url = {json.dumps(fleet.base_url(provider))}",
            f"api_key_env = [{json.dumps(key_env(provider))}]",
            'signup_url = "https://example.invalid/signup"',
            f"key_required = {'true' if fleet.key(provider) is not None else 'false'}",
        ]
        if rpm is not None:
            lines.append(f"rpm = {rpm}")
        for model in models:
            context = fleet.behaviour(provider, model).context or 131072
            lines += [
                "",
                f"[[providers.{json.dumps(provider)}.models]]",
                f"id = {json.dumps(model)}",
                f"name = {json.dumps(model)}",
                f"context = {context}",
            ]
    return "\n".join(lines) + "\n"


def key_env(provider: str) -> str:
    """The key variable catalog_toml names for a provider: `bench-0` → `BENCH_0_API_KEY`."""
    return re.sub(r"[^A-Z0-9]", "_", provider.upper()) + "_API_KEY"
