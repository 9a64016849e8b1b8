"""The shipped model's recipe, end to end: dense pre-training, then the same fine-tuning budget
for the gated model and for its dense twin, then the shipped checkpoint and trace.

    python -m workloads.recipe --runs runs/fmnist --threads 2

Every stage checkpoints each epoch and resumes, so the command can be run again after an
interruption (or in another session) and picks up where it stopped. Stages:

1. ``pretrain``: dense ResNet-20, :data:`PRETRAIN_EPOCHS` epochs from scratch;
2. ``dense-twin``: the dense network fine-tuned :data:`FINETUNE_EPOCHS` more epochs;
3. ``gated-t<T>``: the post-activated channel-gated network (p = 4, both convs of every block
   gated), warm-started from ``pretrain`` and fine-tuned with the same budget as the twin while
   distilling from ``pretrain``, one per threshold target T in :data:`THRESHOLDS`;
4. ``ship``: the chosen gated model becomes the shipped checkpoint; its trace is exported;
5. ``report`` (not part of ``all``): prints the shipped model's results as Markdown.

Both final models have seen the same number of epochs, so their accuracies compare directly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workloads.train import Recipe, _atomic_save, train

PRETRAIN_EPOCHS = 10
FINETUNE_EPOCHS = 12
FINETUNE_LR = 0.02
#: threshold targets T tried for the gated model (Δ starts at T); the shipped model is the
#: candidate with the largest MAC reduction among those within :data:`ACCURACY_MARGIN` points
#: of the dense twin
THRESHOLDS = (0.5,)
ACCURACY_MARGIN = 1.5
SHIPPED_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "resnet20-fmnist-cg.pt"
SHIPPED_TRACE = Path(__file__).resolve().parent.parent / "traces" / "resnet20-fmnist.npz"
#: the trace's input images (uint8 pixels and labels), so it can be re-exported without the dataset
SHIPPED_INPUTS = SHIPPED_TRACE.with_suffix(".inputs.npz")


def stages(runs: Path) -> dict[str, Recipe]:
    """The training stages by name; each trains into ``runs/<name>``."""
    warm = str(runs / "pretrain" / "model.pt")
    recipes = {
        "pretrain": Recipe(variant="dense", epochs=PRETRAIN_EPOCHS, lr=0.1),
        "dense-twin": Recipe(variant="dense", epochs=FINETUNE_EPOCHS, lr=FINETUNE_LR, warm_start=warm),
    }
    for target in THRESHOLDS:
        recipes[f"gated-t{target}"] = Recipe(variant="postact", epochs=FINETUNE_EPOCHS, lr=FINETUNE_LR,
                                             threshold_init=target, threshold_target=target,
                                             warm_start=warm, teacher=warm)
    return recipes


def choose(twin: dict, candidates: dict[str, dict]) -> str:
    """The gated candidate to ship: the largest MAC reduction within the accuracy margin,
    else the most accurate."""
    within = [name for name, meta in candidates.items()
              if meta["test_accuracy"] >= twin["test_accuracy"] - ACCURACY_MARGIN]
    if within:
        return max(within, key=lambda name: candidates[name]["mac_reduction"])
    return max(candidates, key=lambda name: candidates[name]["test_accuracy"])


def ship(runs: Path, checkpoint: Path = SHIPPED_CHECKPOINT, trace: Path = SHIPPED_TRACE,
         images: int = 256) -> Path:
    """Pick the gated candidate, write the shipped checkpoint (its weights, recipe, accuracy,
    per-layer MACs, and the other stages' results) and export its trace."""
    import torch

    import numpy as np

    from workloads.data import load_pixels
    from workloads.export import export_checkpoint

    def meta(stage: str) -> dict:
        path = runs / stage / "model.pt"
        if not path.exists():
            raise ValueError(f"{path}: stage {stage!r} has not finished; run it first")
        return torch.load(path, map_location="cpu", weights_only=False)

    twin, pretrain = meta("dense-twin"), meta("pretrain")
    candidates = {name: meta(name) for name in stages(runs) if name.startswith("gated")}
    chosen = choose(twin, candidates)
    saved = dict(candidates[chosen])
    def summary(stage_meta: dict) -> dict:
        return {key: stage_meta[key] for key in ("recipe", "test_accuracy", "mac_reduction", "train_seconds")}

    saved.update(stage=chosen, dense_twin_accuracy=twin["test_accuracy"], dense_twin=summary(twin),
                 pretrain=summary(pretrain),
                 candidates={name: summary(m) for name, m in candidates.items()})
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    _atomic_save(saved, checkpoint)
    pixels, labels = load_pixels("test")
    np.savez(trace.with_suffix(".inputs.npz"), pixels=pixels[:images], labels=labels[:images])
    export_checkpoint(checkpoint, trace, images, pixels[:images], labels[:images])
    print(f"{chosen}: {saved['test_accuracy']:.2f} % vs dense twin {twin['test_accuracy']:.2f} %, "
          f"MAC reduction {saved['mac_reduction']:.2f}x; wrote {checkpoint} and {trace}")
    return checkpoint


def report(checkpoint: Path = SHIPPED_CHECKPOINT) -> str:
    """A Markdown account of the shipped model: recipe, accuracies, MACs per layer."""
    import torch

    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    lines = [f"| model | test accuracy | MAC reduction | training |", "|---|---|---|---|"]
    for name, meta in [("pretrain (dense)", saved["pretrain"]), ("dense twin", saved["dense_twin"]),
                       *[(f"{stage}{' (shipped)' if stage == saved['stage'] else ''}", meta)
                         for stage, meta in saved["candidates"].items()]]:
        lines.append(f"| {name} | {meta['test_accuracy']:.2f} % | {meta['mac_reduction']:.2f}x | "
                     f"{meta['recipe']['epochs']} epochs, {meta['train_seconds'] / 60:.1f} min |")
    lines += ["", "| layer | gated | on-rate | dense MACs | MACs (mean per image) |", "|---|---|---|---|---|"]
    for row in saved["layers"]:
        lines.append(f"| {row['layer']} | {'yes' if row['gated'] else 'no'} | {row['on_rate']:.3f} | "
                     f"{row['dense_macs']:,} | {row['macs']:,.0f} |")
    dense = sum(row["dense_macs"] for row in saved["layers"])
    gated = sum(row["macs"] for row in saved["layers"])
    lines.append(f"| **network** | | | {dense:,} | {gated:,.0f} ({dense / gated:.2f}x) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.recipe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("runs/fmnist"),
                        help="folder for the stages' checkpoints (default runs/fmnist)")
    parser.add_argument("--stage", default="all",
                        help="one stage (pretrain, dense-twin, gated-t<T>, ship) or all (default); "
                             "the fine-tuning stages can run in parallel once pretrain is done")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpoint", type=Path, default=SHIPPED_CHECKPOINT)
    parser.add_argument("--trace", type=Path, default=SHIPPED_TRACE)
    args = parser.parse_args(argv)
    recipes = stages(args.runs)
    wanted = list(recipes) + ["ship"] if args.stage == "all" else [args.stage]
    try:
        for stage in wanted:
            if stage == "ship":
                ship(args.runs, args.checkpoint, args.trace)
            elif stage == "report":
                print(report(args.checkpoint))
            elif stage in recipes:
                print(f"== {stage}", flush=True)
                train(recipes[stage], args.runs / stage, args.threads)
            else:
                raise ValueError(f"--stage {stage}: expected all, ship, report or one of {', '.join(recipes)}")
    except (ValueError, OSError) as error:
        print(f"python -m workloads.recipe: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
