"""The shipped ResNet-18 model and trace: real gates at ResNet-18's widths (64–512 channels),
at CGNet's operating point, reproducible bit for bit from the compact checkpoint."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from accelsim import get_network, open_trace
from accelsim.trace.network import match_trace
from accelsim.trace.stats import trace_summary

ROOT = Path(__file__).resolve().parent.parent
TRACE = ROOT / "traces" / "resnet18-fmnist.npz"
INPUTS = TRACE.with_suffix(".inputs.npz")
CHECKPOINT = ROOT / "workloads" / "checkpoints" / "resnet18-fmnist-cg.pt.xz"


def test_the_trace_is_a_real_resnet18_at_cgnets_operating_point():
    network = get_network("resnet18-fmnist")
    with open_trace(TRACE) as trace:
        assert not trace.validate()
        assert trace.images == 256 and trace.info.dataset == "fashion-mnist"
        assert trace.info.network == "resnet18-fmnist"
        gated = match_trace(network, trace.layers, trace.path)
        assert len(gated) == 16
        assert {layer.out_channels for layer in trace.layers} == {64, 128, 256, 512}
        reduction = trace_summary(trace, network)["network_flop_reduction"]
        assert 2.4 <= reduction <= 3.2, reduction
        provenance = trace.info.provenance
        assert provenance["dense_twin_accuracy"] is not None and trace.info.accuracy is not None
        assert set(provenance["labels"]) == set(range(10))
        assert all(layer.thresholds is not None for layer in trace.layers)


def test_the_inputs_are_the_traced_images():
    with np.load(INPUTS) as inputs, open_trace(TRACE) as trace:
        assert hashlib.sha256(inputs["pixels"].tobytes()).hexdigest() == trace.info.provenance["inputs_sha256"]
        assert inputs["labels"].tolist() == trace.info.provenance["labels"]


def test_the_checkpoint_is_small_and_records_both_models():
    pytest.importorskip("torch")
    from workloads.compact import read_checkpoint

    assert CHECKPOINT.stat().st_size < 11_000_000
    saved = read_checkpoint(CHECKPOINT)
    assert saved["dense_twin"]["recipe"]["epochs"] == saved["recipe"]["epochs"]  # the same budget
    assert saved["recipe"]["model_name"] == "resnet18"
    with open_trace(TRACE) as trace:
        assert trace.info.accuracy == pytest.approx(saved["test_accuracy"] / 100)


@pytest.mark.xfail(strict=True, reason="known: the shipped model is 1.76 points below its dense twin (88.12 % "
                   "against 89.88 %), short of the 1.5-point goal (traces/README.md)")
def test_the_model_is_within_1_5_points_of_its_twin():
    with open_trace(TRACE) as trace:
        assert trace.info.accuracy * 100 >= trace.info.provenance["dense_twin_accuracy"] - 1.5


@pytest.mark.heavy
def test_the_checkpoint_reproduces_the_trace_bit_for_bit(tmp_path):
    pytest.importorskip("torch")
    from accelsim.sweep import file_digest
    from workloads.export import export_checkpoint

    with open_trace(TRACE) as trace:
        assert file_digest(CHECKPOINT) == trace.info.provenance["checkpoint_sha256"]
    with np.load(INPUTS) as inputs:
        path = export_checkpoint(CHECKPOINT, tmp_path / "again.npz", pixels=inputs["pixels"],
                                 labels=inputs["labels"], compress=True)
    assert path.read_bytes() == TRACE.read_bytes()
