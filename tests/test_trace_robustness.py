"""Corrupted, truncated and malformed traces: always the library's TraceError, naming the file
and the field; never a crash and never a silently wrong read."""

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


@pytest.mark.parametrize("dtype", [np.int16, np.bool_, np.float32, np.int8])
def test_wrong_dtype_names_the_member(small_trace, tmp_path, dtype):
    members = members_of(small_trace)
    member = "gates/layer2.1.conv2.npy"
    packed = np.load(io.BytesIO(members[member]))
    members[member] = npy(packed.astype(dtype))
    with pytest.raises(TraceError, match=r"gates/layer2.1.conv2.npy: expected dtype uint8"):
        read_everything(write_members(tmp_path / "t.npz", members))


@pytest.mark.parametrize("change", ["extra row", "missing row", "extra column", "3-d", "fortran"])
def test_wrong_shape_names_the_member(small_trace, tmp_path, change):
    members = members_of(small_trace)
    member = "gates/layer3.0.conv1.npy"
    packed = np.load(io.BytesIO(members[member]))
    changed = {"extra row": np.vstack([packed, packed[:1]]), "missing row": packed[:-1],
               "extra column": np.hstack([packed, packed[:, :1]]),
               "3-d": packed.reshape(packed.shape[0], 2, -1), "fortran": np.asfortranarray(packed)}[change]
    members[member] = npy(changed)
    with pytest.raises(TraceError, match=r"gates/layer3.0.conv1.npy: expected shape \(5, 512\)"):
        read_everything(write_members(tmp_path / "t.npz", members))


@pytest.mark.parametrize("key", ["format", "version", "model", "dataset", "accuracy", "images",
                                 "provenance", "layers"])
def test_dropped_manifest_key_is_named(small_trace, tmp_path, key):
    members = members_of(small_trace)
    manifest = manifest_of(members)
    del manifest[key]
    with pytest.raises(TraceError, match=rf"manifest.{key}: missing"):
        read_everything(write_members(tmp_path / "t.npz", with_manifest(members, manifest)))


@pytest.mark.parametrize("key", ["name", "in_channels", "out_channels", "in_h", "in_w", "kernel_h",
                                 "kernel_w", "stride", "padding_h", "padding_w", "out_h", "out_w",
                                 "gate_groups", "base_fraction"])
def test_dropped_layer_key_is_named(small_trace, tmp_path, key):
    members = members_of(small_trace)
    manifest = manifest_of(members)
    del manifest["layers"][4][key]
    with pytest.raises(TraceError, match=rf"layers\[4\]\.{key}: missing"):
        read_everything(write_members(tmp_path / "t.npz", with_manifest(members, manifest)))


@pytest.mark.parametrize("version", [0, 2, "1", 1.5, None])
def test_unknown_version(small_trace, tmp_path, version):
    members = members_of(small_trace)
    manifest = manifest_of(members)
    manifest["version"] = version
    with pytest.raises(TraceError, match=r"manifest.version: expected 1"):
        read_everything(write_members(tmp_path / "t.npz", with_manifest(members, manifest)))


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


def test_nonzero_padding_bits_are_rejected(tmp_path):
    from accelsim.trace import TraceInfo, TraceLayer, write_trace

    layer = TraceLayer("c", 3, 3, 3, 3, 1, 1, 1, 0, 0, 3, 3, 1, 1.0)  # 27 decisions: 5 spare bits
    path = write_trace(tmp_path / "t.npz", TraceInfo("m", "d", 2), [layer], {"c": np.ones((2, 3, 3, 3), bool)})
    members = members_of(path)
    packed = np.load(io.BytesIO(members["gates/c.npy"])).copy()
    packed[1, -1] |= 1
    members["gates/c.npy"] = npy(packed)
    write_members(path, members)
    with pytest.raises(TraceError, match="padding bits after the last decision are not zero"):
        read_everything(path)


def test_extra_member_is_rejected(small_trace, tmp_path):
    members = {**members_of(small_trace), "gates/stray.npy": npy(np.zeros((5, 2), np.uint8))}
    with pytest.raises(TraceError, match="gates/stray.npy: member not described in the manifest"):
        read_everything(write_members(tmp_path / "t.npz", members))


def test_not_json_manifest(small_trace, tmp_path):
    members = {**members_of(small_trace), "manifest.npy": npy(np.frombuffer(b"{oops", np.uint8))}
    with pytest.raises(TraceError, match="manifest: not valid UTF-8 JSON"):
        read_everything(write_members(tmp_path / "t.npz", members))


def test_cli_validate_reports_corruption_with_exit_2(small_trace, tmp_path, capsys):
    data = bytearray(small_trace.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a layer's bits
    (tmp_path / "bad.npz").write_bytes(bytes(data))
    assert main(["trace", "validate", str(tmp_path / "bad.npz")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("accelsim: error: ") and "bad.npz" in err
    assert "Traceback" not in err
    assert main(["trace", "validate", str(small_trace)]) == 0
    assert "valid accelsim-gate-trace v1: 18 gated layers, 5 images" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["info", "validate"])
def test_cli_on_a_non_trace_exits_2(tmp_path, capsys, command):
    (tmp_path / "x.npz").write_text("hello")
    assert main(["trace", command, str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "x.npz: not a gate trace" in err


@pytest.mark.parametrize("text, message", [
    ('{"format": 1, "format": 2}', "key 'format' appears twice"),
    ("[" * 100_000, "manifest: not valid UTF-8 JSON"),
    ('{"x": ' + "9" * 5000 + "}", "manifest: not valid UTF-8 JSON"),
    ('{"x": NaN}', "NaN is not a JSON number"),
    ("\ufeff{}", "manifest: not valid UTF-8 JSON"),
])
def test_hostile_manifests(small_trace, tmp_path, text, message):
    members = {**members_of(small_trace), "manifest.npy": npy(np.frombuffer(text.encode(), np.uint8))}
    with pytest.raises(TraceError, match=message):
        read_everything(write_members(tmp_path / "t.npz", members))


@pytest.mark.parametrize("field, value, message", [
    ("version", True, "manifest.version: expected 1"),
    ("version", 1.0, "manifest.version: expected 1"),
])
def test_version_must_be_the_integer_one(small_trace, tmp_path, field, value, message):
    members = members_of(small_trace)
    manifest = manifest_of(members)
    manifest[field] = value
    with pytest.raises(TraceError, match=message):
        read_everything(write_members(tmp_path / "t.npz", with_manifest(members, manifest)))


@pytest.mark.parametrize("value, message", [
    ([10**400] * 16, "thresholds: expected null or a list of 16 finite numbers"),
])
def test_huge_thresholds(small_trace, tmp_path, value, message):
    members = members_of(small_trace)
    manifest = manifest_of(members)
    manifest["layers"][0]["thresholds"] = value
    with pytest.raises(TraceError, match=message):
        read_everything(write_members(tmp_path / "t.npz", with_manifest(members, manifest)))


def test_layer_names_must_be_printable(small_trace, tmp_path):
    members = members_of(small_trace)
    manifest = manifest_of(members)
    manifest["layers"][0]["name"] = "a\nb"
    with pytest.raises(TraceError, match=r"expected a non-empty printable name") as caught:
        read_everything(write_members(tmp_path / "t.npz", with_manifest(members, manifest)))
    assert "\n" not in str(caught.value)


def test_repeated_members_are_rejected(small_trace, tmp_path):
    path = tmp_path / "t.npz"
    path.write_bytes(small_trace.read_bytes())
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("gates/layer1.0.conv1.npy", npy(np.zeros((5, 2048), np.uint8)))
    with pytest.raises(TraceError, match="gates/layer1.0.conv1.npy: member appears twice"):
        read_everything(path)


def test_slices_read_by_seeking_match_whole_reads(small_trace, resnet20_masks):
    layers, masks = resnet20_masks
    with open_trace(small_trace) as trace:
        for image in range(5):
            np.testing.assert_array_equal(trace.read(layers[5].name, slice(image, image + 1))[0],
                                          masks[layers[5].name][image])
