"""scripts/screenshot.py still draws the README's picture: a ranked demo dashboard as SVG.

The numbers are measured, so they differ each run: the test checks the shape, not the bytes.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


def test_the_script_saves_a_ranked_dashboard(isolated_home: Path, tmp_path: Path) -> None:
    output = tmp_path / "dashboard.svg"
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshot.py"), "--output", str(output),
         "--samples", "2", "--timeout", "120"],
        capture_output=True, text=True, timeout=240, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "measured rows" in done.stdout
    svg = output.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<svg")
    text = html.unescape(svg).replace("\xa0", " ")
    assert "DEMO" in text and "freemodels" in text
    assert "Provider" in text and "TTFT" in text  # the table's header
    assert len(re.findall(r"\b\d+ ms\b", text)) >= 10  # measured rows, not a blank table
    assert re.search(r">UP\b", text)  # a Status cell
    # Nothing of the user's was touched: the history went to a temporary directory.
    assert not list((isolated_home / "xdg_data_home").rglob("*.sqlite3"))


def test_the_readme_shows_the_picture() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/dashboard.svg)" in readme
    assert (ROOT / "docs" / "dashboard.svg").read_text(encoding="utf-8").lstrip().startswith("<svg")
