"""What the doc tests share: the repository's docs read once, their sections found by heading
(with an error naming a heading that is gone), and the spread study's module, loaded once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def section(text: str, start: str, end: str, where: str = "README.md") -> str:
    """The part of ``text`` between ``start`` and the next ``end``."""
    assert start in text and end in text.split(start, 1)[1], f"{where}: {start!r} … {end!r} not found"
    return text.split(start, 1)[1].split(end, 1)[0]


def flat(text: str) -> str:
    """``text`` on one line, runs of white space as one space (a sentence survives rewrapping)."""
    return " ".join(text.split())


def spread_study():
    """``notebooks/cgnet_spread.py`` as a module (its points, configs and traces)."""
    if "cgnet_spread" not in sys.modules:
        spec = importlib.util.spec_from_file_location("cgnet_spread", ROOT / "notebooks" / "cgnet_spread.py")
        module = sys.modules["cgnet_spread"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["cgnet_spread"]
