"""The catalog: `providers.toml` parsed and merged with the user overlay, its lint, live refresh,
and the one lookup from a `ModelRef` to its provider and model (`Catalog.find`).

Headless: never imports textual, rich, the ui and cli packages, the servers, the fleet or
the integrations.
"""
