"""A :class:`Network` from an ONNX graph, with ONNX's shape inference (extra ``onnx``).

``Conv`` nodes (2-D) become convolutions; ``Gemm`` and ``MatMul`` nodes whose second operand
is a constant (weights) become fully connected layers, or GEMMs when the input has more than
two dimensions (as :func:`~accelsim.workload.from_torch.network_from_torch` records
``Linear``). A product of two computed tensors (attention) is skipped with a warning;
nodes inside control flow (``If``, ``Loop``) are not read.

Layer names follow PyTorch's module paths where the file keeps them, so a trace exported from
the model the file came from matches: a weight named ``layer1.0.conv1.weight`` gives
``layer1.0.conv1``; else a node named by PyTorch's exporter, ``/layer1/layer1.0/conv1/Conv``,
gives ``layer1.0.conv1``; else the node's name, else its first output's. A repeated name gets
a ``#2``, ``#3``… suffix. Refused, naming the node: dilation, unequal strides, padding that
is not split as accelsim splits it (``total // 2`` before, the rest after), 1-D and 3-D
convolutions, and shapes that shape inference leaves unknown (give ``input_shape``).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from accelsim.errors import WorkloadError
from accelsim.limits import check_regular_file
from accelsim.workload.layer import Layer, Network


def _scope_path(node_name: str) -> str | None:
    """``/layer1/layer1.0/conv1/Conv`` → ``layer1.0.conv1``; ``/features/features.1/conv/conv.0/
    conv.0.0/Conv`` → ``features.1.conv.0.0``: each scope is a path relative to a module above
    it, which either extends the scope before it (``layer1`` → ``layer1.0``: the same parent)
    or starts below it (``conv1`` inside ``layer1.0``)."""
    parts = [part for part in node_name.split("/")[1:-1] if part]
    if not node_name.startswith("/") or not parts:
        return None
    parent, relative = "", ""
    for part in parts:
        if not (relative and part.startswith(relative + ".")):
            parent = f"{parent}.{relative}" if parent and relative else parent or relative
        relative = part
    return f"{parent}.{relative}" if parent else relative


def _attributes(node: Any) -> dict[str, Any]:
    import onnx

    return {attribute.name: onnx.helper.get_attribute_value(attribute) for attribute in node.attribute}


def _set_input_shape(model: Any, input_shape: tuple[int, ...]) -> None:
    initializers = {tensor.name for tensor in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    if not inputs:
        raise WorkloadError("the graph has no input to give a shape to")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != len(input_shape):
        raise WorkloadError(f"input {inputs[0].name!r} has {len(dims)} dimensions; the shape given has "
                            f"{len(input_shape)}")
    for dim, size in zip(dims, input_shape):
        dim.Clear()
        dim.dim_value = size


def network_from_onnx(source: str | Path | Any, name: str | None = None,
                      input_shape: tuple[int, ...] | None = None) -> Network:
    """The network of the ONNX model ``source`` (a path or a loaded ``ModelProto``).

    ``input_shape`` (batch included, e.g. ``(1, 3, 224, 224)``) replaces the declared shape of
    the graph's first input, for files whose sizes are symbolic. ``name`` defaults to the
    file's stem (or the graph's name).
    """
    try:
        import onnx
    except ImportError:
        raise WorkloadError("reading ONNX needs the onnx package (pip install 'accelsim[onnx]')") from None
    if isinstance(source, (str, Path)):
        path = Path(source)
        check_regular_file(path, WorkloadError)
        try:  # shapes are all that is read: weights stored apart stay on disk
            model = onnx.load(str(path), load_external_data=False)
        except Exception as error:  # protobuf raises its own classes for a damaged file
            raise WorkloadError(f"{path}: cannot be read as ONNX ({type(error).__name__}: {error})") from None
        name = name or path.stem
    else:
        model = source
        name = name or model.graph.name or "onnx"
    if input_shape is not None:
        model = onnx.ModelProto.FromString(model.SerializeToString())  # never edit the caller's
        _set_input_shape(model, input_shape)
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)  # shapes computed from shapes too
    except Exception as error:
        raise WorkloadError(f"{name}: ONNX shape inference failed ({type(error).__name__}: {error})") from None
    graph = model.graph
    shapes: dict[str, list[int | None]] = {}
    for value in (*graph.input, *graph.value_info, *graph.output):
        if value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape"):
            shapes[value.name] = [dim.dim_value if dim.HasField("dim_value") else None
                                  for dim in value.type.tensor_type.shape.dim]
    initializers = {tensor.name for tensor in graph.initializer}
    for tensor in graph.initializer:
        shapes[tensor.name] = list(tensor.dims)
    constants = initializers | {output for node in graph.node if node.op_type == "Constant"
                                for output in node.output}
    layers: list[Layer] = []
    skipped: dict[str, int] = {}  # products of two computed tensors, by operator
    seen: dict[str, int] = {}
    passes: set[tuple] = set()  # (name, input, weight shape, attributes) of the convolutions read
    gated: set[str] = set()
    for node in graph.node:
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        weight = node.input[1] if len(node.input) > 1 else ""
        if weight in initializers and weight.endswith(".weight") and len(weight) > len(".weight"):
            layer_name = weight[:-len(".weight")]
        else:
            layer_name = _scope_path(node.name) or node.name or node.output[0]
        where = f"node {node.name or node.output[0]!r} ({node.op_type})"
        if node.op_type != "Conv" and weight not in constants:
            warnings.warn(f"{where}: a product of two computed tensors is not recorded "
                          "(accelsim layers have constant weights)", stacklevel=2)
            skipped[node.op_type] = skipped.get(node.op_type, 0) + 1
            continue
        x, w = shapes.get(node.input[0]), shapes.get(weight)
        if x is None or w is None or None in x[1:] or None in w:
            raise WorkloadError(f"{where}: shapes unknown after shape inference (input {x}, weight {w}); "
                                "give the input's shape")
        if node.op_type == "Conv":
            # a gated convolution runs twice on its input, with masked weights (the base partial
            # sum) and with all of them: one layer, which a trace gates
            key = (layer_name, node.input[0], tuple(w), tuple(sorted(map(str, _attributes(node).items()))))
            if key in passes:
                gated.add(layer_name)
                continue
            passes.add(key)
        seen[layer_name] = seen.get(layer_name, 0) + 1
        if seen[layer_name] > 1:
            layer_name = f"{layer_name}#{seen[layer_name]}"
        try:
            layer = (_conv(layer_name, node, x, w) if node.op_type == "Conv"
                     else _product(layer_name, node, x, w))
        except WorkloadError as error:
            raise WorkloadError(f"{where}: {error}") from None
        layers.append(layer)
    if not layers:
        raise WorkloadError(f"{name}: no Conv, Gemm or MatMul node with constant weights")
    if gated:
        warnings.warn(f"{len(gated)} module(s) run the same convolution twice on one input, as a gated "
                      f"convolution does (its base partial sum and its full pass): each recorded once, as "
                      f"one layer ({', '.join(sorted(gated)[:3])}{', …' if len(gated) > 3 else ''})", stacklevel=2)
    other: dict[str, int] = {}
    for node in graph.node:
        if node.op_type not in _RECORDED and node.op_type not in _DATA_MOVEMENT:
            other[node.op_type] = other.get(node.op_type, 0) + 1
    uncounted = "; ".join(part for part in (
        ", ".join(f"{count} {op}" for op, count in other.items()),
        ", ".join(f"{count} × {op} of two computed tensors" for op, count in skipped.items())) if part)
    if other:
        warnings.warn(f"{name}: not counted (no layer of the array runs them): "
                      + ", ".join(f"{count} {op}" for op, count in other.items()), stacklevel=2)
    return Network(name, tuple(layers), uncounted)


#: operators read as layers; and operators that only move or reshape data (nothing to count)
_RECORDED = ("Conv", "Gemm", "MatMul")
_DATA_MOVEMENT = ("Constant", "Identity", "Shape", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose",
                  "Gather", "Concat", "Slice", "Split", "Cast", "Expand", "ConstantOfShape")


def _conv(layer_name: str, node: Any, x: list, w: list) -> Layer:
    attributes = _attributes(node)
    if len(x) != 4:
        raise WorkloadError(f"a {len(x) - 2}-D convolution; accelsim layers are 2-D")
    kernel_h, kernel_w = attributes.get("kernel_shape", w[2:])
    stride_h, stride_w = attributes.get("strides", (1, 1))
    if stride_h != stride_w:
        raise WorkloadError(f"strides {stride_h}x{stride_w}; accelsim layers have one stride for both axes")
    if tuple(attributes.get("dilations", (1, 1))) != (1, 1):
        raise WorkloadError(f"dilations {tuple(attributes['dilations'])}; accelsim layers are not dilated")
    in_h, in_w = x[2], x[3]
    groups = int(attributes.get("group", 1))
    if x[1] != w[1] * groups:  # e.g. an --input of other channels than the model's
        raise WorkloadError(f"its input has {x[1]} channels; its weights ({tuple(w)}, {groups} group(s)) "
                            f"expect {w[1] * groups} (is the input's shape right?)")
    auto_pad = attributes.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        totals = [max((math.ceil(size / stride_h) - 1) * stride_h + kernel - size, 0)
                  for size, kernel in ((in_h, kernel_h), (in_w, kernel_w))]
        before = [total // 2 if auto_pad == "SAME_UPPER" else total - total // 2 for total in totals]
        pads = (*before, *(total - first for total, first in zip(totals, before)))
    elif auto_pad == "VALID":
        pads = (0, 0, 0, 0)
    else:
        pads = tuple(attributes.get("pads", (0, 0, 0, 0)))
    top, left, bottom, right = pads
    for axis, first, last in (("height", top, bottom), ("width", left, right)):
        if first != (first + last) // 2:
            raise WorkloadError(f"pads {first} before and {last} after along the {axis}; accelsim puts "
                                "total // 2 before and the rest after")
    return Layer(layer_name, x[1], w[0], in_h, in_w, kernel_h, kernel_w, stride_h, top + bottom,
                 left + right, groups, "conv")


def _product(layer_name: str, node: Any, x: list, w: list) -> Layer:
    if len(w) != 2:
        raise WorkloadError(f"weights of shape {tuple(w)}; expected a matrix")
    attributes = _attributes(node) if node.op_type == "Gemm" else {}
    in_features, out_features = (w[1], w[0]) if attributes.get("transB", 0) else (w[0], w[1])
    if len(x) <= 2:
        return Layer.fc(layer_name, in_features, out_features)
    return Layer.gemm(layer_name, math.prod(x[1:-1]), out_features, in_features)
