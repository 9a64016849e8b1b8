"""The gate-trace format: round trips, slices, the documented numpy recipe, and matching."""

import io
import json
import zipfile
from dataclasses import replace

import numpy as np
import pytest

from accelsim import TraceError, get_network
from accelsim.trace import (GateTrace, TraceInfo, TraceWriter, match_trace, open_trace,
                            write_trace)


def test_round_trip(small_trace, resnet20_masks):
    layers, masks = resnet20_masks
    with open_trace(small_trace) as trace:
        assert trace.images == 5
        assert trace.layer_names == [layer.name for layer in layers]
        assert trace.info.network == "resnet20" and trace.info.accuracy == 0.5
        assert trace.layers == tuple(layers)
        for layer in layers:
            np.testing.assert_array_equal(trace.read(layer.name), masks[layer.name])
        assert trace.validate() == []


def test_slice_of_images(small_trace, resnet20_masks):
    layers, masks = resnet20_masks
    name = layers[7].name
    with open_trace(small_trace) as trace:
        np.testing.assert_array_equal(trace.read(name, slice(1, 4)), masks[name][1:4])
        np.testing.assert_array_equal(trace.read(name, slice(4, 9)), masks[name][4:])
        assert trace.read(name, slice(5, 5)).shape == (0, *layers[7].mask_shape)
        with pytest.raises(TraceError, match="contiguous slice"):
            trace.read(name, slice(0, 5, 2))
        with pytest.raises(TraceError, match="no gated layer 'conv1'"):
            trace.read("conv1")


def test_members_are_stored_uncompressed(small_trace):
    with zipfile.ZipFile(small_trace) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


def test_file_is_the_bit_packed_size(small_trace, resnet20_masks):
    layers, _ = resnet20_masks
    packed = sum(5 * layer.bytes_per_image for layer in layers)
    assert small_trace.stat().st_size < 1.10 * packed + 20_000  # manifest and ZIP headers


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_the_documented_numpy_recipe_is_read(tmp_path):
    """Written exactly as docs/trace-format.md says, without accelsim's writer."""
    rng = np.random.default_rng(3)
    d = rng.random((64, 16, 32, 32)) < 0.2
    masks = {"layer1.0.conv1": d}
    manifest = {"format": "accelsim-gate-trace", "version": 1, "model": "my-cgnet",
                "dataset": "cifar10 test[0:64]", "accuracy": 0.91, "images": 64,
                "network": "resnet20", "provenance": {"recipe": "..."},
                "layers": [{"name": "layer1.0.conv1", "in_channels": 16, "out_channels": 16,
                            "in_h": 32, "in_w": 32, "kernel_h": 3, "kernel_w": 3, "stride": 1,
                            "padding_h": 1, "padding_w": 1, "out_h": 32, "out_w": 32,
                            "gate_groups": 4, "base_fraction": 0.25, "thresholds": None}]}
    with zipfile.ZipFile(tmp_path / "trace.npz", "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("manifest.npy", npy(np.frombuffer(json.dumps(manifest).encode(), np.uint8)))
        for name, masks_of_layer in masks.items():
            archive.writestr(f"gates/{name}.npy", npy(np.packbits(masks_of_layer.reshape(len(masks_of_layer), -1), axis=1)))
    with open_trace(tmp_path / "trace.npz") as trace:
        assert trace.validate() == []
        np.testing.assert_array_equal(trace.read("layer1.0.conv1", slice(10, 20)), d[10:20])
        match_trace(get_network("resnet20"), trace.layers, trace.path)


def test_deflated_members_are_read_too(tmp_path, small_trace, resnet20_masks):
    layers, masks = resnet20_masks
    with zipfile.ZipFile(small_trace) as source, \
            zipfile.ZipFile(tmp_path / "deflated.npz", "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info.filename))
    with open_trace(tmp_path / "deflated.npz") as trace:
        np.testing.assert_array_equal(trace.read(layers[2].name, slice(2, 5)), masks[layers[2].name][2:5])


def test_mismatched_network_names_the_layer_and_both_shapes(small_trace):
    with open_trace(small_trace) as trace:
        with pytest.raises(TraceError, match=r"layer 'layer1.0.conv1': the trace has 16x32x32 -> "
                                              r"16x32x32.*network 'resnet20-fmnist' has 16x28x28 -> 16x28x28"):
            match_trace(get_network("resnet20-fmnist"), trace.layers, trace.path)
        with pytest.raises(TraceError, match="layer 'layer1.0.conv1' is not in network 'vgg16-cifar'"):
            match_trace(get_network("vgg16-cifar"), trace.layers, trace.path)
        matched = match_trace(get_network("resnet20"), trace.layers, trace.path)
        assert "conv1" not in matched and len(matched) == 18  # absent layers run dense


def test_writer_leaves_nothing_on_failure(tmp_path, resnet20_masks):
    layers, masks = resnet20_masks
    info = TraceInfo(model="m", dataset="d", images=5)
    with pytest.raises(TraceError, match="expected masks of shape"):
        with TraceWriter(tmp_path / "t.npz", info, layers[:2]) as writer:
            writer.add(layers[0].name, masks[layers[0].name][:, :4])
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TraceError, match="layers never written"):
        with TraceWriter(tmp_path / "t.npz", info, layers[:2]) as writer:
            writer.add(layers[0].name, masks[layers[0].name])
    assert list(tmp_path.iterdir()) == []


def test_writer_checks_the_manifest_like_a_reader(tmp_path, resnet20_masks):
    layers, _ = resnet20_masks
    bad = replace(layers[0], out_h=31)
    with pytest.raises(TraceError, match=r"out_h: expected 32"):
        write_trace(tmp_path / "t.npz", TraceInfo("m", "d", 5), [bad], {})


def test_masks_must_be_boolean(tmp_path, resnet20_masks):
    layers, masks = resnet20_masks
    with pytest.raises(TraceError, match="booleans or 0/1"):
        write_trace(tmp_path / "t.npz", TraceInfo("m", "d", 5), layers[:1],
                    {layers[0].name: masks[layers[0].name] * 2})


def test_missing_file(tmp_path):
    with pytest.raises(TraceError, match="no such file"):
        GateTrace(tmp_path / "none.npz")


def test_a_writer_asked_to_compress_deflates_every_member(tmp_path, resnet20_masks):
    layers, masks = resnet20_masks
    info = TraceInfo(model="m", dataset="d", images=5, accuracy=None, network="resnet20", provenance={})
    stored, deflated = tmp_path / "stored.npz", tmp_path / "deflated.npz"
    for path, compress in ((stored, False), (deflated, True)):
        with TraceWriter(path, info, layers, compress) as writer:
            for layer in layers:
                writer.add(layer.name, masks[layer.name])
    with zipfile.ZipFile(deflated) as archive:
        assert {member.compress_type for member in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    assert deflated.stat().st_size < stored.stat().st_size
    with open_trace(stored) as a, open_trace(deflated) as b:
        assert not b.validate()
        for layer in layers:
            np.testing.assert_array_equal(a.read(layer.name), b.read(layer.name))
            np.testing.assert_array_equal(a.read(layer.name, slice(1, 3)), b.read(layer.name, slice(1, 3)))
