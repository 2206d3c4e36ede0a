"""The catalog: `providers.toml` parsed and merged with the user overlay, its lint, live refresh.

Headless: never imports textual, rich, freemodels.ui, freemodels.cli, the servers or the fleet.
"""
