"""A :class:`Network` from a PyTorch model, recorded by forward hooks on one example input.

Every ``torch.nn.Conv2d`` (subclasses included) and ``torch.nn.Linear`` that runs in the
forward pass becomes a layer, in the order the calls finish, named by its module path
(``layer2.0.conv1``): the names a trace exported from the same model by
``workloads.export`` uses, so the two match with no file in between. Shapes are the ones the
modules really see: a convolution's input height and width, a linear layer's leading
dimensions. A module with a ``gate_decision`` method (the export protocol) is recorded as one
convolution from its ``in_channels``, ``out_channels``, ``kernel_size``, ``stride`` and
``padding``, whether or not it derives from ``Conv2d``; modules inside it are not recorded
apart, since the trace describes the whole module as one gated layer.

What accelsim cannot represent exactly is refused with a :class:`WorkloadError` naming the
module: unequal strides, dilation, padding modes other than ``zeros``, 1-D, 3-D and transposed
convolutions. String padding (``"same"``, ``"valid"``) is resolved from the shapes seen.

A module that runs more than once (shared weights, a head applied at several scales) gives one
layer per call: the first keeps the module's name, later ones are ``name#2``, ``name#3``… as
repeated names of a SCALE-Sim topology are. A gated module may run only once, since its trace
has one layer of that name.

Work done outside these modules is seen at the operator level (a ``TorchFunctionMode``):
``F.conv2d``, ``F.linear`` and matrix products (``torch.matmul``, ``@``, ``mm``, ``bmm``,
``addmm``) whose one operand is a parameter or a buffer of the model (or a view of one, such
as ``weight.t()``) become layers named by the module whose ``forward`` made the call. A product
of two computed tensors (attention's ``q @ kᵀ``), ``einsum`` and ``baddbmm`` are not layers
(accelsim layers have constant weights): they are counted and reported in one warning, never
dropped without a word; 1-D, 3-D and transposed functional convolutions are refused. Pooling,
normalization, additions and activations outside the recorded modules are counted too, and
named in a second warning: accelsim times none of them.

torch is imported when a model is read, never when accelsim is.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from accelsim.errors import AccelsimError, WorkloadError
from accelsim.workload.layer import Layer, Network


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            return int(value[0]), int(value[0])
        first, second = value
        return int(first), int(second)
    return int(value), int(value)


def _is_gated(module: Any) -> bool:
    return callable(getattr(module, "gate_decision", None))


def _conv_layer(name: str, module: Any, x: Any, output: Any) -> Layer:
    """The layer of a 2-D convolution ``module`` that saw input ``x`` and gave ``output``."""
    where = f"module {name!r} ({type(module).__name__})"
    if x.dim() not in (3, 4):
        raise WorkloadError(f"{where}: input of shape {tuple(x.shape)}; expected (N, C, H, W) or (C, H, W)")
    in_h, in_w = int(x.shape[-2]), int(x.shape[-1])
    kernel_h, kernel_w = _pair(module.kernel_size)
    stride_h, stride_w = _pair(module.stride)
    if stride_h != stride_w:
        raise WorkloadError(f"{where}: stride {stride_h}x{stride_w}; accelsim layers have one "
                            "stride for both axes")
    dilation = _pair(getattr(module, "dilation", 1))
    if dilation != (1, 1):
        raise WorkloadError(f"{where}: dilation {dilation[0]}x{dilation[1]}; accelsim layers are "
                            "not dilated (a dilated window reads other input pixels)")
    mode = getattr(module, "padding_mode", "zeros")
    if mode != "zeros":
        raise WorkloadError(f"{where}: padding_mode {mode!r}; accelsim pads with zeros only")
    groups = int(getattr(module, "groups", 1))
    padding = module.padding
    if isinstance(padding, str):
        if padding == "valid":
            pad_h = pad_w = 0
        elif padding == "same":  # PyTorch allows it at stride 1 only: out = in
            pad_h, pad_w = kernel_h - 1, kernel_w - 1
        else:
            raise WorkloadError(f"{where}: padding {padding!r}; expected 'same', 'valid' or numbers")
    else:
        pad_y, pad_x = _pair(padding)
        pad_h, pad_w = 2 * pad_y, 2 * pad_x
    try:
        layer = Layer(name, int(module.in_channels), int(module.out_channels), in_h, in_w, kernel_h,
                      kernel_w, stride_h, pad_h, pad_w, groups, "conv")
    except WorkloadError as error:
        raise WorkloadError(f"{where}: {error}") from None
    shape = getattr(output, "shape", None)
    if shape is not None and len(shape) == x.dim() and (tuple(shape[-2:]) != (layer.out_h, layer.out_w)
                                                        or int(shape[-3]) != layer.out_channels):
        raise WorkloadError(f"{where}: gave output {tuple(shape)}; a convolution of these sizes gives "
                            f"{layer.out_channels}x{layer.out_h}x{layer.out_w}")
    return layer


def _linear_layer(name: str, module: Any, x: Any) -> Layer:
    """``(N, in)`` is one input vector per image (``M = 1``); ``(N, …, in)`` multiplies every
    row of an image by the weights (``M`` = the product of the middle dimensions)."""
    if x.dim() <= 2:
        return Layer.fc(name, int(module.in_features), int(module.out_features))
    rows = math.prod(int(size) for size in x.shape[1:-1])
    return Layer.gemm(name, rows, int(module.out_features), int(module.in_features))


class _Conv:
    """A functional convolution's arguments, read as :func:`_conv_layer` reads a module."""

    def __init__(self, weight: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: Any = 1) -> None:
        self.out_channels, self.in_channels = int(weight.shape[0]), int(weight.shape[1]) * int(groups)
        self.kernel_size = tuple(int(size) for size in weight.shape[2:])
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, int(groups)


def _arguments(args: tuple, kwargs: dict, names: tuple[str, ...]) -> dict[str, Any]:
    values = dict(zip(names, args))
    values.update({key: value for key, value in kwargs.items() if key in names})
    return values


class _Operators:
    """Convolutions and products that run outside the recorded modules (module doc): a
    ``TorchFunctionMode`` entered for the forward pass."""

    CONV = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
    REFUSED = ("conv1d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
    PRODUCTS = {"matmul": (0, 1), "__matmul__": (0, 1), "mm": (0, 1), "bmm": (0, 1), "addmm": (1, 2)}
    UNCOUNTED = ("einsum", "baddbmm", "addbmm", "tensordot", "__rmatmul__")
    #: work that is not a layer of the array, named in the summary so that nothing is left out silently
    OTHER_WORK = {
        "pooling": ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "max_pool1d",
                    "avg_pool1d", "lp_pool2d"),
        "normalization": ("batch_norm", "layer_norm", "group_norm", "instance_norm", "local_response_norm"),
        "additions": ("add", "__add__", "__iadd__", "add_", "__radd__", "sub", "__sub__"),
        "activations": ("relu", "relu_", "relu6", "hardtanh", "gelu", "silu", "sigmoid", "tanh", "softmax",
                        "log_softmax", "hardswish", "hardsigmoid", "leaky_relu", "elu", "mish"),
    }

    def __init__(self, model: Any, recorded: list, calls: dict) -> None:
        self.paths = {id(module): path for path, module in model.named_modules()}
        self.weights = {tensor.untyped_storage().data_ptr() for tensor in (*model.parameters(), *model.buffers())
                        if tensor.numel()}
        self.root = type(model).__name__
        self.recorded, self.calls = recorded, calls
        self.stack: list[str] = []  # the modules whose forward runs, innermost last
        self.inside = 0  # depth inside recorded modules, whose own layer covers their work
        self.skipped: dict[str, int] = {}
        self.other: dict[str, int] = {}  # calls outside the layers, by kind (OTHER_WORK)
        self.kinds = {name: kind for kind, names in self.OTHER_WORK.items() for name in names}

    def push(self, module: Any, inputs: Any) -> None:
        self.stack.append(self.paths.get(id(module), ""))

    def pop(self, module: Any, inputs: Any, output: Any) -> None:
        if self.stack:
            self.stack.pop()

    def enter(self, module: Any, inputs: Any) -> None:
        self.inside += 1

    def is_weight(self, tensor: Any) -> bool:
        import torch

        return isinstance(tensor, torch.Tensor) and tensor.numel() > 0 and \
            tensor.untyped_storage().data_ptr() in self.weights

    def _name(self) -> str:
        path = next((path for path in reversed(self.stack) if path), "") or self.root
        self.calls[path] = self.calls.get(path, 0) + 1
        return path if self.calls[path] == 1 else f"{path}#{self.calls[path]}"

    def see(self, func: Any, args: tuple, kwargs: dict, output: Any) -> None:
        operator = getattr(func, "__name__", "")
        if self.inside:  # a recorded module's own work is its layer's (a gated conv's gate included)
            return
        kind = self.kinds.get(operator)
        if kind is not None:
            self.other[kind] = self.other.get(kind, 0) + 1
            return
        if operator == "conv2d":
            values = _arguments(args, kwargs, self.CONV)
            conv = _Conv(values["weight"], values.get("stride", 1), values.get("padding", 0),
                         values.get("dilation", 1), values.get("groups", 1))
            self.recorded.append(_conv_layer(self._name(), conv, values["input"], output))
        elif operator in self.REFUSED:
            where = f"module {self.stack[-1] if self.stack and self.stack[-1] else self.root!r}"
            raise WorkloadError(f"{where}: calls {operator}, which cannot be represented (accelsim layers are "
                                "2-D convolutions and GEMMs)")
        elif operator == "linear":
            x, weight = args[0] if args else kwargs["input"], args[1] if len(args) > 1 else kwargs["weight"]
            rows = 1 if x.dim() <= 2 else math.prod(int(size) for size in x.shape[1:-1])
            name = self._name()
            self.recorded.append(Layer.fc(name, int(weight.shape[1]), int(weight.shape[0])) if x.dim() <= 2
                                 else Layer.gemm(name, rows, int(weight.shape[0]), int(weight.shape[1])))
        elif operator in self.PRODUCTS:
            left, right = (args[i] if len(args) > i else None for i in self.PRODUCTS[operator])
            if self.is_weight(right) and not self.is_weight(left) and right.dim() == 2:
                # x (…, K) @ W (K, N): as Linear, one vector per image or rows of an image
                reduction, columns = int(right.shape[0]), int(right.shape[1])
                name = self._name()
                self.recorded.append(Layer.fc(name, reduction, columns) if left.dim() <= 2 else
                                     Layer.gemm(name, math.prod(int(size) for size in left.shape[1:-1]),
                                                columns, reduction))
            elif self.is_weight(left) and not self.is_weight(right) and left.dim() == 2 and right.dim() >= 2:
                # W (N, K) @ x (…, K, M): M columns of each image through the weights
                rows = math.prod(int(size) for size in right.shape[1:-2]) * int(right.shape[-1]) \
                    if right.dim() > 2 else int(right.shape[-1])
                self.recorded.append(Layer.gemm(self._name(), rows, int(left.shape[0]), int(left.shape[1])))
            else:
                self.skipped[operator] = self.skipped.get(operator, 0) + 1
        elif operator in self.UNCOUNTED:
            self.skipped[operator] = self.skipped.get(operator, 0) + 1

    def mode(self):
        from torch.overrides import TorchFunctionMode

        operators = self

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                output = func(*args, **kwargs)
                operators.see(func, args, kwargs, output)
                return output

        return Mode()


def network_from_torch(model: Any, example_input: Any, name: str | None = None) -> Network:
    """The network that ``model`` runs on ``example_input`` (a tensor, or a tuple of the
    forward pass's arguments; its first dimension is the batch).

    The model runs once under ``torch.no_grad`` in eval mode (each module's mode is restored
    afterwards). ``name`` defaults to the model's class name.
    """
    import torch
    from torch import nn

    if not isinstance(model, nn.Module):
        raise WorkloadError(f"expected a torch.nn.Module, got {type(model).__name__}")
    name = name or type(model).__name__
    named = list(model.named_modules())
    gated_prefixes = [f"{path}." for path, module in named if _is_gated(module)]
    recorded: list[Layer] = []
    calls: dict[str, int] = {}

    operators = _Operators(model, recorded, calls)

    def hook_for(path: str):
        def hook(module, inputs, output):
            operators.inside -= 1
            if not inputs or not isinstance(inputs[0], torch.Tensor):
                raise WorkloadError(f"module {path!r}: expected a tensor as its first input")
            calls[path] = calls.get(path, 0) + 1
            if calls[path] > 1 and _is_gated(module):
                raise WorkloadError(f"module {path!r} has gate_decision and ran {calls[path]} times; "
                                    "a gated layer must run once per image (its trace has one layer)")
            layer_name = path if calls[path] == 1 else f"{path}#{calls[path]}"
            if isinstance(module, nn.Linear):
                recorded.append(_linear_layer(layer_name, module, inputs[0]))
            else:
                recorded.append(_conv_layer(layer_name, module, inputs[0], output))
        return hook

    def refuse_for(path: str):
        def hook(module, inputs, output):
            raise WorkloadError(f"module {path!r}: {type(module).__name__} cannot be represented "
                                "(accelsim layers are 2-D convolutions and GEMMs)")
        return hook

    unsupported = (nn.Conv1d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
    hooks = []
    modes = {module: module.training for _, module in named}
    try:
        for path, module in named:
            if any(path.startswith(prefix) for prefix in gated_prefixes):
                continue  # inside a gated module: the module is the layer
            label = path or type(module).__name__
            if _is_gated(module) or isinstance(module, (nn.Conv2d, nn.Linear)):
                hooks.append(module.register_forward_pre_hook(operators.enter))
                hooks.append(module.register_forward_hook(hook_for(label)))
            elif isinstance(module, unsupported):
                hooks.append(module.register_forward_pre_hook(operators.enter))
                hooks.append(module.register_forward_hook(refuse_for(label)))
        model.eval()
        arguments = example_input if isinstance(example_input, (tuple, list)) else (example_input,)
        hooks.append(nn.modules.module.register_module_forward_pre_hook(operators.push))
        hooks.append(nn.modules.module.register_module_forward_hook(operators.pop))
        with torch.no_grad(), operators.mode():
            try:
                model(*arguments)
            except AccelsimError:
                raise
            except (Exception, SystemExit) as error:  # the user's code: any failure is reported, not a trace
                raise WorkloadError(f"the model's forward pass raised {type(error).__name__}: {error}") from error
    finally:
        for hook in hooks:
            hook.remove()
        for module, training in modes.items():
            module.training = training
    if not recorded:
        raise WorkloadError(f"model {name!r}: no Conv2d or Linear module ran in its forward pass")
    skipped = ", ".join(f"{count} × {operator}" for operator, count in sorted(operators.skipped.items()))
    other = ", ".join(f"{count} {kind}" for kind, count in operators.other.items())
    if skipped:
        warnings.warn(f"model {name!r}: not recorded as layers (no constant weights): {skipped}", stacklevel=2)
    if other:
        warnings.warn(f"model {name!r}: not counted (no layer of the array runs them): {other}", stacklevel=2)
    uncounted = "; ".join(part for part in (other, skipped and f"{skipped} (no constant weights)") if part)
    return Network(name, tuple(recorded), uncounted)
