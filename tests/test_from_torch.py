"""Networks from PyTorch and ONNX models, accelsim's own topology form, and `accelsim topology`."""

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from accelsim import Layer, Network, TopologyError, WorkloadError, get_network, load_topology
from accelsim.cli import main
from accelsim.workload import dumps_topology, write_topology
from accelsim.workload.networks import VGG16_PLAN, resnet18

# -- accelsim's own topology form (no torch needed) ------------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "resnet20", "resnet20-fmnist", "vgg16-cifar"])
def test_native_form_round_trips_every_builtin_network(name, tmp_path):
    network = get_network(name)
    path = write_topology(network, tmp_path / "net.csv")
    assert load_topology(path) == network  # name included: the '# network:' line
    assert load_topology(path, name="other").layers == network.layers


def test_native_form_keeps_odd_padding_groups_and_kinds(tmp_path):
    network = Network("odd, named", (Layer("c", 8, 16, 9, 7, 4, 2, 1, 3, 1, 4), Layer.fc("f", 10, 3),
                                      Layer.gemm("g", 5, 6, 7), Layer.conv("dw", 16, 16, 5, 3, 2, 1, 16)))
    path = write_topology(network, tmp_path / "n.csv")
    assert load_topology(path) == network
    assert not list(tmp_path.glob(".*partial"))  # the temporary file was renamed


def test_scalesim_form_is_read_as_before(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("# network: named\nLayer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                    "Channels, Num Filter, Strides,\nc, 34, 34, 3, 3, 16, 32, 1,\n")
    network = load_topology(path)
    assert network.name == "named"
    assert network.layers == (Layer("c", 16, 32, 34, 34, 3, 3, 1, 0, 0),)


@pytest.mark.parametrize("text, message", [
    ("layer,kind,in_channels\nc,conv,1\n", "expected accelsim's header row"),
    ("layer,kind,in_channels,out_channels,in_h,in_w,kernel_h,kernel_w,stride,pad_h,pad_w,groups\n"
     "c,conv,1,2,3,3,3,3,1,-1,0,1\n", "2: pad_h: expected a non-negative integer, got '-1'"),
    ("layer,kind,in_channels,out_channels,in_h,in_w,kernel_h,kernel_w,stride,pad_h,pad_w,groups\n"
     "c,conv,1,2,3,3,3,3,0,0,0,1\n", "2: stride: expected a positive integer, got '0'"),
    ("layer,kind,in_channels,out_channels,in_h,in_w,kernel_h,kernel_w,stride,pad_h,pad_w,groups\n"
     "c,conv,1,2,3,3,3,3,1,0,0\n", "2: expected 12 fields"),
    ("layer,kind,in_channels,out_channels,in_h,in_w,kernel_h,kernel_w,stride,pad_h,pad_w,groups\n"
     "c,pool,1,2,3,3,3,3,1,0,0,1\n", "kind must be one of"),
    ("layer,kind,in_channels,out_channels,in_h,in_w,kernel_h,kernel_w,stride,pad_h,pad_w,groups\n"
     "c,conv,1,2,3,3,3,3,1,0,0,1\nc,conv,2,2,1,1,1,1,1,0,0,1\n", "duplicate layer name 'c'"),
])
def test_native_form_errors_name_the_line(text, message, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TopologyError, match=message):
        load_topology(path)


def test_package_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None; sys.modules['onnx'] = None\n"
            "import accelsim, accelsim.cli\nfrom accelsim import network_from_torch\n"
            "assert accelsim.cli.main(['topology', '--from-torch', 'm:f', '--input', '3', '--out', 'x.csv']) == 2")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "needs PyTorch" in result.stderr


# -- PyTorch models written here, mirroring the built-in networks ------------------------------

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from accelsim import network_from_torch  # noqa: E402


class CifarBlock(nn.Module):
    def __init__(self, in_channels, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.stride, self.extra = stride, width - in_channels

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x[:, :, ::self.stride, ::self.stride]  # option A: no parameters
        shortcut = F.pad(shortcut, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return F.relu(out + shortcut)


class CifarResNet20(nn.Module):
    def __init__(self, in_channels=3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        channels = 16
        for stage, width in enumerate((16, 32, 64), start=1):
            blocks = [CifarBlock(channels if b == 0 else width, width, 2 if b == 0 and stage > 1 else 1)
                      for b in range(3)]
            self.add_module(f"layer{stage}", nn.Sequential(*blocks))
            channels = width
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        out = self.layer3(self.layer2(self.layer1(F.relu(self.bn1(self.conv1(x))))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class Vgg16Cifar(nn.Module):
    def __init__(self):
        super().__init__()
        self.plan, channels, stage, index = [], 3, 1, 1
        for item in VGG16_PLAN:
            if item == "pool":
                self.plan.append("pool")
                stage, index = stage + 1, 1
                continue
            name = f"conv{stage}_{index}"
            self.add_module(name, nn.Conv2d(channels, item, 3, padding=1))
            self.plan.append(name)
            channels, index = item, index + 1
        self.fc = nn.Linear(512, 10)

    def forward(self, x):
        for step in self.plan:
            x = F.max_pool2d(x, 2) if step == "pool" else F.relu(getattr(self, step)(x))
        return self.fc(torch.flatten(x, 1))


class Resnet18Block(nn.Module):
    def __init__(self, in_channels, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = None
        if stride != 1 or in_channels != width:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, width, 1, stride, bias=False),
                                            nn.BatchNorm2d(width))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class Resnet18(nn.Module):
    """torchvision's layout and module names."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels = 64
        for stage, width in enumerate((64, 128, 256, 512), start=1):
            stride = 1 if stage == 1 else 2
            self.add_module(f"layer{stage}", nn.Sequential(Resnet18Block(channels, width, stride),
                                                           Resnet18Block(width, width, 1)))
            channels = width
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


@pytest.mark.parametrize("model, shape, expected", [
    (CifarResNet20, (3, 32, 32), get_network("resnet20")),
    (lambda: CifarResNet20(1), (1, 28, 28), get_network("resnet20-fmnist")),
    (Vgg16Cifar, (3, 32, 32), get_network("vgg16-cifar")),
    (Resnet18, (3, 64, 64), resnet18(64)),  # the built-in scales with the input; 64² is cheap
], ids=["resnet20", "resnet20-fmnist", "vgg16-cifar", "resnet18"])
def test_modules_give_the_builtin_networks(model, shape, expected):
    network = network_from_torch(model(), torch.zeros(1, *shape), name=expected.name)
    assert network == expected  # every field of every layer, in order


@pytest.mark.parametrize("variant", ["postact", "first", "dense"])
def test_workloads_models_give_resnet20_fmnist(variant):
    from workloads.models import resnet20

    network = network_from_torch(resnet20(variant), torch.zeros(2, 1, 28, 28))
    assert network.layers == get_network("resnet20-fmnist").layers


@pytest.mark.parametrize("variant", ["postact", "dense"])
def test_workloads_resnet18_gives_resnet18_fmnist(variant):
    from workloads.models import resnet18

    model = resnet18(variant)
    network = network_from_torch(model, torch.zeros(2, 1, 28, 28))
    assert network.layers == get_network("resnet18-fmnist").layers


def test_resnet18_gates_every_block_conv_and_nothing_else():
    from workloads.export import gated_modules
    from workloads.models import resnet18

    gated = [name for name, _ in gated_modules(resnet18("postact"))]
    assert gated == [f"layer{stage}.{block}.conv{conv}"
                     for stage in range(1, 5) for block in range(2) for conv in (1, 2)]


def test_shapes_are_the_ones_seen():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.same = nn.Conv2d(4, 8, 4, padding="same")  # even kernel: 1 row before, 2 after
            self.valid = nn.Conv2d(8, 8, (3, 1), padding="valid", groups=2)
            self.tokens = nn.Linear(35, 6)

        def forward(self, x):
            x = self.valid(self.same(x))  # (N, 8, 5, 7)
            return self.tokens(x.flatten(2))  # each image: 8 rows of 35

    model = Model()
    network = network_from_torch(model, torch.zeros(1, 4, 7, 7))
    assert network.layer("same") == Layer("same", 4, 8, 7, 7, 4, 4, 1, 3, 3)
    assert network.layer("valid") == Layer("valid", 8, 8, 7, 7, 3, 1, 1, 0, 0, 2)
    assert network.layer("tokens") == Layer.gemm("tokens", 8, 6, 35)
    assert model.training  # the mode is restored


def test_a_module_run_twice_gets_numbered_names():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return self.head(self.head(x)[:, :, ::2, ::2])

    network = network_from_torch(Shared(), torch.zeros(1, 3, 8, 8))
    assert [(layer.name, layer.in_h) for layer in network] == [("head", 8), ("head#2", 4)]


def test_a_gated_module_is_one_layer_and_may_run_once():
    from workloads.gating import CGConv2d

    class Gated(nn.Module):
        def __init__(self, twice):
            super().__init__()
            self.gate, self.twice = CGConv2d(4, 8, 3, 2, 1), twice

        def forward(self, x):
            return self.gate(x) if not self.twice else self.gate(self.gate(x)[:, :4])

    assert network_from_torch(Gated(False), torch.zeros(1, 4, 9, 9)).layers == (
        Layer.conv("gate", 4, 8, 9, 3, 2, 1),)
    with pytest.raises(WorkloadError, match="module 'gate' has gate_decision and ran 2 times"):
        network_from_torch(Gated(True), torch.zeros(1, 4, 9, 9))


@pytest.mark.parametrize("module, message", [
    (nn.Conv2d(3, 4, 3, stride=(1, 2)), "stride 1x2; accelsim layers have one stride"),
    (nn.Conv2d(3, 4, 3, dilation=2), "dilation 2x2"),
    (nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), "padding_mode 'reflect'"),
    (nn.Sequential(nn.Conv1d(3, 4, 3)), "module '0': Conv1d cannot be represented"),
    (nn.Sequential(nn.Flatten(), nn.Unflatten(1, (1, 3 * 8 * 8))), "no Conv2d or Linear module ran"),
])
def test_what_cannot_be_represented_is_refused(module, message):
    shape = (1, 3, 8) if "Conv1d" in message else (1, 3, 8, 8)
    with pytest.raises(WorkloadError, match=message):
        network_from_torch(module, torch.zeros(shape))


def test_a_failing_forward_pass_is_a_workload_error():
    with pytest.raises(WorkloadError, match="forward pass raised RuntimeError"):
        network_from_torch(CifarResNet20(), torch.zeros(1, 5, 32, 32))


# -- accelsim topology ---------------------------------------------------------------------------

USER_FILE = textwrap.dedent("""
    import torch
    from torch import nn


    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1))
            self.classifier = nn.Linear(16, 4)

        def forward(self, x):
            return self.classifier(self.features(x).mean((2, 3)))


    def build():
        return Small()


    def broken():
        raise RuntimeError("no weights here")


    def failing_forward():
        return nn.Sequential(nn.Flatten(), nn.Linear(7, 2))


    def not_a_model():
        return 42


    def exits():
        raise SystemExit(0)


    def hangs():
        import time
        while True:
            time.sleep(0.05)


    def exits_in_forward():
        class Quitter(nn.Module):
            def forward(self, x):
                raise SystemExit(0)
        return Quitter()
""")


def test_cli_writes_a_topology_that_round_trips(tmp_path, capsys):
    source = tmp_path / "user_model.py"
    source.write_text(USER_FILE)
    out = tmp_path / "net.csv"
    assert main(["topology", "--from-torch", f"{source}:build", "--input", "3x16x16", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: build, 3 layers")
    network = load_topology(out)
    assert network.name == "build"
    assert network.layers == (Layer.conv("features.0", 3, 8, 16, 3, 2, 1),
                              Layer.conv("features.2", 8, 16, 8, 3, 1, 1), Layer.fc("classifier", 16, 4))
    assert main(["run", "--topology", str(out), "--quiet", "--out", str(tmp_path / "results")]) == 0
    layers = pd.read_csv(tmp_path / "results" / "layers.csv")
    assert list(layers["layer"]) == ["features.0", "features.2", "classifier"]
    assert (layers["network"] == "build").all()


def test_a_gated_model_runs_from_its_own_trace_and_topology(tmp_path, capsys):
    """A model from workloads/, its trace exported on two random images, and the topology
    written from the same model: no hand-written CSV in between."""
    from workloads.export import export_trace
    from workloads.models import resnet20

    torch.manual_seed(0)
    model = resnet20("postact").eval()
    trace = export_trace(model, torch.randn(2, 1, 28, 28), tmp_path / "gated.npz",
                         model_name="cg-resnet20", dataset="random", network="my-model")
    out = tmp_path / "net.csv"
    assert main(["topology", "--from-torch", "workloads.models:resnet20", "--input", "1x28x28",
                 "--name", "my-model", "--out", str(out), "--quiet"]) == 0
    results = tmp_path / "results"
    assert main(["run", str(trace), "--topology", str(out), "--scheduler", "pixel-skip",
                 "--calibration", "0:1", "--out", str(results), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    layers = pd.read_csv(results / "layers.csv")
    gated = layers[(layers["scheduler"] == "pixel-skip") & (layers["layer"] == "layer2.0.conv1")]
    assert len(gated) == 2 and (gated["macs_executed"] < gated["macs_dense"]).all()


def test_an_onnx_file_gives_the_same_network(tmp_path, capsys):
    onnx = pytest.importorskip("onnx")
    from accelsim import network_from_onnx

    path = tmp_path / "resnet20.onnx"
    with pytest.warns(Warning):  # the TorchScript exporter announces its deprecation
        torch.onnx.export(CifarResNet20().eval(), (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False)
    assert onnx.load(str(path)).graph.node  # a real graph, BN folded into the convs
    assert network_from_onnx(path, name="resnet20") == get_network("resnet20")
    out = tmp_path / "net.csv"
    assert main(["topology", "--from-onnx", str(path), "--name", "resnet20", "--out", str(out), "--quiet"]) == 0
    assert load_topology(out) == get_network("resnet20")
    # a symbolic batch and a new image size: --input fixes the shapes
    dynamic = tmp_path / "dynamic.onnx"
    with pytest.warns(Warning):
        torch.onnx.export(CifarResNet20().eval(), (torch.zeros(1, 3, 32, 32),), str(dynamic), dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "batch", 2: "h", 3: "w"}})
    assert main(["topology", "--from-onnx", str(dynamic), "--input", "3x32x32", "--name", "resnet20",
                 "--out", str(out), "--quiet"]) == 0
    assert load_topology(out) == get_network("resnet20")
    assert main(["topology", "--from-onnx", str(dynamic), "--out", str(out)]) == 2
    assert "shapes unknown after shape inference" in capsys.readouterr().err


def test_onnx_products_of_weights_are_layers_and_of_activations_a_warning(tmp_path):
    pytest.importorskip("onnx")
    from accelsim import network_from_onnx

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.query, self.key = nn.Linear(16, 8), nn.Linear(16, 8)

        def forward(self, x):  # (N, tokens, 16)
            return torch.matmul(self.query(x), self.key(x).transpose(1, 2))

    model, example = Attention().eval(), torch.zeros(1, 5, 16)
    path = tmp_path / "attention.onnx"
    with pytest.warns(Warning):
        torch.onnx.export(model, (example,), str(path), dynamo=False)
    with pytest.warns(UserWarning, match="a product of two computed tensors is not recorded"):
        network = network_from_onnx(path, name="attention")
    with pytest.warns(UserWarning, match=r"not recorded as layers \(no constant weights\): 1 × matmul"):
        assert network == network_from_torch(model, example, name="attention")
    assert network.layers == (Layer.gemm("query", 5, 8, 16), Layer.gemm("key", 5, 8, 16))


def _bad_cases(tmp_path):
    source = tmp_path / "user_model.py"
    source.write_text(USER_FILE)
    broken = tmp_path / "syntax.py"
    broken.write_text("def build(:\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "junk.onnx").write_bytes(b"\x00not onnx\xff" * 10)
    out = str(tmp_path / "net.csv")
    return {
        "missing module": (["--from-torch", "no_such_module_xyz:build", "--input", "3x8x8", "--out", out],
                           "cannot import no_such_module_xyz"),
        "missing file": (["--from-torch", f"{tmp_path}/absent.py:build", "--input", "3x8x8", "--out", out],
                         "absent.py: no such file"),
        "no colon": (["--from-torch", str(source), "--input", "3x8x8", "--out", out], "expected MODULE:CALLABLE"),
        "missing callable": (["--from-torch", f"{source}:nope", "--input", "3x8x8", "--out", out],
                             "has no attribute 'nope'"),
        "import raises": (["--from-torch", f"{broken}:build", "--input", "3x8x8", "--out", out],
                          "raised SyntaxError"),
        "callable raises": (["--from-torch", f"{source}:broken", "--input", "3x8x8", "--out", out],
                            "broken() raised RuntimeError: no weights here"),
        "forward raises": (["--from-torch", f"{source}:failing_forward", "--input", "3x8x8", "--out", out],
                           "the model's forward pass raised RuntimeError"),
        "not a model": (["--from-torch", f"{source}:not_a_model", "--input", "3x8x8", "--out", out],
                        "returned int, not a torch.nn.Module"),
        "no input": (["--from-torch", f"{source}:build", "--out", out], "give --input"),
        "bad input": (["--from-torch", f"{source}:build", "--input", "3xax8", "--out", out],
                      "--input: expected positive sizes"),
        "zero input": (["--from-torch", f"{source}:build", "--input", "0x8x8", "--out", out],
                       "--input: expected positive sizes"),
        "huge input": (["--from-torch", f"{source}:build", "--input", "3x100000x100000", "--out", out],
                       "more than the 268,435,456 allowed"),
        "out is a folder": (["--from-torch", f"{source}:build", "--input", "3x8x8", "--out", str(tmp_path / "folder")],
                            "folder: cannot write (not a regular file)"),
        "out in a missing folder": (["--from-torch", f"{source}:build", "--input", "3x8x8",
                                     "--out", str(tmp_path / "absent" / "n.csv")], "cannot write"),
        "both sources": (["--from-torch", f"{source}:build", "--from-onnx", "m.onnx", "--out", out],
                         "not allowed with argument"),
        "missing onnx": (["--from-onnx", str(tmp_path / "absent.onnx"), "--out", out], "absent.onnx"),
        "junk onnx": (["--from-onnx", str(tmp_path / "junk.onnx"), "--out", out], "junk.onnx"),
        "callable exits": (["--from-torch", f"{source}:exits", "--input", "3x8x8", "--out", out],
                           "exits() raised SystemExit: 0"),
        "forward exits": (["--from-torch", f"{source}:exits_in_forward", "--input", "3x8x8", "--out", out],
                          "the model's forward pass raised SystemExit"),
        "callable hangs": (["--from-torch", f"{source}:hangs", "--input", "3x8x8", "--timeout", "1", "--out", out],
                           "gave up after 1 s (--timeout)"),
    }


BAD_CASES = sorted([
    "missing module", "missing file", "no colon", "missing callable", "import raises", "callable raises",
    "forward raises", "not a model", "no input", "bad input", "zero input", "huge input", "out is a folder",
    "out in a missing folder", "both sources", "missing onnx", "junk onnx", "callable exits", "forward exits",
    "callable hangs"])


def test_bad_case_list_is_complete(tmp_path):
    assert sorted(_bad_cases(tmp_path)) == BAD_CASES


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_topology_input_exits_2_with_one_line(case, tmp_path, capsys):
    args, message = _bad_cases(tmp_path)[case]
    status = main(["topology", *args])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("accelsim: error: ") and "Traceback" not in err
    assert message in err
    assert not (tmp_path / "net.csv").exists()
    assert not [path for path in tmp_path.rglob("*") if path.name.endswith(".partial")]


class _Functional(nn.Module):
    """Work done by functional calls inside a submodule: a convolution with a parameter, a
    product with a parameter (and its transpose), and attention's product of two activations."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(16, 8, 3, 3))
        self.embed = nn.Parameter(torch.randn(10, 16))

    def forward(self, x):
        x = F.conv2d(x, self.weight, stride=2, padding=1)  # (N, 16, 4, 4)
        tokens = x.flatten(2).transpose(1, 2)  # (N, 16 tokens, 16)
        scores = torch.matmul(tokens, tokens.transpose(1, 2))
        return torch.matmul(scores @ tokens, self.embed.t())


class _FunctionalNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = _Functional()

    def forward(self, x):
        return self.block(F.relu(self.stem(x)))


def test_functional_calls_become_layers_and_products_of_activations_a_warning():
    with pytest.warns(UserWarning, match=r"not recorded as layers \(no constant weights\): 2 × matmul"):
        network = network_from_torch(_FunctionalNet(), torch.zeros(1, 3, 8, 8), name="f")
    assert network.layers == (Layer.conv("stem", 3, 8, 8, 3, 1, 1), Layer.conv("block", 8, 16, 8, 3, 2, 1),
                              Layer.gemm("block#2", 16, 10, 16))


def test_functional_calls_give_the_same_network_on_both_routes(tmp_path):
    pytest.importorskip("onnx")
    from accelsim import network_from_onnx

    model, example = _FunctionalNet().eval(), torch.zeros(1, 3, 8, 8)
    path = tmp_path / "functional.onnx"
    with pytest.warns(Warning):
        torch.onnx.export(model, (example,), str(path), dynamo=False)
    with pytest.warns(UserWarning):
        from_onnx = network_from_onnx(path, name="f")
    with pytest.warns(UserWarning):
        assert network_from_torch(model, example, name="f") == from_onnx
    # exported with symbolic sizes: the shape given resolves them, through the reshapes too
    dynamic = tmp_path / "dynamic.onnx"
    with pytest.warns(Warning):
        torch.onnx.export(model, (example,), str(dynamic), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch", 2: "h", 3: "w"}})
    with pytest.warns(UserWarning):
        assert network_from_onnx(dynamic, name="f", input_shape=(1, 3, 8, 8)) == from_onnx


def test_a_gated_model_is_one_layer_per_gated_conv_on_both_routes(tmp_path):
    """ONNX holds a gated convolution twice (its masked partial pass and its full pass): read
    as one layer, as the torch route reads the module, with a warning that says so."""
    pytest.importorskip("onnx")
    from accelsim import network_from_onnx
    from workloads.models import resnet20

    model, example = resnet20("postact").eval(), torch.zeros(1, 1, 28, 28)
    path = tmp_path / "gated.onnx"
    with pytest.warns(Warning):
        torch.onnx.export(model, (example,), str(path), dynamo=False)
    with pytest.warns(UserWarning, match="18 module.*run the same convolution twice.*recorded once"):
        from_onnx = network_from_onnx(path, name="g")
    assert from_onnx == network_from_torch(model, example, name="g")
    assert not any("#" in layer.name for layer in from_onnx)


def test_a_topology_that_repeats_a_gated_layer_is_refused(tmp_path):
    """A gated layer ``X`` beside an importer's ``X#2`` would run the repeat dense: refused."""
    from accelsim.errors import TraceError
    from accelsim.trace import as_trace_layer
    from accelsim.trace.network import match_trace

    layer = Layer.conv("features.1.0", 16, 16, 8, 3, 1, 1)
    network = Network("vgg", (layer, Layer.conv("features.1.0#2", 16, 16, 8, 3, 1, 1)))
    with pytest.raises(TraceError, match="'features.1.0#2' besides the gated layer 'features.1.0'.*--from-torch"):
        match_trace(network, [as_trace_layer(layer, 4)], "t.npz")
    assert match_trace(Network("vgg", (layer,)), [as_trace_layer(layer, 4)], "t.npz")


class _InvertedResidual(nn.Module):
    """MobileNetV2's block: nested Sequentials, a depthwise conv, BN folded into the convs on export."""

    def __init__(self, channels, expand):
        super().__init__()
        hidden = channels * expand
        self.conv = nn.Sequential(
            nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()),
            nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False),
                          nn.BatchNorm2d(hidden), nn.ReLU6()),
            nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        return x + self.conv(x)


def test_nested_containers_keep_their_module_paths_on_the_onnx_route(tmp_path):
    pytest.importorskip("onnx")
    from accelsim import network_from_onnx

    model = nn.Sequential(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6()),
                          _InvertedResidual(8, 2), _InvertedResidual(8, 3)).eval()
    example = torch.zeros(1, 3, 8, 8)
    path = tmp_path / "mobile.onnx"
    with pytest.warns(Warning):
        torch.onnx.export(model, (example,), str(path), dynamo=False)
    from_torch = network_from_torch(model, example, name="m")
    assert "1.conv.1.0" in [layer.name for layer in from_torch]
    assert network_from_onnx(path, name="m") == from_torch


def test_an_onnx_input_of_other_channels_than_the_model_is_refused(tmp_path, capsys):
    pytest.importorskip("onnx")
    path = tmp_path / "m.onnx"
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1)).eval()
    with pytest.warns(Warning):
        torch.onnx.export(model, (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "batch", 1: "c", 2: "h", 3: "w"}})
    assert main(["topology", "--from-onnx", str(path), "--input", "5x8x8", "--out", str(tmp_path / "n.csv")]) == 2
    assert "its input has 5 channels" in capsys.readouterr().err
    assert not (tmp_path / "n.csv").exists()


def test_work_that_is_not_a_layer_is_named_in_one_warning():
    """Pooling, normalization, additions and activations are not timed: one warning counts them
    (a gated conv's own gate, inside its module, is its layer's and not counted)."""
    from workloads.models import resnet20

    with pytest.warns(UserWarning, match=r"not counted \(no layer of the array runs them\): 19 normalization, "
                                         r"19 activations, 9 additions, 1 pooling"):
        network_from_torch(resnet20("dense").eval(), torch.zeros(1, 1, 28, 28))
    # the gated network: the same, its gates' own normalization and sigmoid inside the gated convs
    with pytest.warns(UserWarning, match=r"not counted .*: 19 normalization, 19 activations, 9 additions, 1 pooling"):
        network_from_torch(resnet20("postact").eval(), torch.zeros(1, 1, 28, 28))


def test_what_was_not_counted_is_said_again_on_every_run(tmp_path, capsys):
    """The topology keeps what the importer did not count (a `# not counted:` line), and each
    `accelsim run` of it says so in one line."""
    source = tmp_path / "user_model.py"
    source.write_text(USER_FILE)
    out = tmp_path / "net.csv"
    assert main(["topology", "--from-torch", f"{source}:build", "--input", "3x16x16", "--out", str(out)]) == 0
    written = capsys.readouterr()
    assert "not counted" in written.err
    comment = next(line for line in out.read_text().splitlines() if line.startswith("# not counted:"))
    with pytest.warns(UserWarning, match="not counted"):
        network = load_topology(out)
    assert network.uncounted and network.uncounted in comment
    assert main(["run", "--topology", str(out), "--out", str(tmp_path / "results")]) == 0
    ran = capsys.readouterr()
    noted = [line for line in (ran.out + ran.err).splitlines() if "not counted" in line]
    assert len(noted) == 1 and str(out) in noted[0] and network.uncounted in noted[0]


def test_onnx_says_what_it_did_not_count(tmp_path):
    pytest.importorskip("onnx")
    from accelsim import network_from_onnx

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2)).eval()
    path = tmp_path / "m.onnx"
    with pytest.warns(Warning):
        torch.onnx.export(model, (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False)
    with pytest.warns(UserWarning, match=r"not counted \(no layer of the array runs them\): .*Relu.*MaxPool"):
        network = network_from_onnx(path, name="m")
    assert "Relu" in network.uncounted and "MaxPool" in network.uncounted


class _TransformerBlock(nn.Module):
    """A pre-norm transformer block in plain PyTorch: fused QKV, multi-head attention by hand,
    an output projection and a GELU MLP, with residuals."""

    def __init__(self, width: int = 32, heads: int = 4):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x):
        batch, tokens, width = x.shape
        q, k, v = (part.view(batch, tokens, self.heads, -1).transpose(1, 2)
                   for part in self.qkv(self.norm1(x)).chunk(3, dim=-1))
        weights = torch.softmax(q @ k.transpose(-2, -1) / (width // self.heads) ** 0.5, dim=-1)
        x = x + self.proj((weights @ v).transpose(1, 2).reshape(batch, tokens, width))
        return x + self.mlp(self.norm2(x))


def test_a_transformer_block_gives_the_same_network_on_both_routes(tmp_path):
    """Its four products with weights are layers on both routes, with the same names and
    shapes; the two products of activations (scores, weighted values) are skipped on both, and
    both say so."""
    pytest.importorskip("onnx")
    from accelsim import network_from_onnx

    model, example = _TransformerBlock().eval(), torch.zeros(1, 16, 32)
    path = tmp_path / "block.onnx"
    with pytest.warns(Warning):
        torch.onnx.export(model, (example,), str(path), dynamo=False)
    with pytest.warns(UserWarning, match=r"no constant weights\): 2 × matmul"):
        from_torch = network_from_torch(model, example, name="block")
    with pytest.warns(UserWarning, match="a product of two computed tensors is not recorded"):
        from_onnx = network_from_onnx(path, name="block")
    assert from_onnx == from_torch
    assert from_torch.layers == (Layer.gemm("qkv", 16, 96, 32), Layer.gemm("proj", 16, 32, 32),
                                 Layer.gemm("mlp.0", 16, 128, 32), Layer.gemm("mlp.2", 16, 32, 128))
    assert "2 × MatMul of two computed tensors" in from_onnx.uncounted
