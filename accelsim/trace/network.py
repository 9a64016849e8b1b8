"""Gate traces meet networks: matching trace layers to network layers by name, and describing
a network layer as a trace layer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from accelsim.errors import TraceError
from accelsim.trace.format import TraceLayer, base_layout_problem
from accelsim.workload.layer import Layer, Network


def _shape(in_channels, in_h, in_w, kernel_h, kernel_w, stride, pad_total_h, pad_total_w,
           out_channels, out_h, out_w) -> str:
    return (f"{in_channels}x{in_h}x{in_w} -> {out_channels}x{out_h}x{out_w}, kernel "
            f"{kernel_h}x{kernel_w}, stride {stride}, padding {pad_total_h / 2:g}x{pad_total_w / 2:g}")


def layer_shape(layer: Layer) -> str:
    return _shape(layer.in_channels, layer.in_h, layer.in_w, layer.kernel_h, layer.kernel_w,
                  layer.stride, layer.pad_h, layer.pad_w, layer.out_channels, layer.out_h, layer.out_w)


def trace_layer_shape(layer: TraceLayer) -> str:
    return _shape(layer.in_channels, layer.in_h, layer.in_w, layer.kernel_h, layer.kernel_w,
                  layer.stride, 2 * layer.padding_h, 2 * layer.padding_w, layer.out_channels,
                  layer.out_h, layer.out_w)


def match_trace(network: Network, layers: Sequence[TraceLayer], path: str | Path) -> dict[str, TraceLayer]:
    """``{layer name: trace layer}`` for every gated layer; network layers absent from the
    trace run dense. Raises :class:`TraceError` for a trace layer the network lacks or whose
    shape differs, naming the layer and both shapes, and for a network that repeats a gated
    layer under an importer's ``#n`` suffix."""
    matched = {}
    names = {layer.name for layer in network}
    for gated in layers:
        if gated.name not in names:
            raise TraceError(f"{path}: layer {gated.name!r} is not in network {network.name!r}")
        layer = network.layer(gated.name)
        if layer.groups != 1:
            raise TraceError(f"{path}: layer {gated.name!r}: gating a grouped convolution "
                             f"(groups={layer.groups}) is not supported")
        if layer_shape(layer) != trace_layer_shape(gated):
            raise TraceError(f"{path}: layer {gated.name!r}: the trace has {trace_layer_shape(gated)}; "
                             f"network {network.name!r} has {layer_shape(layer)}")
        matched[gated.name] = gated
    # an importer's repeat of a gated layer (``X#2``: e.g. a gated convolution's second pass read
    # as a layer of its own) would run dense beside it: a wrong answer, not a guess to make
    for layer in network:
        stem, mark, number = layer.name.rpartition("#")
        if mark and number.isdigit() and stem in matched:
            raise TraceError(f"{path}: network {network.name!r} has {layer.name!r} besides the gated layer "
                             f"{stem!r}, which would run dense beside it; if it is the same convolution "
                             "read twice, import the model with --from-torch (or drop the repeat)")
    return matched


def as_trace_layer(layer: Layer, gate_groups: int, base_fraction: float | None = None,
                   base_layout: str = "grouped") -> TraceLayer:
    """The trace description of a network layer gated with ``gate_groups`` groups (η = 1/G
    unless given). With ``base_layout="shared"`` every output's base path is the first η·Cin
    input channels (CGNet without channel grouping): give ``gate_groups=1`` and η = 1/p."""
    if layer.pad_h % 2 or layer.pad_w % 2 or layer.groups != 1:
        raise TraceError(f"layer {layer.name!r}: only ungrouped convolutions with symmetric "
                         "padding can be gated")
    eta = 1.0 / gate_groups if base_fraction is None else base_fraction
    problem = base_layout_problem(layer.in_channels, gate_groups, eta, base_layout)
    if problem is not None:
        raise TraceError(f"layer {layer.name!r}: {problem[0]}: {problem[1]}")
    return TraceLayer(
        name=layer.name, in_channels=layer.in_channels, out_channels=layer.out_channels,
        in_h=layer.in_h, in_w=layer.in_w, kernel_h=layer.kernel_h, kernel_w=layer.kernel_w,
        stride=layer.stride, padding_h=layer.pad_h // 2, padding_w=layer.pad_w // 2,
        out_h=layer.out_h, out_w=layer.out_w, gate_groups=gate_groups, base_fraction=eta,
        base_layout=base_layout)


def _gateable(layer: Layer) -> bool:
    """A layer a trace can gate: an ungrouped convolution with symmetric padding."""
    return layer.kind == "conv" and layer.groups == 1 and not (layer.pad_h % 2 or layer.pad_w % 2)


def _block_convs(network: Network) -> list[Layer]:
    return [layer for layer in network.layers[1:] if _gateable(layer) and layer.kernel_h * layer.kernel_w > 1]


#: which layers a channel-gated version of a network gates (:func:`gateable_layers`)
GATING_POLICIES = {
    "blocks": _block_convs,
    "first": lambda network: [layer for layer in _block_convs(network) if layer.name.endswith(".conv1")],
    "all": lambda network: [layer for layer in network if _gateable(layer)],
}


def gateable_layers(network: Network, policy: str = "blocks") -> list[Layer]:
    """Layers a channel-gated version of ``network`` gates, by policy.

    ``blocks``: every ungrouped conv with a kernel larger than 1×1 except the first layer
    (the stem): all convs of the residual blocks in a ResNet. ``first``: of those, only the
    first conv of each residual block (names ending in ``.conv1``), as in CGNet's CIFAR recipe.
    ``all``: every ungrouped convolution, 1×1 and the stem included (grouped and depthwise
    convolutions cannot be gated).
    """
    if policy not in GATING_POLICIES:
        raise TraceError(f"gated layer policy: expected one of {', '.join(GATING_POLICIES)}, got {policy!r}")
    chosen = GATING_POLICIES[policy](network)
    if not chosen:
        raise TraceError(f"network {network.name!r} has no layers to gate under policy {policy!r}"
                         + ("; --gated all gates every ungrouped convolution" if policy != "all" else ""))
    return chosen
