"""Writers for coding tools' config files: `registry` (what the CLI and the dashboard call),
`base` (the Integration class and the helpers tools share), `formats/` (parsing, minimal edits,
the careful writer) and `tools/` (one module per tool).

Headless: imports only the core; never textual, rich, the ui or cli packages.
"""
