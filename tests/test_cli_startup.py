"""What a command imports at start: its own module, not every command's."""

from __future__ import annotations

import argparse
import subprocess
import sys

from freemodels.cli import COMMANDS, SUMMARIES, build_parser
from programs import fresh_python


def test_the_summaries_are_the_commands_own_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {action.dest: action.help for action in sub._choices_actions}
    assert helps == SUMMARIES
    assert set(SUMMARIES) == set(COMMANDS)


def test_a_command_imports_only_its_own_module() -> None:
    code = (
        "import contextlib, io, sys\n"
        "from freemodels.cli import main\n"
        "shown = io.StringIO()\n"
        "with contextlib.redirect_stdout(shown):\n"
        "    try:\n"
        "        main(['--catalog', 'x.toml', 'check', '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert '--rounds' in shown.getvalue(), 'check options are there'\n"
        "print(sorted(m for m in sys.modules if m.startswith('freemodels.cli.')))\n"
    )
    loaded = fresh_python(code)
    for other in ("serve", "use", "watch", "keys", "providers", "stats"):
        assert f"freemodels.cli.{other}'" not in loaded, loaded


def test_the_top_level_help_lists_every_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "freemodels", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    for name, summary in SUMMARIES.items():
        assert name in proc.stdout
        assert summary.split()[0] in proc.stdout


def test_commands_without_a_loop_do_not_import_asyncio() -> None:
    """`keys list` must start fast: the event loop's machinery (and what it pulls in) is for
    the commands that send requests."""
    code = (
        "import sys\n"
        "from freemodels.cli import main\n"
        "main(['keys', 'list'])\n"
        "print('asyncio' in sys.modules)\n"
    )
    assert fresh_python(code) == "False"
