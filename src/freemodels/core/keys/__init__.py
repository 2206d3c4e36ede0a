"""API keys: the lookup order, the OS keyring and secrets-file stores, `keys test`, the import from
the npm peer.

Headless: never imports textual, rich, freemodels.ui, freemodels.cli, the servers, the fleet or
the integrations.
"""
