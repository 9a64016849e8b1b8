"""Train a (channel-gated) ResNet-20 or ResNet-18 on Fashion-MNIST, checkpointing every epoch and resuming.

    python -m workloads.train --variant dense   --epochs 4 --out runs/dense
    python -m workloads.train --variant postact --epochs 3 --out runs/gated \\
        --warm-start runs/dense/model.pt --lr 0.02

``OUT/checkpoint.pt`` (model, optimiser, schedule, RNG, history) is replaced atomically after
every epoch; running the same command again resumes from it (with the same ``--threads``, the
resumed weights equal an uninterrupted run's bit for bit). ``OUT/model.pt`` holds the final
weights with the recipe, accuracy and per-layer MACs; ``OUT/history.json`` one record per epoch.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from accelsim.atomic import write_bytes_atomically
from workloads.data import DatasetMissing, augment, load_fashion_mnist
from workloads.gating import threshold_loss
from workloads.macs import layer_macs, mac_reduction
from workloads.models import MODELS, VARIANTS


#: SGD's Nesterov momentum, cycled by the one-cycle schedule against the learning rate
MOMENTUM = (0.85, 0.95)


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the trained weights (stored beside them)."""

    variant: str = "postact"
    #: a name in :data:`workloads.models.MODELS`
    model_name: str = "resnet20"
    epochs: int = 4
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 1e-4
    partitions: int = 4
    threshold_init: float = 1.0
    threshold_target: float = 1.0
    threshold_weight: float = 1e-4
    alpha: float = 2.0
    sparse_backward: bool = False
    train_images: int = 60000
    seed: int = 0
    warm_start: str | None = None
    #: ``model.pt`` of a trained teacher to distil from (Hinton et al. 2015), or None
    teacher: str | None = None
    distill_weight: float = 0.9
    distill_temperature: float = 4.0

    def model(self) -> torch.nn.Module:
        gating = {} if self.variant == "dense" else {
            "partitions": self.partitions, "threshold_init": self.threshold_init,
            "alpha": self.alpha, "sparse_backward": self.sparse_backward}
        if self.model_name not in MODELS:
            raise ValueError(f"model {self.model_name!r}: expected one of {', '.join(MODELS)}")
        return MODELS[self.model_name](self.variant, in_channels=1, classes=10, **gating)


def distillation_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      weight: float, temperature: float) -> torch.Tensor:
    """(1 − w)·CE(labels) + w·τ²·KL(teacher ‖ student) on τ-softened outputs; the τ² keeps the
    soft term's gradient on the scale of the hard one."""
    hard = F.cross_entropy(logits, labels)
    soft = F.kl_div(F.log_softmax(logits / temperature, dim=1),
                    F.log_softmax(teacher_logits / temperature, dim=1),
                    reduction="batchmean", log_target=True)
    return (1 - weight) * hard + weight * temperature ** 2 * soft


def _atomic_save(obj, path: Path) -> None:
    """``torch.save`` whole or not at all (:mod:`accelsim.atomic`)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes_atomically(path, buffer.getvalue())


def _batches(images: torch.Tensor, batch_size: int):
    for start in range(0, len(images), batch_size):
        yield images[start:start + batch_size].contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def evaluate(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
             batch_size: int = 500) -> float:
    """Top-1 accuracy in % (eval mode)."""
    model.eval()
    correct = 0
    for start, batch in zip(range(0, len(images), batch_size), _batches(images, batch_size)):
        correct += int((model(batch).argmax(1) == labels[start:start + batch_size]).sum())
    return 100.0 * correct / len(images)


def load_model(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """A trained model and its metadata (recipe, accuracy, MACs) from ``model.pt`` or a compact
    checkpoint (:mod:`workloads.compact`)."""
    from workloads.compact import read_checkpoint

    saved = read_checkpoint(path)
    try:
        model = Recipe(**saved["recipe"]).model().to(memory_format=torch.channels_last)
        model.load_state_dict(saved["state"])
    except (KeyError, TypeError, RuntimeError) as error:
        raise ValueError(f"{path}: not a model.pt written by workloads.train ({error})") from None
    return model.eval(), saved


def train(recipe: Recipe, out: Path, threads: int = 2, log=print, data=None) -> dict:
    """Train per ``recipe`` into ``out`` (resuming from ``out/checkpoint.pt``); return the
    metadata written to ``out/model.pt``. ``data`` is ``(train_x, train_y, test_x, test_y)``,
    Fashion-MNIST by default."""
    torch.set_num_threads(threads)
    out.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = (*load_fashion_mnist("train"), *load_fashion_mnist("test"))
    train_x, train_y, test_x, test_y = data
    train_x, train_y = train_x[:recipe.train_images], train_y[:recipe.train_images]

    torch.manual_seed(recipe.seed)
    model = recipe.model().to(memory_format=torch.channels_last)
    if recipe.warm_start:
        warm = torch.load(recipe.warm_start, map_location="cpu", weights_only=False)["state"]
        missing, unexpected = model.load_state_dict(warm, strict=False)
        if unexpected or any(not key.endswith(("threshold", "bn.running_mean", "bn.running_var",
                                                "bn.num_batches_tracked")) for key in missing):
            raise ValueError(f"{recipe.warm_start}: does not fit variant {recipe.variant!r} "
                             f"(missing {missing}, unexpected {unexpected})")
    teacher = load_model(recipe.teacher)[0] if recipe.teacher else None
    thresholds = [p for n, p in model.named_parameters() if n.endswith("threshold")]
    others = [p for n, p in model.named_parameters() if not n.endswith("threshold")]
    optimizer = torch.optim.SGD([{"params": others, "weight_decay": recipe.weight_decay},
                                 {"params": thresholds, "weight_decay": 0.0}],
                                lr=recipe.lr, momentum=MOMENTUM[1], nesterov=True)
    steps_per_epoch = math.ceil(len(train_x) / recipe.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch,
        pct_start=0.15 if not recipe.warm_start else 0.05, anneal_strategy="cos",
        base_momentum=MOMENTUM[0], max_momentum=MOMENTUM[1])

    checkpoint = out / "checkpoint.pt"
    history: list[dict] = []
    first_epoch = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if Recipe(**state["recipe"]) != recipe:
            raise ValueError(f"{checkpoint}: written by a different recipe; use another --out")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        history, first_epoch = state["history"], state["epoch"]
        log(f"resuming {checkpoint} after epoch {first_epoch}")

    for epoch in range(first_epoch, recipe.epochs):
        started = time.perf_counter()
        generator = torch.Generator().manual_seed(recipe.seed * 1000 + epoch)
        order = torch.randperm(len(train_x), generator=generator)
        model.train()
        total_loss = 0.0
        for step in range(steps_per_epoch):
            index = order[step * recipe.batch_size:(step + 1) * recipe.batch_size]
            batch = augment(train_x[index], generator).contiguous(memory_format=torch.channels_last)
            logits = model(batch)
            if teacher is None:
                loss = F.cross_entropy(logits, train_y[index])
            else:
                with torch.no_grad():
                    teacher_logits = teacher(batch)
                loss = distillation_loss(logits, teacher_logits, train_y[index],
                                         recipe.distill_weight, recipe.distill_temperature)
            total = loss + threshold_loss(model, recipe.threshold_target, recipe.threshold_weight)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            schedule.step()
            total_loss += float(loss.detach())
        accuracy = evaluate(model, test_x, test_y)
        rows = layer_macs(model, _batches(test_x, 500))
        record = {"epoch": epoch + 1, "train_loss": total_loss / steps_per_epoch,
                  "test_accuracy": accuracy, "mac_reduction": mac_reduction(rows),
                  "seconds": time.perf_counter() - started}
        history.append(record)
        _atomic_save({"recipe": asdict(recipe), "model": model.state_dict(),
                      "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                      "history": history, "epoch": epoch + 1}, checkpoint)
        log(json.dumps(record))

    accuracy = evaluate(model, test_x, test_y)
    rows = layer_macs(model, _batches(test_x, 500))
    meta = {"recipe": asdict(recipe), "test_accuracy": accuracy, "mac_reduction": mac_reduction(rows),
            "layers": rows, "history": history, "threads": threads,
            "train_seconds": sum(record["seconds"] for record in history),
            "torch": torch.__version__}
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    _atomic_save({**meta, "state": state}, out / "model.pt")
    (out / "history.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Recipe()
    parser.add_argument("--variant", choices=VARIANTS, default=defaults.variant)
    parser.add_argument("--model", dest="model_name", choices=MODELS, default=defaults.model_name)
    for name in ("epochs", "batch_size", "partitions", "train_images", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("lr", "weight_decay", "threshold_init", "threshold_target",
                 "threshold_weight", "alpha", "distill_weight", "distill_temperature"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    parser.add_argument("--sparse-backward", action="store_true")
    parser.add_argument("--warm-start", help="model.pt of a dense twin to start from")
    parser.add_argument("--teacher", help="model.pt of a trained model to distil from")
    parser.add_argument("--out", type=Path, required=True, help="folder for checkpoints and the model")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch CPU threads (default 2)")
    args = vars(parser.parse_args(argv))
    out, threads = args.pop("out"), args.pop("threads")
    try:
        meta = train(Recipe(**args), out, threads)
    except (DatasetMissing, ValueError, OSError) as error:
        print(f"python -m workloads.train: {error}", file=sys.stderr)
        return 2
    print(f"test accuracy {meta['test_accuracy']:.2f} %, MAC reduction {meta['mac_reduction']:.2f}x, "
          f"{meta['train_seconds'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
