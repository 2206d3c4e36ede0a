"""The `freemodels` command: argument parsing and dispatch.

Each subcommand lives in its own module exposing `add_parser(subparsers)` and `run(args) -> int`;
heavy imports happen inside `run`, so `freemodels check` never pays for Textual. The bare command
opens the dashboard.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Collection, Sequence
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
    "router": "freemodels.cli.router",
    "ledger": "freemodels.cli.ledger",
}

# What `freemodels --help` lists for each command, so a command imports only its own module
# (importing them all cost a good part of `check`'s start). tests/test_cli_startup.py keeps
# these equal to the modules' own help.
SUMMARIES = {
    "check": "ping every model now and print the ranking",
    "best": "print provider/model of the top usable model",
    "stats": "ranked aggregates from the stored history (no requests)",
    "watch": "print one JSON object per model update until interrupted",
    "providers": "list the catalog's providers and models, or refresh them from the live lists",
    "keys": "list, set, remove, test or import API keys",
    "use": "write a model into a coding tool's config",
    "serve": "run the monitor headless, with Prometheus metrics, a web dashboard, a router",
    "router": "run the monitor with only the router: one local OpenAI and Anthropic endpoint",
    "ledger": "which request ledger is in use, its health, budgets left and who spent them",
}
# Commands whose event loop carries many sockets at once get uvloop (freemodels.runtime); the
# others would only pay for importing it.
_LOOP_COMMANDS = {None, "check", "best", "watch", "serve", "router"}
# Global options that take a value: the word after them is not the command.
_VALUED = {"--catalog", "--debug"}

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


def build_parser(*, commands: bool | Collection[str] = True) -> _Parser:
    """The argument parser: every subcommand registered in full (True), none (False), or only
    the named ones in full and the rest by name and summary."""
    parser = _Parser(
        prog="freemodels",
        description="Find the fastest working free LLM endpoint and put it into your coding tool.",
        epilog="Run `freemodels` with no command to open the live dashboard; every command "
        "above runs headless and none of them opens it. `freemodels COMMAND --help` says more.",
    )
    parser.commands = {}
    parser.add_argument("--version", action="version", version=f"freemodels {__version__}")
    _global_options(parser, suppress=False)
    if commands is False:
        parser.set_defaults(command=None)
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        if commands is True or name in commands:
            command_parser = importlib.import_module(module_name).add_parser(sub)
        else:
            command_parser = sub.add_parser(name, help=SUMMARIES[name])
        parser.commands[name] = command_parser
        _global_options(command_parser, suppress=True)
        command_parser.set_defaults(_module=module_name)
    return parser


def _named_command(argv: Sequence[str]) -> tuple[str, ...]:
    """The command the arguments name (its module is the only one imported), if any."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _VALUED:
            skip = True
        elif not word.startswith("-"):
            return (word,) if word in COMMANDS else ()
    return ()


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
        parser = build_parser(commands=_named_command(argv))
        args, rest = parser.parse_known_args(argv)
        if rest:
            # An unknown option after a command is that command's misuse: point to its help.
            owner = parser.commands.get(args.command or "", parser)
            owner.error(f"unrecognized arguments: {' '.join(rest)}")
    from freemodels.debuglog import configure as configure_debug_log
    from freemodels.runtime import install_event_loop

    try:
        if getattr(args, "demo", False) and getattr(args, "catalog", None):
            raise UsageError(
                "--demo runs on the simulated fleet's own catalog; --catalog cannot replace it",
                "drop one of --demo and --catalog",
            )
        configure_debug_log(args.debug)
        if args.command in _LOOP_COMMANDS:
            install_event_loop()
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


def entry() -> NoReturn:
    """The console script: run the command, then leave without tearing the interpreter down.

    Freeing every module and object one by one takes about a tenth of a second after a sweep,
    which nobody waits for on purpose. The output is flushed and the logs closed first; with a
    non-daemon thread still running, or a tracer or coverage watching, the exit is the ordinary
    one.
    """
    import logging
    import os
    import threading

    from freemodels.runtime import leave_at_once

    # A tracer, profiler or coverage saves its data at the ordinary exit.
    watched = sys.gettrace() or sys.getprofile() or "coverage" in sys.modules
    if not watched:
        leave_at_once()
    code = main()
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if watched or any(t.is_alive() and not t.daemon for t in others):
        # What was left open (the history database, sockets) is closed by the ordinary exit.
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # a reader that went away (`| head`): nothing left to tell it
        pass
    logging.shutdown()
    os._exit(code)
