"""`freemodels watch`."""

from __future__ import annotations

import argparse
from typing import Any

from freemodels.errors import FreemodelsError


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `watch`."""
    parser: argparse.ArgumentParser = sub.add_parser("watch", help="(not built yet)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Not built yet."""
    raise FreemodelsError("'watch' is not built yet")
