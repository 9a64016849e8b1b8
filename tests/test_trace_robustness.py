"""Corrupted, truncated and malformed traces: always the library's TraceError, naming the file
and the field; never a crash and never a silently wrong read. Here the fuzzers; each fixed damage
and its message is a row of tests/test_bad_input.py (which builds its traces with the helpers below)."""

import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accelsim import TraceError
from accelsim.cli import main
from accelsim.trace import open_trace
from tiers import examples

FIXTURE_OK = [HealthCheck.function_scoped_fixture]


def read_everything(path):
    with open_trace(path) as trace:
        return trace.info, trace.layers, {name: trace.read(name) for name in trace.layer_names}


def members_of(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_members(path, members):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def manifest_of(members):
    return json.loads(np.load(io.BytesIO(members["manifest.npy"])).tobytes())


def with_manifest(members, manifest):
    return {**members, "manifest.npy": npy(np.frombuffer(json.dumps(manifest).encode(), np.uint8))}


@settings(max_examples=examples(150), deadline=None, suppress_health_check=FIXTURE_OK)
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=3))
@example(flips=[(0.050017514902752865, 64)])  # a flip inside a .npy header that numpy's parser chokes on
def test_flipped_bytes_are_caught_or_harmless(small_trace, tmp_path_factory, flips):
    original = read_everything(small_trace)
    data = bytearray(small_trace.read_bytes())
    for where, xor in flips:
        data[int(where * len(data))] ^= xor
    path = tmp_path_factory.mktemp("flip") / "t.npz"
    path.write_bytes(bytes(data))
    try:
        info, layers, masks = read_everything(path)
    except TraceError as error:
        assert str(path) in str(error)
        return
    # a flip the format tolerates (a ZIP timestamp, say) must not change what is read
    assert (info, layers) == original[:2]
    for name, value in original[2].items():
        np.testing.assert_array_equal(masks[name], value)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=FIXTURE_OK)
@given(keep=st.floats(0, 1, exclude_max=True))
def test_truncated_files_are_rejected(small_trace, tmp_path_factory, keep):
    data = small_trace.read_bytes()
    path = tmp_path_factory.mktemp("cut") / "t.npz"
    path.write_bytes(data[: int(keep * len(data))])
    with pytest.raises(TraceError, match="t.npz"):
        read_everything(path)


JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**12), st.floats(allow_nan=False),
                        st.text(max_size=5), st.lists(st.integers(0, 3), max_size=3))


@settings(max_examples=examples(150), deadline=None, suppress_health_check=FIXTURE_OK)
@given(layer=st.integers(0, 17), key=st.sampled_from(["in_channels", "out_channels", "in_h", "in_w",
       "kernel_h", "kernel_w", "stride", "padding_h", "padding_w", "out_h", "out_w", "gate_groups",
       "base_fraction", "thresholds", "name"]), value=JSON_VALUES)
def test_any_changed_layer_field_is_caught_or_consistent(small_trace, tmp_path_factory, layer, key, value):
    members = members_of(small_trace)
    manifest = manifest_of(members)
    manifest["layers"][layer][key] = value
    path = write_members(tmp_path_factory.mktemp("field") / "t.npz", with_manifest(members, manifest))
    try:
        info, layers, masks = read_everything(path)
    except TraceError as error:
        assert "t.npz" in str(error)
        return
    # accepted only if the layer still describes exactly what is stored: its decisions read
    # back bit for bit
    stored = np.load(io.BytesIO(members[layers[layer].member]))
    bits = np.unpackbits(stored, axis=1, count=layers[layer].decisions_per_image)
    np.testing.assert_array_equal(masks[layers[layer].name].reshape(len(stored), -1), bits.astype(bool))


def test_cli_validate_accepts_a_sound_trace(small_trace, capsys):
    assert main(["trace", "validate", str(small_trace)]) == 0
    assert "valid accelsim-gate-trace v1: 18 gated layers, 5 images" in capsys.readouterr().out


def test_slices_read_by_seeking_match_whole_reads(small_trace, resnet20_masks):
    layers, masks = resnet20_masks
    with open_trace(small_trace) as trace:
        for image in range(5):
            np.testing.assert_array_equal(trace.read(layers[5].name, slice(image, image + 1))[0],
                                          masks[layers[5].name][image])
