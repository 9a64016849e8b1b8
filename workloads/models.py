"""CIFAR-style ResNets in three variants, for 1- or 3-channel input: ResNet-20 (He et al.,
option-A shortcuts, 16–64 channels) and ResNet-18 (a 3×3 stem, four stages of two basic blocks at
64, 128, 256 and 512 channels, 1×1 convolution shortcuts where the shape changes).

* ``postact``: the post-activated block, ``relu(bn(conv))`` after *both* convs and the shortcut
  added after the second ReLU, so both convs are followed by a ReLU and both are gated
  (18 gated layers);
* ``first``: the original block, ``relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut)``, where
  only the first conv of each block is gated (9 gated layers);
* ``dense``: the post-activated network with plain convolutions: the gated model's twin, and
  its warm start (its state dict loads into ``postact``).

The variants gate the block convolutions only: a ResNet-18's stem, its 1×1 shortcut convolutions
and the classifier stay dense. Module names match accelsim's built-in networks
(``resnet20-fmnist``, ``resnet18-fmnist``: ``conv1``, ``layer2.0.conv1``, ``layer2.0.downsample.0``,
``fc``), so an exported trace lines up with the simulated network by name.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from workloads.gating import CGConv2d

VARIANTS = ("postact", "first", "dense")


def _conv3x3(in_channels: int, out_channels: int, stride: int, gated: bool, gating: dict) -> nn.Conv2d:
    if gated:
        return CGConv2d(in_channels, out_channels, 3, stride, 1, **gating)
    return nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)


class _ShortcutA(nn.Module):
    """Option A: subsample by the stride and zero-pad the new channels (no parameters)."""

    def __init__(self, stride: int, extra_channels: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        half = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, half, self.extra - half))


def _projection(in_channels: int, width: int, stride: int) -> nn.Module:
    """A 1×1 convolution and batch norm (ResNet-18's shortcut where the shape changes)."""
    return nn.Sequential(nn.Conv2d(in_channels, width, 1, stride, bias=False), nn.BatchNorm2d(width))


class BasicBlock(nn.Module):
    """Two 3×3 convolutions and a shortcut; ``projection`` chooses a 1×1 convolution rather
    than option A where the shape changes."""

    def __init__(self, in_channels: int, width: int, stride: int, variant: str, gating: dict,
                 projection: bool = False) -> None:
        super().__init__()
        self.post_activated = variant != "first"
        self.conv1 = _conv3x3(in_channels, width, stride, variant != "dense", gating)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, 1, variant == "postact", gating)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_channels != width:
            self.downsample = (_projection(in_channels, width, stride) if projection
                               else _ShortcutA(stride, width - in_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.post_activated:
            return F.relu(out) + self.downsample(x)
        return F.relu(out + self.downsample(x))


class CifarResNet(nn.Module):
    """A CIFAR-style ResNet: a 3×3 stem of ``widths[0]`` channels, one stage of ``blocks``
    basic blocks per width (stride 2 entering every stage but the first), global average
    pooling and a classifier; ``projection`` picks 1×1 convolution shortcuts over option A.

    ``gating`` holds :class:`~workloads.gating.CGConv2d` options (``partitions``, ``grouped``,
    ``threshold_init``, ``alpha``, ``sparse_backward``).
    """

    def __init__(self, variant: str = "postact", in_channels: int = 1, classes: int = 10,
                 blocks: int = 3, widths: tuple[int, ...] = (16, 32, 64), projection: bool = False,
                 **gating) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant {variant!r}: expected one of {', '.join(VARIANTS)}")
        self.variant = variant
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        channels = widths[0]
        self.stages = len(widths)
        for stage, width in enumerate(widths, start=1):
            stage_blocks = []
            for block in range(blocks):
                stride = 2 if block == 0 and stage > 1 else 1
                stage_blocks.append(BasicBlock(channels, width, stride, variant, gating, projection))
                channels = width
            self.add_module(f"layer{stage}", nn.Sequential(*stage_blocks))
        self.fc = nn.Linear(channels, classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        for stage in range(1, self.stages + 1):
            out = getattr(self, f"layer{stage}")(out)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


#: the ResNet-20 keeps its class name for code that imports it
ResNet20 = CifarResNet


def resnet20(variant: str = "postact", **options) -> CifarResNet:
    """ResNet-20: three stages of three blocks at 16, 32 and 64 channels, option-A shortcuts."""
    return CifarResNet(variant, **options)


def resnet18(variant: str = "postact", **options) -> CifarResNet:
    """CIFAR-style ResNet-18: four stages of two blocks at 64–512 channels, 1×1 shortcuts."""
    return CifarResNet(variant, blocks=2, widths=(64, 128, 256, 512), projection=True, **options)


#: the models by name; a trace's ``network`` is ``<name>-fmnist`` for a one-channel model
MODELS: dict[str, Callable[..., nn.Module]] = {"resnet20": resnet20, "resnet18": resnet18}
