"""The shipped checkpoints were made by the recipes as committed: the recipe recorded in each
checkpoint for ``pretrain``, the dense twin and the shipped stage is what
``python -m workloads.recipe`` would run for that stage today (run folders aside)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

pytest.importorskip("torch")

from workloads.compact import read_checkpoint  # noqa: E402
from workloads.recipe import PLANS, finals, stages  # noqa: E402
from workloads.train import Recipe  # noqa: E402


def comparable(recipe: dict) -> dict:
    """A recipe with its model paths reduced to the stage they name (the run folder is the user's)
    and every field an older checkpoint lacks at its default (the behaviour before the field)."""
    recipe = {**asdict(Recipe()), **recipe}
    return {key: Path(value).parent.name if key in ("warm_start", "teacher") and value else value
            for key, value in recipe.items()}


@pytest.mark.parametrize("model", sorted(PLANS))
def test_the_shipped_checkpoint_is_the_committed_recipe_s(model):
    plan = PLANS[model]
    saved = read_checkpoint(plan.checkpoint)
    planned = stages(Path("runs"), plan)
    twin, candidates = finals(planned)
    assert saved["stage"] in candidates
    for recorded, stage in ((saved["pretrain"]["recipe"], "pretrain"), (saved["dense_twin"]["recipe"], twin),
                            (saved["recipe"], saved["stage"])):
        assert comparable(recorded) == comparable(asdict(planned[stage])), stage
