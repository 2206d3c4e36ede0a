"""Kilo CLI (and the Kilo VS Code extension): OpenCode's format in `kilo.json(c)`."""

from __future__ import annotations

from freemodels.integrations.tools.opencode import OpenCode


class Kilo(OpenCode):
    """Kilo reads `$XDG_CONFIG_HOME/kilo/kilo.jsonc`, `kilo.json`, then legacy `opencode.json`."""

    name = "kilo"
    title = "Kilo"
    install_hint = "npm install -g @kilocode/cli (or see https://kilo.ai/cli)"
    executable = "kilo"
    env_override = "KILO_CONFIG"
    folder = "kilo"
    file_names = ("kilo.jsonc", "kilo.json", "opencode.jsonc", "opencode.json")
    schema_url = "https://app.kilo.ai/config.json"
    project_files = ("kilo.jsonc", "kilo.json", ".kilo/kilo.jsonc", ".kilo/kilo.json")


TOOL = Kilo()
