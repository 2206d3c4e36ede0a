"""One module per coding tool: where its config lives and the edits that put a pick into it.

Each module exposes `TOOL`, an `Integration`; shared helpers live in `integrations.base`, never in
another tool's module.
"""
