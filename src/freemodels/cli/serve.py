"""`freemodels serve`."""

from __future__ import annotations

import argparse
from typing import Any

from freemodels.errors import FreemodelsError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `serve`."""
    parser: argparse.ArgumentParser = sub.add_parser("serve", help="(not built yet)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Not built yet."""
    raise FreemodelsError("'serve' is not built yet")
