"""The PyTorch side: the gated convolution, the ResNet-20 variants, training and the exporter."""

from __future__ import annotations

import gzip
import json
from dataclasses import asdict, replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from accelsim.trace.reader import open_trace  # noqa: E402
from accelsim.workload.networks import get_network  # noqa: E402
from workloads.data import DatasetMissing, _read_idx, augment, load_fashion_mnist  # noqa: E402
from workloads.export import ExportError, capture_decisions, export_trace, float64_copy  # noqa: E402
from workloads.gating import CGConv2d, gated_convs, threshold_loss  # noqa: E402
from workloads.macs import layer_macs, mac_reduction  # noqa: E402
from workloads.models import resnet20  # noqa: E402
from workloads.train import Recipe, distillation_loss, load_model, train  # noqa: E402


def _gated_conv(seed=0, **options):
    torch.manual_seed(seed)
    conv = CGConv2d(8, 12, 3, stride=1, padding=1, partitions=4, **options)
    with torch.no_grad():
        conv.threshold.uniform_(-0.5, 1.0)
    return conv


def _warm_bn(conv, x):
    """Give the gate's BN running statistics, then freeze them (eval mode)."""
    conv.train()
    with torch.no_grad():
        conv(x)
    return conv.eval()


# -- the gated convolution ---------------------------------------------------------------------
def test_output_mixes_full_and_partial_sums_per_decision():
    x = torch.randn(3, 8, 9, 9)
    conv = _warm_bn(_gated_conv(), x)
    with torch.no_grad():
        out = conv(x)
    weight = conv.weight.detach()
    # the base path of output group i is input group i: an independent grouped convolution
    base = torch.cat([weight[i * 3:(i + 1) * 3, i * 2:(i + 1) * 2] for i in range(4)])
    partial = F.conv2d(x, base, padding=1, groups=4)
    full = F.conv2d(x, weight, padding=1)
    d = conv.gate_decision(x).float()
    assert 0.05 < d.mean() < 0.95
    torch.testing.assert_close(out, d * full + (1 - d) * partial, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(partial, full)


def test_eval_decision_is_one_compare_against_a_folded_threshold():
    x = torch.randn(4, 8, 10, 10)
    conv = _warm_bn(_gated_conv(seed=1), x)
    partial = conv.partial_sum(x).detach()
    bn = conv.bn
    folded = bn.running_mean + conv.threshold.detach() * torch.sqrt(bn.running_var + bn.eps)
    margin = (partial - folded.view(1, -1, 1, 1)).abs()
    agree = conv.gate_decision(x) == (partial > folded.view(1, -1, 1, 1))
    # the two expressions may differ only where float32 rounds onto the threshold
    assert bool((agree | (margin < 1e-4)).all())


def test_ungrouped_base_path_uses_the_first_partition_for_every_output():
    conv = CGConv2d(8, 6, 3, partitions=4, grouped=False)
    mask = conv.base_mask[:, :, 0, 0]
    assert mask[:, :2].all() and not mask[:, 2:].any()
    assert conv.gate_groups == 1 and conv.base_fraction == 0.25


def test_partitions_must_divide_the_channels():
    with pytest.raises(ValueError, match="partitions=3"):
        CGConv2d(8, 12, 3, partitions=3)


@pytest.mark.parametrize("sparse", [False, True])
def test_straight_through_gradient_and_sparse_backward(sparse):
    x = torch.randn(2, 8, 6, 6)
    conv = _gated_conv(seed=2, sparse_backward=sparse).train()
    conv(x).sum().backward()
    grad = conv.threshold.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    # compare the decision's incoming gradient with and without the sparse option
    value = torch.linspace(-1, 1, 11, requires_grad=True)
    from workloads.gating import _Step
    _Step.apply(value, sparse).sum().backward()
    expected = (value > 0).float() if sparse else torch.ones(11)
    torch.testing.assert_close(value.grad, expected)


def test_threshold_loss_is_lambda_times_squared_distance():
    model = resnet20("postact", partitions=4, threshold_init=0.25)
    count = sum(module.out_channels for _, module in gated_convs(model))
    loss = threshold_loss(model, target=1.0, weight=1e-3)
    assert float(loss.detach()) == pytest.approx(1e-3 * count * 0.75 ** 2, rel=1e-6)
    assert float(threshold_loss(resnet20("dense"), 1.0)) == 0.0


# -- the networks --------------------------------------------------------------------------------
def test_variants_gate_the_documented_layers_with_accelsim_names():
    shapes = {layer.name for layer in get_network("resnet20-fmnist").layers}
    post, first = resnet20("postact"), resnet20("first")
    post_names = [name for name, _ in gated_convs(post)]
    assert len(post_names) == 18 and len(gated_convs(first)) == 9
    assert all(name.endswith("conv1") for name, _ in gated_convs(first))
    assert set(post_names) <= shapes and not gated_convs(resnet20("dense"))
    convs = {name for name, m in post.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    assert convs == shapes


def test_dense_twin_weights_load_into_the_gated_network():
    dense = resnet20("dense")
    gated = resnet20("postact")
    missing, unexpected = gated.load_state_dict(dense.state_dict(), strict=False)
    assert not unexpected
    assert all(key.endswith(("threshold", "running_mean", "running_var", "num_batches_tracked"))
               for key in missing)


def test_mac_accounting_matches_the_definition():
    torch.manual_seed(0)
    model = resnet20("postact", partitions=4, threshold_init=0.5)
    rows = layer_macs(model, [torch.randn(4, 1, 28, 28)])
    dense = {layer.name: layer.macs for layer in get_network("resnet20-fmnist").layers}
    for row in rows:
        assert row["dense_macs"] == dense[row["layer"]]
        eta = 0.25 if row["gated"] else 1.0
        assert row["macs"] == pytest.approx(row["dense_macs"] * (eta + (1 - eta) * row["on_rate"]))
    assert mac_reduction(rows) == pytest.approx(sum(dense.values()) / sum(r["macs"] for r in rows))


# -- data ----------------------------------------------------------------------------------------
def test_idx_reader_and_missing_dataset_message(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in images.shape)
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(header + images.tobytes()))
    np.testing.assert_array_equal(_read_idx(path, 0x803), images)
    with pytest.raises(ValueError, match="magic"):
        _read_idx(path, 0x801)
    with pytest.raises(DatasetMissing, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("test", root=tmp_path)


def test_augment_is_a_padded_crop_and_maybe_a_flip_of_each_image():
    from workloads.data import MEAN, STD
    images = torch.randn(12, 1, 28, 28)
    out = augment(images, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == images.shape
    padded = F.pad(images, (2, 2, 2, 2), value=-MEAN / STD)
    for o, p in zip(out, padded):
        crops = [p[:, dy:dy + 28, dx:dx + 28] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(o, c) or torch.equal(o, c.flip(-1)) for c in crops)
    assert not torch.equal(out, images)


# -- training ------------------------------------------------------------------------------------
def _random_data(n=48, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 1, 28, 28, generator=generator), torch.randint(0, 10, (n,), generator=generator),
            torch.randn(16, 1, 28, 28, generator=generator), torch.randint(0, 10, (16,), generator=generator))


def test_a_few_training_steps_resume_exactly(tmp_path):
    data = _random_data()
    recipe = Recipe(variant="postact", epochs=2, batch_size=16, lr=0.05, train_images=48,
                    threshold_init=0.5)
    whole = train(recipe, tmp_path / "whole", threads=1, log=lambda _: None, data=data)
    assert len(whole["history"]) == 2 and whole["history"][0]["train_loss"] > 0
    interrupted = tmp_path / "interrupted"
    _train_one_epoch_then_stop(recipe, interrupted, data)
    logs = []
    resumed = train(recipe, interrupted, threads=1, log=logs.append, data=data)
    assert any("resuming" in line for line in logs)
    a, _ = load_model(tmp_path / "whole" / "model.pt")
    b, _ = load_model(interrupted / "model.pt")
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    assert resumed["test_accuracy"] == whole["test_accuracy"]
    assert resumed["layers"] == whole["layers"]


def _train_one_epoch_then_stop(recipe, out, data):
    """Run ``recipe`` and interrupt it right after the first epoch's checkpoint."""
    class Stop(Exception):
        pass

    def log(line):
        if line.startswith("{"):
            raise Stop
    with pytest.raises(Stop):
        train(recipe, out, threads=1, log=log, data=data)
    assert torch.load(out / "checkpoint.pt", weights_only=False)["epoch"] == 1
    assert not (out / "model.pt").exists()


def test_resume_refuses_a_different_recipe(tmp_path):
    data = _random_data()
    _train_one_epoch_then_stop(Recipe(epochs=2, batch_size=16, train_images=48, variant="dense"),
                               tmp_path, data)
    with pytest.raises(ValueError, match="different recipe"):
        train(Recipe(epochs=3, batch_size=16, train_images=48, variant="dense"), tmp_path,
              threads=1, log=lambda _: None, data=data)


def test_a_recipe_saved_before_a_field_existed_still_resumes():
    saved = {key: value for key, value in asdict(Recipe()).items() if not key.startswith(("teacher", "distill"))}
    assert Recipe(**saved) == Recipe()


def test_distillation_loss_is_the_documented_mixture():
    generator = torch.Generator().manual_seed(1)
    logits, teacher = torch.randn(6, 10, generator=generator), torch.randn(6, 10, generator=generator)
    labels = torch.randint(0, 10, (6,), generator=generator)
    ce = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(distillation_loss(logits, teacher, labels, 0.0, 4.0), ce)
    # agreeing with the teacher leaves only the hard term
    assert torch.allclose(distillation_loss(logits, logits, labels, 0.9, 4.0), 0.1 * ce, atol=1e-6)
    # by hand: KL(p || q) with p, q the softmaxes at temperature 2, scaled by 2²
    p, q = torch.softmax(teacher / 2, 1), torch.softmax(logits / 2, 1)
    kl = (p * (p.log() - q.log())).sum(1).mean()
    assert torch.allclose(distillation_loss(logits, teacher, labels, 0.5, 2.0), 0.5 * ce + 0.5 * 4 * kl)


def test_training_with_a_teacher_distils(tmp_path):
    data = _random_data()
    train(Recipe(variant="dense", epochs=1, batch_size=16, train_images=48), tmp_path / "teacher",
          threads=1, log=lambda _: None, data=data)
    recipe = Recipe(variant="postact", epochs=1, batch_size=16, train_images=48, threshold_init=0.5,
                    warm_start=str(tmp_path / "teacher" / "model.pt"),
                    teacher=str(tmp_path / "teacher" / "model.pt"))
    plain = train(replace(recipe, teacher=None), tmp_path / "plain", threads=1,
                  log=lambda _: None, data=data)
    distilled = train(recipe, tmp_path / "distilled", threads=1, log=lambda _: None, data=data)
    assert distilled["recipe"]["teacher"].endswith("model.pt")
    assert distilled["history"][0]["train_loss"] != plain["history"][0]["train_loss"]
    a, _ = load_model(tmp_path / "plain" / "model.pt")
    b, _ = load_model(tmp_path / "distilled" / "model.pt")
    assert not torch.equal(a.fc.weight, b.fc.weight)


# -- the exporter --------------------------------------------------------------------------------
def _tiny_gated_model(threshold=0.3):
    torch.manual_seed(3)
    model = resnet20("postact", partitions=4, threshold_init=threshold)
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 1, 28, 28))  # BN statistics
    return model.eval()


def _forward_decisions(model, images):
    """The decisions each CGConv2d used in its forward pass, recorded inside forward."""
    seen = {}
    originals = {}
    for name, module in gated_convs(model):
        originals[name] = module._decide

        def decide(partial, _module=module, _name=name):
            d = originals[_name](partial)
            seen[_name] = d.detach().bool().numpy()
            return d
        module._decide = decide
    with torch.no_grad():
        model(images)
    for name, module in gated_convs(model):
        del module._decide
    return seen


def test_exported_bits_are_the_forward_pass_decisions(tmp_path):
    model = _tiny_gated_model()
    images = torch.randn(5, 1, 28, 28)
    expected = _forward_decisions(float64_copy(model), images.double())  # the precision of export
    path = export_trace(model, images, tmp_path / "t.npz", model_name="tiny", dataset="random",
                        network="resnet20-fmnist", batch_size=2)
    with open_trace(path) as trace:
        assert trace.layer_names == list(expected)
        for name, bits in expected.items():
            np.testing.assert_array_equal(trace.read(name), bits)
            layer = trace.layer(name)
            assert layer.gate_groups == 4 and layer.base_fraction == 0.25 and len(layer.thresholds) == layer.out_channels
        assert not trace.validate()


def test_re_export_is_byte_identical(tmp_path):
    model = _tiny_gated_model()
    images = torch.randn(3, 1, 28, 28)
    first = export_trace(model, images, tmp_path / "a.npz", model_name="tiny", dataset="random")
    second = export_trace(model, images, tmp_path / "b.npz", model_name="tiny", dataset="random")
    assert first.read_bytes() == second.read_bytes()


def test_an_exported_trace_runs_in_the_simulator(tmp_path):
    from accelsim.config import HardwareConfig
    from accelsim.simulate import run
    model = _tiny_gated_model(threshold=1.5)  # few outputs on
    path = export_trace(model, torch.randn(2, 1, 28, 28), tmp_path / "t.npz", model_name="tiny",
                        dataset="random", network="resnet20-fmnist")
    with open_trace(path) as trace:
        result = run(get_network("resnet20-fmnist"), HardwareConfig(array_rows=8, array_cols=8),
                     ["dense", "pixel-skip"], trace=trace)
    summary = result.summary.set_index("scheduler")
    assert summary.loc["pixel-skip", "cycles_total"] < summary.loc["dense", "cycles_total"]


class ToyGate(torch.nn.Module):
    """A differently written gated layer: not a Conv2d, a magnitude gate, two groups, tuples."""

    def __init__(self):
        super().__init__()
        self.in_channels, self.out_channels = 4, 6
        self.kernel_size, self.stride, self.padding = (3, 3), (2, 2), (1, 1)
        self.gate_groups, self.base_fraction = 2, 0.5
        self.weight = torch.nn.Parameter(torch.randn(6, 4, 3, 3))
        self.recorded = []

    def gate_decision(self, x):
        base = F.conv2d(x[:, :2], self.weight[:3, :2], stride=2, padding=1)
        base = torch.cat([base, F.conv2d(x[:, 2:], self.weight[3:, 2:], stride=2, padding=1)], 1)
        return base.abs() > 1.0

    def forward(self, x):
        d = self.gate_decision(x)
        self.recorded.append(d)
        return torch.where(d, F.conv2d(x, self.weight, stride=2, padding=1), 0.0)


def test_a_second_gated_module_written_differently_exports(tmp_path):
    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), ToyGate(), torch.nn.ReLU())
    images = torch.randn(5, 1, 9, 7)
    path = export_trace(model, images, tmp_path / "toy.npz", model_name="toy", dataset="random",
                        batch_size=5)
    exact = float64_copy(model)  # the export decides in float64
    with torch.no_grad():
        exact(images.double())
    with open_trace(path) as trace:
        assert trace.layer_names == ["1"]
        layer = trace.layer("1")
        assert (layer.in_h, layer.in_w, layer.out_h, layer.out_w, layer.stride) == (9, 7, 5, 4, 2)
        assert layer.thresholds is None
        np.testing.assert_array_equal(trace.read("1"), exact[1].recorded[-1].numpy())


def test_a_module_missing_protocol_attributes_is_named():
    class Broken(torch.nn.Module):
        def gate_decision(self, x):
            return x > 0

    with pytest.raises(ExportError, match="'0' has gate_decision but lacks in_channels"):
        capture_decisions(torch.nn.Sequential(Broken()), torch.randn(1, 1, 4, 4))
    with pytest.raises(ExportError, match="no module with a gate_decision"):
        capture_decisions(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1)), torch.randn(1, 1, 4, 4))


def test_manifest_is_json_with_provenance(tmp_path):
    model = _tiny_gated_model()
    path = export_trace(model, torch.randn(2, 1, 28, 28), tmp_path / "t.npz", model_name="tiny",
                        dataset="random", accuracy=0.125, provenance={"seed": 7})
    with open_trace(path) as trace:
        assert trace.info.accuracy == 0.125 and trace.info.provenance == {"seed": 7}
    json.dumps(trace.info.provenance)


def test_a_compact_checkpoint_holds_its_dequantized_weights_exactly(tmp_path):
    """int8 per output channel: within half a step of the float weights, and read back the same
    on every load (the shipped model is the dequantized one)."""
    from workloads.compact import compact_bytes, read_checkpoint

    generator = torch.Generator().manual_seed(0)
    state = {"conv.weight": torch.randn(64, 64, 3, 3, generator=generator),
             "bn.running_mean": torch.randn(64, generator=generator), "bn.num_batches_tracked": torch.tensor(7)}
    path = tmp_path / "model.pt.xz"
    path.write_bytes(compact_bytes({"recipe": {}, "state": state, "test_accuracy": 90.0}))
    first, second = read_checkpoint(path), read_checkpoint(path)
    weight = first["state"]["conv.weight"]
    step = state["conv.weight"].abs().amax(dim=(1, 2, 3)) / 127
    assert ((weight - state["conv.weight"]).abs().amax(dim=(1, 2, 3)) <= step / 2 + 1e-7).all()
    assert not torch.equal(weight, state["conv.weight"])  # quantized, not a copy
    assert torch.equal(weight, second["state"]["conv.weight"])
    assert torch.equal(first["state"]["bn.running_mean"], state["bn.running_mean"])  # small tensors stay float
    assert int(first["state"]["bn.num_batches_tracked"]) == 7 and first["test_accuracy"] == 90.0
    assert path.stat().st_size < 4 * state["conv.weight"].numel() / 4 * 1.1  # about a quarter of its float32 bytes


def test_a_polished_plan_gives_the_twin_and_the_candidates_the_same_budget(tmp_path):
    """With polish rounds, the twin and each gated candidate get the same gentler epochs, each
    round warm-started from the one before; the last round's models are the ones that compete."""
    from workloads.recipe import PLANS, finals, stages

    plan = replace(PLANS["resnet18"], polish_rounds=3)  # rounds after the first distil from the twin before
    recipes = stages(tmp_path, plan)
    twin, candidates = finals(recipes)
    suffix = "-polish" + (str(plan.polish_rounds) if plan.polish_rounds > 1 else "")
    assert twin == f"dense-twin{suffix}" and candidates == [f"gated-t{t}{suffix}" for t in plan.thresholds]
    for final in (twin, *candidates):
        name = final.split("-polish")[0]
        chain = [name] + [f"{name}-polish" + (str(r) if r > 1 else "") for r in range(1, plan.polish_rounds + 1)]
        for before, stage in zip(chain, chain[1:]):
            assert recipes[stage].warm_start == str(tmp_path / before / "model.pt")
            assert recipes[stage].epochs == plan.polish_epochs and recipes[stage].lr == plan.polish_lr
        assert sum(recipes[stage].epochs for stage in chain) == \
            recipes["dense-twin"].epochs + plan.polish_rounds * plan.polish_epochs
    for round_ in range(1, plan.polish_rounds + 1):  # distilled from the twin as trained as the student
        stage, before = (f"-polish{round_ if round_ > 1 else ''}",
                         "" if round_ == 1 else f"-polish{round_ - 1 if round_ > 2 else ''}")
        for candidate in plan.thresholds:
            assert recipes[f"gated-t{candidate}{stage}"].teacher == str(tmp_path / f"dense-twin{before}" / "model.pt")
    assert finals(stages(tmp_path)) == ("dense-twin", ["gated-t0.5"])  # the ResNet-20: no polish


def test_the_report_lists_every_stage_epoch_by_epoch(tmp_path):
    """A checkpoint that records every stage (``ship`` writes them) reports each one's data,
    learning rate, teacher and accuracy after every epoch."""
    from workloads.recipe import report
    from workloads.train import _atomic_save

    def stage(accuracies, reduction, teacher=None, images=20000):
        recipe = {**asdict(Recipe(epochs=len(accuracies), train_images=images, teacher=teacher)), "lr": 0.02}
        return {"recipe": recipe, "test_accuracy": accuracies[-1], "mac_reduction": reduction, "train_seconds": 600.0,
                "history": [{"epoch": n + 1, "test_accuracy": a} for n, a in enumerate(accuracies)]}

    twin, gated = stage([88.21, 89.74], 1.0), stage([87.31, 87.46], 2.4693, teacher="runs/x/pretrain/model.pt")
    layer = {"layer": "conv", "gated": True, "on_rate": 0.2, "dense_macs": 100, "macs": 40.0}
    saved = {**gated, "layers": [layer], "stage": "gated-t0.8", "pretrain": stage([89.26], 1.0), "dense_twin": twin,
             "candidates": {"gated-t0.8": gated}, "stages": {"dense-twin": twin, "gated-t0.8": gated}}
    _atomic_save(saved, tmp_path / "c.pt")
    lines = report(tmp_path / "c.pt").splitlines()
    assert "| dense-twin | 20,000 | 0.02 | none | 88.21, 89.74 % | 1.00x | 10.0 |" in lines
    assert "| gated-t0.8 | 20,000 | 0.02 | pretrain | 87.31, 87.46 % | 2.47x | 10.0 |" in lines


def test_ship_refuses_a_stage_trained_by_another_recipe(tmp_path):
    """A run folder whose stage was trained under another plan is not shipped as this plan's."""
    from workloads.recipe import PLANS, ship, stages
    from workloads.train import _atomic_save

    plan = PLANS["resnet18"]
    for name, recipe in stages(tmp_path, plan).items():
        (tmp_path / name).mkdir()
        _atomic_save({"recipe": asdict(recipe)}, tmp_path / name / "model.pt")
    _atomic_save({"recipe": asdict(replace(stages(tmp_path, plan)["dense-twin-polish"], train_images=60000))},
                 tmp_path / "dense-twin-polish" / "model.pt")
    with pytest.raises(ValueError, match="dense-twin-polish.*another recipe"):
        ship(tmp_path, tmp_path / "c.pt.xz", tmp_path / "t.npz", plan=plan)
    assert not (tmp_path / "c.pt.xz").exists()
