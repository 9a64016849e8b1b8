"""Built-in networks, chosen by name from :data:`NETWORKS`.

Layer names follow PyTorch module names (``layer2.0.conv1``, ``layer2.0.downsample.0``), so
that gate traces exported from a PyTorch model match them without renaming. Only layers that
run on the array are listed: pooling, batch norm, activations and option-A (identity,
zero-padded) shortcuts do no MACs on it.
"""

from __future__ import annotations

from collections.abc import Callable

from accelsim.registry import Registry
from accelsim.workload.layer import Layer, Network

NETWORKS: Registry[Callable[[], Network]] = Registry("network")


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _basic_block_stages(layers: list[Layer], size: int, channels: int = 64) -> None:
    """ResNet-18's four stages of two basic blocks (64–512 channels, stride 2 entering stages
    2–4, a 1×1 downsample conv where the shape changes), appended to ``layers``."""
    for stage, width in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            stride = 2 if block == 0 and stage > 1 else 1
            prefix = f"layer{stage}.{block}"
            layers.append(Layer.conv(f"{prefix}.conv1", channels, width, size, 3, stride, 1))
            out = _conv_out(size, 3, stride, 1)
            layers.append(Layer.conv(f"{prefix}.conv2", width, width, out, 3, 1, 1))
            if stride != 1 or channels != width:
                layers.append(Layer.conv(f"{prefix}.downsample.0", channels, width, size, 1, stride))
            channels, size = width, out


def resnet18(input_size: int = 224) -> Network:
    """torchvision's ResNet-18 on 224×224×3 ImageNet images: 20 convs (three of them 1×1
    downsample convs) and the 512→1000 classifier. Other square input sizes scale every map."""
    layers = [Layer.conv("conv1", 3, 64, input_size, 7, stride=2, padding=3)]
    _basic_block_stages(layers, _conv_out(_conv_out(input_size, 7, 2, 3), 3, 2, 1))  # stem conv, 3×3/2 max pool
    layers.append(Layer.fc("fc", 512, 1000))
    return Network("resnet18", tuple(layers))


def _cifar_resnet(name: str, input_size: int, in_channels: int, blocks: int = 3,
                  classes: int = 10) -> Network:
    """He et al.'s CIFAR ResNet-(6n+2) with option-A shortcuts (no shortcut convs)."""
    layers = [Layer.conv("conv1", in_channels, 16, input_size, 3, 1, 1)]
    size, channels = input_size, 16
    for stage, width in enumerate((16, 32, 64), start=1):
        for block in range(blocks):
            stride = 2 if block == 0 and stage > 1 else 1
            prefix = f"layer{stage}.{block}"
            layers.append(Layer.conv(f"{prefix}.conv1", channels, width, size, 3, stride, 1))
            size = _conv_out(size, 3, stride, 1)
            layers.append(Layer.conv(f"{prefix}.conv2", width, width, size, 3, 1, 1))
            channels = width
    layers.append(Layer.fc("fc", 64, classes))
    return Network(name, tuple(layers))


def resnet18_fmnist() -> Network:
    """CIFAR-style ResNet-18 on Fashion-MNIST (28×28×1), as ``workloads.models.resnet18``
    builds it: a 3×3 stem of 64 channels (no pooling), the four stages of :func:`resnet18`
    and a 512→10 classifier: 20 convs and the classifier."""
    layers = [Layer.conv("conv1", 1, 64, 28, 3, 1, 1)]
    _basic_block_stages(layers, 28)
    layers.append(Layer.fc("fc", 512, 10))
    return Network("resnet18-fmnist", tuple(layers))


def resnet20() -> Network:
    """ResNet-20 for CIFAR-10 (32×32×3), option-A shortcuts: 19 convs and a 64→10 classifier."""
    return _cifar_resnet("resnet20", 32, 3)


def resnet20_fmnist() -> Network:
    """ResNet-20 on Fashion-MNIST (28×28×1): the CIFAR ResNet-20 with a one-channel stem."""
    return _cifar_resnet("resnet20-fmnist", 28, 1)


VGG16_PLAN = (64, 64, "pool", 128, 128, "pool", 256, 256, 256, "pool",
              512, 512, 512, "pool", 512, 512, 512, "pool")


def vgg16_cifar() -> Network:
    """VGG-16 for CIFAR-10 (32×32×3): 13 3×3 convs with padding 1, 2×2 max pools, and the
    single 512→10 classifier of the common CIFAR variant."""
    layers, size, channels, stage, index = [], 32, 3, 1, 1
    for item in VGG16_PLAN:
        if item == "pool":
            size //= 2
            stage, index = stage + 1, 1
            continue
        layers.append(Layer.conv(f"conv{stage}_{index}", channels, item, size, 3, 1, 1))
        channels, index = item, index + 1
    layers.append(Layer.fc("fc", 512, 10))
    return Network("vgg16-cifar", tuple(layers))


NETWORKS.register("resnet18", resnet18)
NETWORKS.register("resnet18-fmnist", resnet18_fmnist)
NETWORKS.register("resnet20", resnet20)
NETWORKS.register("resnet20-fmnist", resnet20_fmnist)
NETWORKS.register("vgg16-cifar", vgg16_cifar)


def get_network(name: str) -> Network:
    """The built-in network called ``name``; raises :class:`UnknownNameError` listing the others."""
    return NETWORKS.get(name)()
