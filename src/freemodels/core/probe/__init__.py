"""Probing: HTTP clients and TLS, one probe timed to its first token, SSE reading, failure
texts, and the Prober every request goes through (budget gate, concurrency cap, 429 pauses).

Headless: never imports textual, rich, the ui and cli packages, the servers, the fleet or
the integrations.
"""
