"""The shipped model and trace: a real export with its provenance, reproducible bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from accelsim import get_network, open_trace
from accelsim.cli import DEFAULT_TRACE
from accelsim.trace.network import match_trace

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT = ROOT / "workloads" / "checkpoints" / "resnet20-fmnist-cg.pt"
INPUTS = DEFAULT_TRACE.with_suffix(".inputs.npz")


def test_shipped_trace_is_a_valid_real_export():
    with open_trace(DEFAULT_TRACE) as trace:
        assert not trace.validate()
        assert trace.images >= 256 and trace.info.dataset == "fashion-mnist"
        assert trace.info.network == "resnet20-fmnist"
        gated = match_trace(get_network("resnet20-fmnist"), trace.layers, trace.path)
        assert len(gated) == 18
        provenance = trace.info.provenance
        assert set(provenance["labels"]) == set(range(10)), "all 10 classes"
        for key in ("recipe", "checkpoint_sha256", "inputs_sha256", "dense_twin_accuracy", "train_seconds"):
            assert provenance[key] is not None, key
        json.dumps(provenance)
        assert all(layer.thresholds is not None for layer in trace.layers)


def test_shipped_trace_granularity_bound():
    """The best speedup of any fold-based schedule by channels per set, natural order, over all
    256 images: 2.08, 1.57, 1.23, 1.11, 1.09, 1.09 for widths 1 to 32 (computed independently
    when the sliced array was scoped); width 1 is the FLOP reduction itself."""
    from accelsim.trace.stats import trace_summary
    with open_trace(DEFAULT_TRACE) as trace:
        summary = trace_summary(trace, get_network("resnet20-fmnist"))
    bounds = summary["granularity_bound"]
    assert [round(bounds[str(width)], 2) for width in (1, 2, 4, 8, 16, 32)] == [2.08, 1.57, 1.23, 1.11, 1.09, 1.09]
    assert bounds["1"] == pytest.approx(summary["network_flop_reduction"])


def test_shipped_inputs_are_the_traced_images():
    import hashlib
    with np.load(INPUTS) as inputs, open_trace(DEFAULT_TRACE) as trace:
        assert hashlib.sha256(inputs["pixels"].tobytes()).hexdigest() == trace.info.provenance["inputs_sha256"]
        assert inputs["labels"].tolist() == trace.info.provenance["labels"]


@pytest.mark.heavy
def test_shipped_checkpoint_reproduces_the_trace_bit_for_bit(tmp_path):
    pytest.importorskip("torch")
    from accelsim.sweep import file_digest
    from workloads.export import export_checkpoint
    with open_trace(DEFAULT_TRACE) as trace:
        assert file_digest(CHECKPOINT) == trace.info.provenance["checkpoint_sha256"]
    with np.load(INPUTS) as inputs:
        path = export_checkpoint(CHECKPOINT, tmp_path / "again.npz", pixels=inputs["pixels"], labels=inputs["labels"])
    assert path.read_bytes() == DEFAULT_TRACE.read_bytes()


@pytest.mark.heavy
def test_shipped_decisions_do_not_depend_on_the_order_of_summation():
    """Every gate's float64 pre-threshold value, recomputed by an independent GEMM (another
    order of summation), lies on the same side of its threshold as in the trace, and farther
    from it than any CPU's float64 kernels can move it: the export reproduces on any CPU."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F
    from workloads.data import normalize
    from workloads.export import EXPORT_DTYPE, float64_copy
    from workloads.gating import gated_convs
    from workloads.train import load_model

    model = float64_copy(load_model(CHECKPOINT)[0])
    inputs: dict[str, list] = {name: [] for name, _ in gated_convs(model)}
    hooks = [module.register_forward_hook(lambda m, i, o, name=name: inputs[name].append(i[0]))
             for name, module in gated_convs(model)]
    with np.load(INPUTS) as shipped, torch.no_grad():
        model(normalize(shipped["pixels"]).to(EXPORT_DTYPE))
    for hook in hooks:
        hook.remove()
    smallest = np.inf
    with open_trace(DEFAULT_TRACE) as trace:
        for name, module in gated_convs(model):
            x = torch.cat(inputs[name])
            columns = F.unfold(x, module.kernel_size, padding=module.padding, stride=module.stride).numpy()
            weights = (module.weight * module.base_mask).detach().reshape(module.out_channels, -1).numpy()
            partial = np.einsum("ok,nkp->nop", weights, columns, optimize=False)  # not torch's order
            scale = np.sqrt(module.bn.running_var.numpy() + module.bn.eps)
            z = (partial - module.bn.running_mean.numpy()[:, None]) / scale[:, None] \
                - module.threshold.detach().numpy()[:, None]
            bits = trace.read(name).reshape(z.shape)
            np.testing.assert_array_equal(z > 0, bits, err_msg=name)
            smallest = min(smallest, float(np.abs(z).min()))
    # float64 kernels differ by ~1e-13 here; a margin of 1e-9 leaves four orders of magnitude
    assert smallest > 1e-9, smallest
    doc = " ".join((ROOT / "docs" / "workloads.md").read_text().split())
    assert f"the smallest distance from it is {smallest:.1e}".replace("e-0", "e-") in doc


def test_shipped_checkpoint_meets_the_targets_and_records_its_accuracy():
    torch = pytest.importorskip("torch")
    saved = torch.load(CHECKPOINT, map_location="cpu", weights_only=False)
    assert saved["mac_reduction"] >= 2.0
    assert saved["test_accuracy"] >= saved["dense_twin_accuracy"] - 1.5
    assert saved["dense_twin"]["recipe"]["epochs"] == saved["recipe"]["epochs"]  # the same budget
    assert CHECKPOINT.stat().st_size < 5_000_000
    with open_trace(DEFAULT_TRACE) as trace:
        provenance = trace.info.provenance
        assert trace.info.accuracy == pytest.approx(saved["test_accuracy"] / 100)
        assert provenance["dense_twin_accuracy"] == saved["dense_twin_accuracy"]
        # the model's predictions on the traced images are recorded: its accuracy on them is plausible
        hits = np.mean(np.array(provenance["predictions"]) == np.array(provenance["labels"]))
        assert abs(hits - saved["test_accuracy"] / 100) < 0.1
