"""The `freemodels` command: argument parsing and dispatch.

Each subcommand lives in its own module exposing `add_parser(subparsers)` and `run(args) -> int`;
heavy imports happen inside `run`, so `freemodels check` never pays for Textual. The bare command
opens the dashboard.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from freemodels import __version__
from freemodels.errors import FreemodelsError, UsageError

# Subcommand name → module; the module registers its own arguments.
COMMANDS = {
    "check": "freemodels.cli.check",
    "best": "freemodels.cli.best",
    "stats": "freemodels.cli.stats",
    "watch": "freemodels.cli.watch",
    "providers": "freemodels.cli.providers",
    "keys": "freemodels.cli.keys",
    "use": "freemodels.cli.use",
    "serve": "freemodels.cli.serve",
}

EXIT_USAGE = 2
EXIT_NOTHING_USABLE = 3


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line with a hint, exit 2.

    See docs/architecture.md, "Command line".
    """

    commands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"freemodels: {message} (see '{self.prog} --help')\n")


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # Subparsers re-declare the globals with SUPPRESS defaults so `freemodels check --demo` and
    # `freemodels --demo check` both work without the subcommand resetting what the root parsed.
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--demo",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="run on the built-in simulated fleet (no keys, no network)",
    )
    parser.add_argument(
        "--catalog", metavar="PATH", default=default, help="use this catalog, not the bundled one"
    )
    parser.add_argument(
        "--debug", metavar="FILE", default=default, help="write a redacted debug log to FILE"
    )


def build_parser(*, commands: bool = True, only: str | None = None) -> _Parser:
    """The argument parser, with every subcommand registered unless `commands` is False (or
    only the one named `only`)."""
    parser = _Parser(
        prog="freemodels",
        description="Find the fastest working free LLM endpoint and put it into your coding tool.",
        epilog="Run `freemodels` with no command to open the live dashboard; every command "
        "above runs headless and none of them opens it. `freemodels COMMAND --help` says more.",
    )
    parser.commands = {}
    parser.add_argument("--version", action="version", version=f"freemodels {__version__}")
    _global_options(parser, suppress=False)
    if not commands:
        parser.set_defaults(command=None)
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(module_name)
        command_parser = module.add_parser(sub)
        parser.commands[command_parser.prog.split()[-1]] = command_parser
        _global_options(command_parser, suppress=True)
        command_parser.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = None
    if not {"-h", "--help"} & set(argv):
        # The bare command (the dashboard) does not register the subcommands: importing every
        # command module would delay the first probe, which the dashboard starts before its UI.
        args, rest = build_parser(commands=False).parse_known_args(argv)
        args = None if rest else args
    if args is None:
        # Only the command asked for registers its arguments: importing every command module
        # would cost `stats` the probe stack's imports (httpx, aiohttp: a third of a second).
        named = next((word for word in argv if not word.startswith("-")), None)
        parser = build_parser(only=named if named in COMMANDS else None)
        args, rest = parser.parse_known_args(argv)
        if rest:
            # An unknown option after a command is that command's misuse: point to its help.
            owner = parser.commands.get(args.command or "", parser)
            owner.error(f"unrecognized arguments: {' '.join(rest)}")
    from freemodels.debuglog import configure as configure_debug_log

    try:
        if getattr(args, "demo", False) and getattr(args, "catalog", None):
            raise UsageError(
                "--demo runs on the simulated fleet's own catalog; --catalog cannot replace it",
                "drop one of --demo and --catalog",
            )
        configure_debug_log(args.debug)
        if args.command is None:
            from freemodels.cli import dashboard

            return dashboard.run(args)
        module = importlib.import_module(args._module)
        code: int = module.run(args)
        return code
    except FreemodelsError as exc:
        # Errors are diagnostics on a failing exit path: stderr, one line, no traceback.
        print(f"freemodels: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `freemodels check | head`: the reader left; say nothing more (Python's docs' recipe).
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
