"""The channel-gated convolution (CGNet, Hua et al. 2019) as a PyTorch module.

Input channels are split into ``partitions`` parts; the base path sees one part (η = 1/p).
With ``grouped`` (the published recipes) output group *i* sees input group *i*, so the base
pass is a grouped convolution and the simulator's gate groups are the partitions; without it
(the shared-base variant) every output sees the first Cin/p input channels, so the base pass is
one convolution over them and the trace records G = 1, η = 1/p, ``base_layout`` ``shared``. Then::

    Yp = conv(x, W ⊙ mask)                       partial sum of the base path
    d  = 1[sigmoid(α·(BN(Yp) − Δ)) − 0.5 > 0]    BN without affine, Δ per output channel
    out = d·Y + (1 − d)·Yp                       Y = conv(x, W): off outputs keep Yp

The forward value of ``d`` is a hard step; its backward is the identity (straight-through),
shaped by the sigmoid's slope α. With ``sparse_backward`` no gradient reaches the decision of
an off output. :func:`threshold_loss` is the term λ·Σ(Δ − T)² that pushes thresholds up.

The module satisfies the export protocol of :mod:`workloads.export` through
:meth:`CGConv2d.gate_decision`, the very method its forward pass uses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _Step(torch.autograd.Function):
    """Heaviside step with a straight-through backward; ``sparse`` blocks off outputs."""

    @staticmethod
    def forward(ctx, value: torch.Tensor, sparse: bool) -> torch.Tensor:
        on = value > 0
        ctx.save_for_backward(on)
        ctx.sparse = sparse
        return on.to(value.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (on,) = ctx.saved_tensors
        return (grad * on if ctx.sparse else grad), None


class CGConv2d(nn.Conv2d):
    """A 2-D convolution with channel gating; bias-free (a BN follows it).

    ``partitions`` is p; ``threshold_init`` is Δ's initial value; ``alpha`` the sigmoid slope
    of the backward pass.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, *, partitions: int = 4, grouped: bool = True,
                 threshold_init: float = 0.0, alpha: float = 2.0,
                 sparse_backward: bool = False) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        if partitions < 1 or in_channels % partitions or (grouped and out_channels % partitions):
            raise ValueError(f"partitions={partitions} must divide in_channels={in_channels}"
                             + (f" and out_channels={out_channels}" if grouped else ""))
        self.partitions, self.grouped = partitions, grouped
        self.alpha, self.sparse_backward = alpha, sparse_backward
        self.bn = nn.BatchNorm2d(out_channels, affine=False)
        self.threshold = nn.Parameter(torch.full((out_channels,), float(threshold_init)))
        self.register_buffer("base_mask", self._base_mask(), persistent=False)
        #: (decisions on, decisions) of the last forward pass, for on-rate statistics
        self.last_counts: tuple[int, int] = (0, 0)

    def _base_mask(self) -> torch.Tensor:
        shape = self.weight.shape
        mask = torch.zeros(shape[0], shape[1], 1, 1)
        cin = self.in_channels // self.partitions
        if not self.grouped:
            mask[:, :cin] = 1
            return mask
        cout = self.out_channels // self.partitions
        for part in range(self.partitions):
            mask[part * cout:(part + 1) * cout, part * cin:(part + 1) * cin] = 1
        return mask

    # -- export protocol ------------------------------------------------------------------
    @property
    def gate_groups(self) -> int:
        return self.partitions if self.grouped else 1

    @property
    def base_fraction(self) -> float:
        return 1.0 / self.partitions

    @property
    def base_layout(self) -> str:
        """``grouped``: output group i's base path is input group i; ``shared``: every
        output's base path is the first Cin/p input channels (one GEMM, G = 1)."""
        return "grouped" if self.grouped else "shared"

    @property
    def thresholds(self) -> torch.Tensor:
        return self.threshold.detach()

    def partial_sum(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.base_mask, None, self.stride, self.padding)

    def _decide(self, partial: torch.Tensor) -> torch.Tensor:
        score = torch.sigmoid(self.alpha * (self.bn(partial) - self.threshold.view(1, -1, 1, 1)))
        return _Step.apply(score - 0.5, self.sparse_backward)

    def gate_decision(self, x: torch.Tensor) -> torch.Tensor:
        """The decisions ``d`` (N, Cout, Hout, Wout) of this input, as bool: forward's own."""
        with torch.no_grad():
            return self._decide(self.partial_sum(x)) > 0

    # -- forward --------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        partial = self.partial_sum(x)
        decision = self._decide(partial)
        self.last_counts = (int(decision.detach().sum()), decision.numel())
        full = F.conv2d(x, self.weight, None, self.stride, self.padding)
        return decision * full + (1 - decision) * partial


def gated_convs(model: nn.Module) -> list[tuple[str, CGConv2d]]:
    return [(name, module) for name, module in model.named_modules() if isinstance(module, CGConv2d)]


def threshold_loss(model: nn.Module, target: float, weight: float = 1e-4) -> torch.Tensor:
    """λ·Σ(Δ − T)² over every gated convolution's thresholds."""
    terms = [((module.threshold - target) ** 2).sum() for _, module in gated_convs(model)]
    if not terms:
        return torch.zeros(())
    return weight * torch.stack(terms).sum()
