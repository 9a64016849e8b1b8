"""Test tiers: the default run (what CI runs), and a quick one for everyday work.

``ACCELSIM_TESTS=quick pytest`` runs the default tests with a tenth of their random examples
(at least three), less those marked ``heavy`` (conftest.py skips them); the thorough tier is
``pytest -m slow``.
"""

import os

QUICK = os.environ.get("ACCELSIM_TESTS") == "quick"


def examples(count: int) -> int:
    """Random examples for a property test: ``count``, or a tenth of it in the quick tier."""
    return max(3, count // 10) if QUICK else count
