"""The formats of other tools' config files and the one careful writer: lenient JSONC/JSON5 parsing,
minimal text edits to JSON and YAML, the edits tool modules ask for, atomic writes with a backup.

Headless: knows nothing of any one tool; never imports textual, rich,
the ui or cli packages.
"""
