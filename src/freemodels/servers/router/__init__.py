"""The router (`serve --router`): one local endpoint that answers from the best model now.

OpenAI chat completions and Anthropic Messages in, OpenAI-compatible providers out, with
failover before the first token. Owns: pick (names, candidates), route (failover, budget,
samples), upstream (one attempt), stream (a committed answer), openai / anthropic / messages
(the protocols), tokens (estimates), groups (router.toml), metrics, app (routes, access rules,
lifecycle). Imports the core and the servers' shared code, never the UI or the CLI.
"""
