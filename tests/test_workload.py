"""Layers, built-in networks and SCALE-Sim topology import."""

import pytest

from accelsim import Layer, Network, TopologyError, UnknownNameError, WorkloadError, get_network
from accelsim.workload import NETWORKS, load_topology


def test_builtin_networks_are_registered():
    assert set(NETWORKS.names()) == {"resnet18", "resnet18-fmnist", "resnet20", "resnet20-fmnist", "vgg16-cifar"}


def test_unknown_network_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="resnet18, resnet18-fmnist, resnet20"):
        get_network("resnet50")


def test_resnet18_matches_torchvision():
    net = get_network("resnet18")
    convs = [layer for layer in net if layer.kind == "conv"]
    assert len(convs) == 20
    assert sum(layer.macs for layer in convs) == 1_813_561_344  # torchvision's ResNet-18 convs
    downsample = [layer for layer in convs if "downsample" in layer.name]
    assert [(d.kernel_h, d.stride, d.in_channels, d.out_channels) for d in downsample] == [
        (1, 2, 64, 128), (1, 2, 128, 256), (1, 2, 256, 512)]
    stem = net.layer("conv1")
    assert (stem.out_h, stem.out_w, stem.K) == (112, 112, 3 * 7 * 7)
    fc = net.layer("fc")
    assert (fc.M, fc.N, fc.K) == (1, 1000, 512)
    assert net.layer("layer4.1.conv2").M == 7 * 7


def test_resnet20_cifar_shapes():
    net = get_network("resnet20")
    assert len(net) == 20  # 19 convs (option-A shortcuts have none) and the classifier
    convs = [layer for layer in net if layer.kind == "conv"]
    # 32·32·16·27 + 6·(32·32·16·144) + (16·16·32·144 + 5·16·16·32·288) + (8·8·64·288 + 5·8·8·64·576)
    assert sum(layer.macs for layer in convs) == 40_550_400
    assert {layer.out_h for layer in convs} == {32, 16, 8}


def test_resnet20_fmnist_is_resnet20_on_28x28x1():
    net = get_network("resnet20-fmnist")
    assert net.layer("conv1").in_channels == 1
    assert [net.layer(f"layer{s}.0.conv2").out_h for s in (1, 2, 3)] == [28, 14, 7]


def test_resnet18_fmnist_shapes():
    """The CIFAR-style ResNet-18 on 28×28×1: a 3×3 stem, maps of 28, 14, 7 and 4 pixels, three
    1×1 downsample convs and a 512→10 classifier."""
    net = get_network("resnet18-fmnist")
    assert len(net) == 21
    assert (net.layer("conv1").in_channels, net.layer("conv1").out_h) == (1, 28)
    assert [net.layer(f"layer{stage}.1.conv2").out_h for stage in range(1, 5)] == [28, 14, 7, 4]
    assert [layer.name for layer in net if layer.kernel_h == 1 and layer.kind == "conv"] == [
        f"layer{stage}.0.downsample.0" for stage in (2, 3, 4)]
    assert net.layer("fc").out_channels == 10


def test_vgg16_cifar_shapes():
    net = get_network("vgg16-cifar")
    convs = [layer for layer in net if layer.kind == "conv"]
    assert len(convs) == 13
    assert [c.out_h for c in convs] == [32, 32, 16, 16, 8, 8, 8, 4, 4, 4, 2, 2, 2]
    assert net.layer("fc").K == 512


def test_gemm_mapping_of_a_conv_with_padding():
    layer = Layer.conv("c", 16, 32, (15, 11), (3, 5), stride=2, padding=(1, 2))
    assert (layer.out_h, layer.out_w) == ((15 + 2 - 3) // 2 + 1, (11 + 4 - 5) // 2 + 1)
    assert (layer.M, layer.N, layer.K) == (8 * 6, 32, 16 * 3 * 5)


def test_depthwise_is_one_gemm_per_channel():
    layer = Layer.conv("dw", 32, 32, 8, 3, padding=1, groups=32)
    assert layer.K == 9
    assert layer.group_gemm == (64, 1, 9)
    assert layer.macs == 64 * 32 * 9


@pytest.mark.parametrize("kwargs, message", [
    (dict(in_channels=0), "in_channels must be a positive integer"),
    (dict(in_channels=2.0), "in_channels must be a positive integer"),
    (dict(in_channels=True), "in_channels must be a positive integer"),
    (dict(groups=3), "groups=3 must divide"),
    (dict(kernel_h=9), "larger than the padded input"),
    (dict(pad_h=-1), "pad_h must be a non-negative integer"),
    (dict(kind="pool"), "kind must be one of"),
])
def test_bad_layers_are_rejected(kwargs, message):
    base = dict(name="x", in_channels=4, out_channels=4, in_h=8, in_w=8, kernel_h=3, kernel_w=3)
    with pytest.raises(WorkloadError, match=message):
        Layer(**{**base, **kwargs})


def test_duplicate_layer_names_are_rejected():
    with pytest.raises(WorkloadError, match="duplicate layer name 'a'"):
        Network("n", (Layer.fc("a", 2, 2), Layer.fc("a", 2, 2)))


HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"


def write(tmp_path, text, name="topo.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_topology_with_and_without_trailing_comma(tmp_path):
    path = write(tmp_path, HEADER + "a, 12, 12, 3, 3, 8, 16, 2,\nb, 9, 9, 1, 1, 16, 32, 2\n")
    net = load_topology(path)
    assert [layer.name for layer in net] == ["a", "b"]
    # SCALE-Sim sizes outputs as ceil((H − k + s)/s): 6, not the 5 a real convolution gives
    assert (net.layer("a").out_h, net.layer("b").out_h) == (6, 5)
    assert net.layer("a").pad_h == 1 and net.layer("b").pad_h == 0


def test_topology_sparsity_column_is_ignored_with_a_warning(tmp_path):
    header = HEADER.replace("Strides,", "Strides, Sparsity,")
    path = write(tmp_path, header + "a, 10, 10, 3, 3, 3, 8, 1, 2:4,\n")
    with pytest.warns(UserWarning, match="Sparsity column is ignored"):
        net = load_topology(path)
    assert net.layer("a").macs == 64 * 8 * 27


def test_topology_sparsity_value_without_header_column(tmp_path):
    with pytest.warns(UserWarning, match="Sparsity column is ignored"):
        net = load_topology(write(tmp_path, HEADER + "a, 10, 10, 3, 3, 3, 8, 1, 2:4,\n"))
    assert net.layer("a").stride == 1


def test_topology_repeated_names_are_renamed_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="a -> a#2"):
        net = load_topology(write(tmp_path, HEADER + "a, 10, 10, 3, 3, 3, 8, 1,\na, 8, 8, 3, 3, 3, 8, 1,\n"))
    assert [layer.name for layer in net] == ["a", "a#2"]
    assert net.layer("a#2").in_h == 8


def test_numpy_integers_are_accepted():
    import numpy as np

    layer = Layer.conv("c", np.int64(3), np.int32(8), np.int64(10), 3)
    assert layer.in_channels == 3 and type(layer.in_channels) is int


def test_network_table():
    table = get_network("resnet20").to_frame()
    assert len(table) == 20 and table["macs"].sum() == get_network("resnet20").macs
    assert list(table.loc[table["layer"] == "fc", ["M", "N", "K"]].iloc[0]) == [1, 10, 64]


def test_topology_gemm_form(tmp_path):
    net = load_topology(write(tmp_path, "Layer, M, N, K,\ng1, 17, 9, 23,\n"))
    assert (net.layer("g1").M, net.layer("g1").N, net.layer("g1").K) == (17, 9, 23)


def test_topology_depthwise_expands_like_scalesim(tmp_path):
    net = load_topology(write(tmp_path, HEADER + "DP_conv, 10, 10, 3, 3, 4, 4, 1,\n"))
    assert [layer.name for layer in net] == [f"DP_convChannel_{i}" for i in range(4)]
    assert {(layer.M, layer.N, layer.K) for layer in net} == {(64, 4, 9)}


@pytest.mark.parametrize("body, message", [
    ("a, 12, 12, 3, 3, 8, x, 2,\n", r"topo.csv:2: Num Filter: expected a positive integer, got 'x'"),
    ("a, 12, 12, 3, 3, 8, 16,\n", r"topo.csv:2: expected 8 fields"),
    ("a, 12, 12, 3, 3, 8, 16, 1, 2:4, 9,\n", r"topo.csv:2: expected 8 fields .* got 10"),
    ("a, 3000000000, 12, 3, 3, 8, 16, 1,\n", r"topo.csv:2: layer 'a': in_h must be a positive integer up to"),
    ("a, 2000000000, 2000000000, 3, 3, 8, 16, 1,\n", r"topo.csv:2: layer 'a': .* MACs per image is more than"),
    ("a, 12, 12, 3, 3, 8, 16, 0,\n", r"topo.csv:2: Strides: expected a positive integer, got 0"),
    ("a, 2, 2, 3, 3, 8, 16, 1,\n", r"topo.csv:2: filter 3x3 is larger than the IFMAP 2x2"),
    ("", "no layers after the header row"),
])
def test_malformed_topology_names_file_and_line(tmp_path, body, message):
    with pytest.raises(TopologyError, match=message):
        load_topology(write(tmp_path, HEADER + body))


def test_topology_without_header_is_rejected(tmp_path):
    with pytest.raises(TopologyError, match="topo.csv:1: expected a header row"):
        load_topology(write(tmp_path, "a, 12, 12, 3, 3, 8, 16, 1,\n"))


def test_missing_topology_file(tmp_path):
    with pytest.raises(TopologyError, match="no such file"):
        load_topology(tmp_path / "absent.csv")
