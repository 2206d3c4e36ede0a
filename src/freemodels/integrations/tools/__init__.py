"""One module per coding tool: where its config lives and the edits that put a pick into it.

Each module exposes `TOOL`, an `Integration`, and imports only `integrations.base`, the formats and
the core records; shared helpers live in `integrations.base`, never in another tool's module (an
import-linter contract holds them apart; Kilo, a fork of OpenCode, subclasses its writer).
"""
