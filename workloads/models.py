"""CIFAR-style ResNet-20 (He et al., option-A shortcuts) in three variants, for 1- or 3-channel input.

* ``postact``: the post-activated block, ``relu(bn(conv))`` after *both* convs and the shortcut
  added after the second ReLU, so both convs are followed by a ReLU and both are gated
  (18 gated layers);
* ``first``: the original block, ``relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut)``, where
  only the first conv of each block is gated (9 gated layers);
* ``dense``: the post-activated network with plain convolutions: the gated model's twin, and
  its warm start (its state dict loads into ``postact``).

Module names match accelsim's shapes (``resnet20-fmnist``: ``conv1``, ``layer2.0.conv1``,
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


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, width: int, stride: int, variant: str, gating: dict) -> None:
        super().__init__()
        self.post_activated = variant != "first"
        self.conv1 = _conv3x3(in_channels, width, stride, variant != "dense", gating)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, 1, variant == "postact", gating)
        self.bn2 = nn.BatchNorm2d(width)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != width:
            self.shortcut = _ShortcutA(stride, width - in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.post_activated:
            return F.relu(out) + self.shortcut(x)
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """ResNet-20 over ``input_size``² images with ``in_channels`` channels and ``classes`` outputs.

    ``gating`` holds :class:`~workloads.gating.CGConv2d` options (``partitions``, ``grouped``,
    ``threshold_init``, ``alpha``, ``sparse_backward``).
    """

    def __init__(self, variant: str = "postact", in_channels: int = 1, classes: int = 10,
                 blocks: int = 3, **gating) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant {variant!r}: expected one of {', '.join(VARIANTS)}")
        self.variant = variant
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        channels = 16
        for stage, width in enumerate((16, 32, 64), start=1):
            stage_blocks = []
            for block in range(blocks):
                stride = 2 if block == 0 and stage > 1 else 1
                stage_blocks.append(BasicBlock(channels, width, stride, variant, gating))
                channels = width
            self.add_module(f"layer{stage}", nn.Sequential(*stage_blocks))
        self.fc = nn.Linear(64, classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def resnet20(variant: str = "postact", **options) -> ResNet20:
    return ResNet20(variant, **options)


MODELS: dict[str, Callable[..., nn.Module]] = {"resnet20": resnet20}
