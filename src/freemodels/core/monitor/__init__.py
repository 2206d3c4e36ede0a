"""The continuous monitor: the loop (`monitor`), which model to probe when (`scheduler`), the
rate-budget ledger (`budget`), each model's sliding sample window (`windows`), the pure
statistics (`stats`) and the fan-out of Snapshots to subscribers (`broadcast`).

Headless: never imports textual, rich, the ui and cli packages, the servers, the fleet or
the integrations. SQL lives in `core.store`, except the ledger's own table updates in `budget`.
"""
