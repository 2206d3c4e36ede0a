"""API keys: the lookup order, the OS keyring and secrets-file stores, `keys test`, the import from
the npm peer.

Headless: never imports textual, rich, the ui and cli packages, the servers, the fleet or
the integrations.
"""
