"""Shared fixtures: small gate traces written once per test session."""

import os

import numpy as np
import pytest
from hypothesis import settings

# CI replays the same examples every run (a failure there is reproducible); locally each run
# explores new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

from tiers import QUICK


def pytest_collection_modifyitems(config, items):
    """The quick tier leaves out the default run's heaviest tests (marked ``heavy``)."""
    if QUICK:
        skip = pytest.mark.skip(reason="heavy: not in the quick tier (ACCELSIM_TESTS=quick)")
        for item in items:
            if "heavy" in item.keywords:
                item.add_marker(skip)


from accelsim.trace import TraceInfo, as_trace_layer, gateable_layers, write_trace
from accelsim.workload import get_network


@pytest.fixture(scope="session")
def resnet20_masks():
    """Random decisions of 5 images for the 18 block convs of ResNet-20, and their layers."""
    layers = [as_trace_layer(layer, 4) for layer in gateable_layers(get_network("resnet20"))]
    rng = np.random.default_rng(0)
    return layers, {layer.name: rng.random((5, *layer.mask_shape)) < 0.3 for layer in layers}


@pytest.fixture(scope="session")
def small_trace(tmp_path_factory, resnet20_masks):
    layers, masks = resnet20_masks
    path = tmp_path_factory.mktemp("traces") / "small.npz"
    info = TraceInfo(model="test", dataset="random", images=5, accuracy=0.5, network="resnet20",
                     provenance={"seed": 0})
    return write_trace(path, info, layers, masks)
