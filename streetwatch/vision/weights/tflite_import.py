"""Turn Ultralytics' YOLOv8n TFLite export back into a PyTorch checkpoint that ultralytics can fine-tune.

The only COCO-pretrained detector available offline is a TFLite file (int8 per-channel weights, BatchNorm
folded into the convolutions, float biases). This module reads its convolutions from the flatbuffer, matches
each one to the `nn.Conv2d` of ultralytics' ``yolov8n.yaml`` by *dataflow* (what each convolution reads:
which earlier convolutions, through which slices, concatenations, additions, poolings, upsamplings and
SiLUs), dequantizes the weights and writes an ultralytics checkpoint.

Intended CLI (wired by ``streetwatch/cli.py``)::

    streetwatch models import-tflite TFLITE OUT.pt [--metadata metadata.yaml] [--calibrate-on IMAGE_DIR]

which calls ``import_tflite(TFLITE, OUT.pt, metadata_path, calibration_images=sorted(IMAGE_DIR images))``.
Calibrating on a few dozen street photos is recommended when the checkpoint is meant for fine-tuning: see
``calibrate_batchnorm``. Parsing the flatbuffer uses the schema module shipped in ``ai-edge-litert``;
nothing is downloaded.
"""

from __future__ import annotations

import ast
import io
import itertools
import os
import struct
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import yaml

__all__ = [
    "TfliteConv",
    "TfliteConvGraph",
    "TfliteImportError",
    "build_detection_model",
    "calibrate_batchnorm",
    "import_tflite",
    "letterboxed_rgb",
    "read_tflite_convs",
    "save_checkpoint",
]

_CONV_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D"}
_NUMPY_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}
_TFLITE_IDENTIFIER = b"TFL3"


class TfliteImportError(ValueError):
    """The TFLite file cannot be read, or it does not match the expected architecture."""


@dataclass(frozen=True, slots=True)
class TfliteConv:
    """One convolution of a TFLite graph, weights dequantized to float32 in PyTorch's OIHW layout."""

    op_index: int
    tensor_name: str
    weight_tensor: int  # index of the (possibly int8) weight tensor in the file
    weight: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32] | None
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]  # top, bottom, left, right, explicit PAD ops included
    groups: int
    input_expr: Expr  # what the convolution reads, in terms of earlier TFLite op indices
    stored_dtype: str  # how the weights were stored in the file (int8, float32, ...)


@dataclass(frozen=True, slots=True)
class TfliteConvGraph:
    """All convolutions of a TFLite file, in the file's operator order."""

    path: Path
    convs: tuple[TfliteConv, ...]
    input_shape: tuple[int, ...]
    output_shapes: tuple[tuple[int, ...], ...]


# Dataflow expressions: nested tuples ("kind", channels, ...) saying how a tensor is computed from the
# graph input and from convolution outputs, written the same way for both graphs so they can be compared.
Expr = tuple[Any, ...]
OPAQUE: Expr = ("opaque", -1)  # computed outside the backbone/neck vocabulary (e.g. DFL decoding)


def _slice_expr(x: Expr, start: int, stop: int) -> Expr:
    """Channels [start, stop) of x, normalised so equal selections compare equal."""
    if x[0] == "opaque":
        return OPAQUE
    if start == 0 and stop == x[1]:
        return x
    if x[0] == "slice":
        return _slice_expr(x[2], x[3] + start, x[3] + stop)
    if x[0] == "cat":  # a slice of a concatenation is a concatenation of (slices of) its parts
        picked, offset = [], 0
        for part in x[2]:
            low, high = offset, offset + part[1]
            if high > start and low < stop:
                picked.append(_slice_expr(part, max(start, low) - low, min(stop, high) - low))
            offset = high
        return _cat_expr(picked)
    return ("slice", stop - start, x, start)


def _cat_expr(parts: list[Expr]) -> Expr:
    """Channel concatenation, flattened, with adjacent slices of one tensor merged."""
    merged: list[Expr] = []
    for part in parts:
        if part[0] == "opaque":
            return OPAQUE
        for piece in part[2] if part[0] == "cat" else (part,):
            last = merged[-1] if merged else None
            adjacent = last is not None and last[0] == piece[0] == "slice" and last[2] == piece[2]
            if adjacent and last[3] + last[1] == piece[3]:  # type: ignore[index]
                joined = _slice_expr(piece[2], last[3], piece[3] + piece[1])  # type: ignore[index]
                merged[-1:] = list(joined[2]) if joined[0] == "cat" else [joined]
            else:
                merged.append(piece)
    if len(merged) == 1:
        return merged[0]
    return ("cat", sum(p[1] for p in merged), tuple(merged))


def _add_expr(a: Expr, b: Expr) -> Expr:
    if "opaque" in (a[0], b[0]):
        return OPAQUE
    return ("add", a[1], tuple(sorted((a, b), key=repr)))  # addition commutes


def _silu_or_none(a: Expr | None, b: Expr | None) -> Expr | None:
    """x * sigmoid(x) as one SiLU, whichever side the sigmoid is on."""
    for x, gate in ((a, b), (b, a)):
        if x is not None and gate is not None and gate[0] == "sigmoid" and gate[2] == x:
            return ("silu", x[1], x)
    return None


def _rekey(expr: Expr, mapping: dict[Any, Any]) -> Expr:
    """The same expression with each convolution key replaced through mapping (KeyError if unmapped)."""
    kind = expr[0]
    if kind == "conv":
        return ("conv", expr[1], mapping[expr[2]])
    if kind in {"input", "opaque"}:
        return expr
    if kind == "cat":
        return _cat_expr([_rekey(p, mapping) for p in expr[2]])
    if kind == "add":
        return _add_expr(*(_rekey(p, mapping) for p in expr[2]))
    if kind == "slice":
        return _slice_expr(_rekey(expr[2], mapping), expr[3], expr[3] + expr[1])
    return (kind, expr[1], _rekey(expr[2], mapping), *expr[3:])


def _describe(expr: Expr, limit: int = 240) -> str:
    def text(e: Expr) -> str:
        kind = e[0]
        if kind == "conv":
            return f"conv(op {e[2]})" if isinstance(e[2], int) else f"conv({e[2]})"
        if kind in {"input", "opaque"}:
            return kind
        if kind in {"cat", "add"}:
            return f"{kind}(" + ", ".join(text(p) for p in e[2]) + ")"
        if kind == "slice":
            return f"{text(e[2])}[{e[3]}:{e[3] + e[1]}]"
        return f"{kind}({text(e[2])}" + "".join(f", {p}" for p in e[3:]) + ")"

    full = text(expr)
    return full if len(full) <= limit else full[: limit - 3] + "..."


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise TfliteImportError(
            "reading TFLite files needs the package ai-edge-litert (pip install 'ai-edge-litert==2.3.0')"
        ) from exc
    return schema_py_generated


def _load_model(path: Path) -> tuple[Any, bytes]:
    if not path.is_file():
        raise FileNotFoundError(f"TFLite model not found: {path}")
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != _TFLITE_IDENTIFIER:
        raise TfliteImportError(
            f"{path} is not a TFLite flatbuffer: expected identifier {_TFLITE_IDENTIFIER!r} at bytes 4-8, "
            f"found {data[4:8]!r} ({len(data)} bytes in all)"
        )
    try:
        model = _schema().ModelT.InitFromPackedBuf(data, 0)
    except (IndexError, struct.error, ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise TfliteImportError(f"{path} is truncated or corrupt ({len(data)} bytes): {exc}") from exc
    if not model.subgraphs:
        raise TfliteImportError(f"{path} has no subgraph")
    return model, data


class _GraphReader:
    """Walks one TFLite subgraph in its (topological) operator order and records each tensor's expression."""

    def __init__(self, path: Path, model: Any, data: bytes) -> None:
        schema = _schema()
        self.path, self.model, self.data = path, model, data
        self.graph = model.subgraphs[0]
        names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
        codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
        self.op_names = [names.get(code, f"code {code}") for code in codes]
        self.exprs: dict[int, Expr] = {}
        self.pads: dict[int, tuple[int, int, int, int]] = {}  # tensor -> explicit zero padding it carries
        self.dequantized_from: dict[int, int] = {}  # DEQUANTIZE output tensor -> its constant input
        self.convs: list[TfliteConv] = []

    def shape(self, tensor: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.graph.tensors[tensor].shape)

    def constant(self, tensor: int) -> npt.NDArray[Any] | None:
        """A constant tensor's raw values, or None where it is computed at run time."""
        tensor = self.dequantized_from.get(tensor, tensor)
        info = self.graph.tensors[tensor]
        buffer = self.model.buffers[info.buffer]
        if buffer.offset and buffer.offset > 1:  # large models keep buffers after the flatbuffer
            if buffer.offset + buffer.size > len(self.data):
                raise TfliteImportError(
                    f"{self.path} is truncated: buffer of tensor {tensor} ends at byte "
                    f"{buffer.offset + buffer.size}, file has {len(self.data)}"
                )
            raw = np.frombuffer(self.data, np.uint8, buffer.size, buffer.offset)
        elif buffer.data is None or len(buffer.data) == 0:
            return None
        else:
            raw = np.asarray(buffer.data, dtype=np.uint8)
        dtype = _NUMPY_DTYPES.get(info.type)
        if dtype is None:
            raise TfliteImportError(f"{self.path}: tensor {tensor} has unsupported type code {info.type}")
        try:
            return raw.view(dtype).reshape(self.shape(tensor))
        except ValueError as exc:
            message = f"{self.path}: data of tensor {tensor} does not fit its shape ({exc})"
            raise TfliteImportError(message) from exc

    def dequantized(self, tensor: int, what: str) -> tuple[npt.NDArray[np.float32], str]:
        source = self.dequantized_from.get(tensor, tensor)
        values = self.constant(tensor)
        if values is None:
            raise TfliteImportError(f"{self.path}: {what} (tensor {tensor}) is not a constant")
        quant = self.graph.tensors[source].quantization
        scales = None if quant is None or quant.scale is None else np.asarray(quant.scale, np.float32)
        if values.dtype.kind in "iu" and scales is not None and scales.size:
            zero_points = np.asarray(quant.zeroPoint if quant.zeroPoint is not None else [0], np.float32)
            axis_shape = [1] * values.ndim
            if scales.size > 1:
                axis_shape[quant.quantizedDimension] = scales.size
            centred = values.astype(np.float32) - zero_points.reshape(axis_shape)
            return (centred * scales.reshape(axis_shape)).astype(np.float32), str(values.dtype)
        if values.dtype.kind != "f":
            raise TfliteImportError(f"{self.path}: {what} (tensor {tensor}) is {values.dtype} without scales")
        return values.astype(np.float32), str(values.dtype)

    def read(self) -> TfliteConvGraph:
        graph = self.graph
        if len(graph.inputs) != 1:
            raise TfliteImportError(f"{self.path}: expected 1 input tensor, found {len(graph.inputs)}")
        input_shape = self.shape(graph.inputs[0])
        self.exprs[int(graph.inputs[0])] = ("input", input_shape[-1])
        for op_index, op in enumerate(graph.operators):
            name = self.op_names[op.opcodeIndex]
            ins = [int(i) for i in op.inputs]
            outs = [int(o) for o in op.outputs]
            if name == "DEQUANTIZE" and ins[0] not in self.exprs:
                self.dequantized_from[outs[0]] = ins[0]
                continue
            results = self.visit(op_index, name, op, ins, outs)
            for tensor, expr in zip(outs, results, strict=True):
                if expr is not None:
                    self.exprs[tensor] = expr
        return TfliteConvGraph(
            path=self.path,
            convs=tuple(self.convs),
            input_shape=input_shape,
            output_shapes=tuple(self.shape(o) for o in graph.outputs),
        )

    def visit(self, op_index: int, name: str, op: Any, ins: list[int], outs: list[int]) -> list[Expr | None]:
        """The expression of each output of one operator (NHWC: the channel axis is the last)."""
        args = [self.exprs.get(i) for i in ins if i >= 0]
        if not any(a is not None for a in args):
            return [None] * len(outs)  # constant folding leftovers: not part of the dataflow
        channels = self.shape(outs[0])[-1] if self.shape(outs[0]) else -1
        options = op.builtinOptions
        x = args[0]
        if name in _CONV_OPS and x is not None:
            self.convs.append(self.conv(op_index, name, op, ins, outs))
            return [("conv", channels, op_index)]
        if name in {"PAD", "PADV2"} and x is not None and len(self.shape(ins[0])) == 4:
            pads = self.constant(ins[1])
            if pads is not None and not pads[0].any() and not pads[3].any():
                carried = self.pads.get(ins[0], (0, 0, 0, 0))
                added = (int(pads[1][0]), int(pads[1][1]), int(pads[2][0]), int(pads[2][1]))
                self.pads[outs[0]] = tuple(a + b for a, b in zip(carried, added, strict=True))  # type: ignore[assignment]
                return [x]
        if name == "LOGISTIC" and x is not None:
            return [("sigmoid", channels, x)]
        if name == "MUL" and len(args) == 2 and (silu := _silu_or_none(args[0], args[1])) is not None:
            return [silu]
        if name == "ADD" and len(args) == 2 and None not in args and options.fusedActivationFunction == 0:
            return [_add_expr(args[0], args[1])]  # type: ignore[arg-type]
        if name == "CONCATENATION" and None not in args and self._is_channel_axis(options.axis, outs[0]):
            return [_cat_expr(args)]  # type: ignore[arg-type]
        if name == "STRIDED_SLICE" and x is not None:
            return [self.strided_slice(x, op, ins, outs[0])]
        if name in {"SPLIT", "SPLIT_V"}:
            return self.split(name, ins, outs)
        if name == "MAX_POOL_2D" and x is not None:
            kernel = (options.filterHeight, options.filterWidth)
            return [("maxpool", channels, x, kernel, (options.strideH, options.strideW))]
        if name == "RESIZE_NEAREST_NEIGHBOR" and x is not None:
            factor = self.shape(outs[0])[1] // max(self.shape(ins[0])[1], 1)
            return [("upsample", channels, x, factor)]
        return [OPAQUE] * len(outs)

    def _is_channel_axis(self, axis: int, tensor: int) -> bool:
        rank = len(self.shape(tensor))
        return rank == 4 and axis % rank == 3

    def strided_slice(self, x: Expr, op: Any, ins: list[int], out: int) -> Expr:
        options, shape = op.builtinOptions, self.shape(ins[0])
        begin, end, strides = (self.constant(i) for i in ins[1:4])
        if begin is None or end is None or strides is None or len(shape) != 4:
            return OPAQUE
        if options.ellipsisMask or options.newAxisMask or options.shrinkAxisMask or (strides != 1).any():
            return OPAQUE
        starts = [0 if options.beginMask >> a & 1 else int(begin[a]) % shape[a] for a in range(4)]
        stops = [shape[a] if options.endMask >> a & 1 else min(int(end[a]) % (shape[a] + 1), shape[a])
                 for a in range(4)]
        if any(starts[a] != 0 or stops[a] != shape[a] for a in range(3)):
            return OPAQUE
        return _slice_expr(x, starts[3], stops[3])

    def split(self, name: str, ins: list[int], outs: list[int]) -> list[Expr | None]:
        x_tensor, axis_tensor = (ins[1], ins[0]) if name == "SPLIT" else (ins[0], ins[2])
        x, axis = self.exprs.get(x_tensor), self.constant(axis_tensor)
        if x is None or axis is None or not self._is_channel_axis(int(axis.reshape(-1)[0]), x_tensor):
            return [OPAQUE] * len(outs)
        results: list[Expr | None] = []
        start = 0
        for out in outs:
            width = self.shape(out)[-1]
            results.append(_slice_expr(x, start, start + width))
            start += width
        return results

    def conv(self, op_index: int, name: str, op: Any, ins: list[int], outs: list[int]) -> TfliteConv:
        options = op.builtinOptions
        weight, stored = self.dequantized(ins[1], f"op #{op_index} {name} weights")
        has_bias = len(ins) > 2 and ins[2] >= 0
        bias = self.dequantized(ins[2], f"op #{op_index} {name} bias")[0] if has_bias else None
        if options.fusedActivationFunction or (options.dilationHFactor, options.dilationWFactor) != (1, 1):
            raise TfliteImportError(
                f"{self.path}: op #{op_index} {name} has a fused activation or dilation; yolov8n has neither"
            )
        in_channels = self.shape(ins[0])[-1]
        if name == "DEPTHWISE_CONV_2D":  # weights 1HWO -> OIHW with one input channel per group
            weight, groups = weight.transpose(3, 0, 1, 2), in_channels
        else:  # OHWI -> OIHW
            weight = weight.transpose(0, 3, 1, 2)
            groups = in_channels // weight.shape[1]
        stride = (options.strideH, options.strideW)
        top, bottom, left, right = self.pads.get(ins[0], (0, 0, 0, 0))
        if options.padding == 0:  # SAME: TFLite puts the odd pixel at the bottom/right
            (_, height, width, _), (kh, kw) = self.shape(ins[0]), weight.shape[2:]
            pad_h = max((-(-height // stride[0]) - 1) * stride[0] + kh - height, 0)
            pad_w = max((-(-width // stride[1]) - 1) * stride[1] + kw - width, 0)
            top, bottom = top + pad_h // 2, bottom + pad_h - pad_h // 2
            left, right = left + pad_w // 2, right + pad_w - pad_w // 2
        raw_name = self.graph.tensors[outs[0]].name
        return TfliteConv(
            op_index=op_index,
            tensor_name=raw_name.decode(errors="replace") if isinstance(raw_name, bytes) else str(raw_name),
            weight_tensor=self.dequantized_from.get(ins[1], ins[1]),
            weight=np.ascontiguousarray(weight, dtype=np.float32),
            bias=bias,
            stride=stride,
            padding=(top, bottom, left, right),
            groups=groups,
            input_expr=self.exprs[ins[0]],
            stored_dtype=stored,
        )


def read_tflite_convs(path: str | os.PathLike[str]) -> TfliteConvGraph:
    """Read every convolution of a TFLite file together with what it reads.

    Args:
        path: The ``.tflite`` file.

    Returns:
        The convolutions in the file's operator order, weights dequantized to float32 OIHW.

    Raises:
        FileNotFoundError: The file does not exist.
        TfliteImportError: The file is not a TFLite flatbuffer, is truncated, or uses unsupported tensors.
    """
    file = Path(path)
    model, data = _load_model(file)
    return _GraphReader(file, model, data).read()


@dataclass(frozen=True, slots=True)
class _TorchConv:
    name: str  # module path in the model, e.g. "model.2.m.0.cv1.conv"
    module: torch.nn.Conv2d
    input_expr: Expr  # in terms of earlier module paths


def _trace_torch_convs(model: torch.nn.Module, image_size: int = 128) -> list[_TorchConv]:
    """Run the model once and record, in execution order, what each Conv2d reads (ATen level)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    modules = model.named_modules()
    conv_names = {m.weight.data_ptr(): (n, m) for n, m in modules if isinstance(m, torch.nn.Conv2d)}
    known: dict[int, tuple[torch.Tensor, Expr]] = {}  # id -> (tensor kept alive so ids stay unique, expr)
    calls: list[_TorchConv] = []

    def expr_of(value: Any) -> Expr | None:
        entry = known.get(id(value)) if isinstance(value, torch.Tensor) else None
        return entry[1] if entry is not None and entry[0] is value else None

    def channel_dim(dim: int, tensor: torch.Tensor) -> bool:
        return tensor.dim() == 4 and dim % 4 == 1

    def record(name: str, args: Any, kwargs: dict[str, Any], outs: list[torch.Tensor]) -> list[Any]:
        x = expr_of(args[0]) if args else None
        channels = outs[0].shape[1] if outs and outs[0].dim() == 4 else -1
        if name == "convolution":
            conv_name, module = conv_names[args[1].data_ptr()]
            if x is not None:
                calls.append(_TorchConv(conv_name, module, x))
            return [("conv", channels, conv_name)]
        if "batch_norm" in name or name in {"detach", "alias", "clone", "contiguous", "_to_copy"}:
            return [x]  # BatchNorm becomes part of the folded conv; the others do not change values
        if name in {"silu", "sigmoid"}:
            return [(name, channels, x)]
        if name == "mul" and (silu := _silu_or_none(x, expr_of(args[1]))) is not None:
            return [silu]
        y = expr_of(args[1]) if len(args) > 1 else None
        if name == "add" and x is not None and y is not None and kwargs.get("alpha", 1) == 1:
            return [_add_expr(x, y)]
        if name == "cat":
            parts = [expr_of(t) for t in args[0]]
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            if None not in parts and channel_dim(dim, outs[0]):
                return [_cat_expr(parts)]  # type: ignore[arg-type]
        if name in {"split", "split_with_sizes", "chunk"} and x is not None:
            dim = args[2] if len(args) > 2 else kwargs.get("dim", 0)
            if channel_dim(dim, args[0]):
                starts = np.cumsum([0] + [o.shape[1] for o in outs])
                return [_slice_expr(x, int(a), int(b)) for a, b in itertools.pairwise(starts)]
        if name == "slice" and x is not None and channel_dim(args[1] if len(args) > 1 else 0, args[0]):
            start, stop, _ = slice(*args[2:4]).indices(args[0].shape[1])
            if (args[4] if len(args) > 4 else 1) == 1:
                return [_slice_expr(x, start, stop)]
        if name in {"max_pool2d", "max_pool2d_with_indices"} and x is not None:
            kernel = tuple(args[1]) * (2 // len(args[1]))
            stride = tuple(args[2]) * (2 // len(args[2])) if len(args) > 2 and args[2] else kernel
            return [("maxpool", channels, x, kernel, stride), None]
        if name.startswith("upsample_nearest") and x is not None:
            return [("upsample", channels, x, outs[0].shape[2] // args[0].shape[2])]
        return [OPAQUE] * len(outs)

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            flat_in = [t for a in args for t in (a if isinstance(a, list | tuple) else [a])]
            if any(expr_of(t) is not None for t in flat_in):
                results = out if isinstance(out, list | tuple) else [out]
                outs = [o for o in results if isinstance(o, torch.Tensor)]
                name = func.overloadpacket.__name__.rstrip("_")  # in-place variants record like the others
                for tensor, expr in zip(outs, record(name, args, kwargs, outs), strict=False):
                    if expr is not None:
                        known[id(tensor)] = (tensor, expr)
            return out

    image = torch.zeros(1, 3, image_size, image_size)
    known[id(image)] = (image, ("input", 3))
    was_training = model.training
    model.eval()
    with torch.no_grad(), Recorder():
        model(image)
    model.train(was_training)
    return calls


def build_detection_model(nc: int, yaml_name: str = "yolov8n.yaml") -> Any:
    """An untrained ``DetectionModel`` from the architecture yaml bundled with ultralytics (no download)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics.nn.tasks import DetectionModel, yaml_model_load

    config = {**yaml_model_load(yaml_name), "nc": nc}  # set here: passing nc= alone logs an "override"
    return DetectionModel(config, nc=nc, verbose=False)


def _is_dfl_conv(name: str, model: torch.nn.Module) -> bool:
    from ultralytics.nn.modules.block import DFL

    parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    return isinstance(parent, DFL)


def _match_convs(model: torch.nn.Module, graph: TfliteConvGraph, nc: int) -> dict[str, TfliteConv]:
    """Pair each trainable Conv2d with the TFLite convolution that reads the same thing."""
    torch_convs = _trace_torch_convs(model)
    all_torch = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
    dfl_names = [n for n in all_torch if _is_dfl_conv(n, model)]
    if len(graph.convs) != len(all_torch):
        raise TfliteImportError(
            f"{graph.path}: expected {len(all_torch)} convolutions (yolov8n.yaml with nc={nc}: "
            f"{len(all_torch) - len(dfl_names)} trainable + {len(dfl_names)} DFL), found {len(graph.convs)}"
        )
    by_input: dict[Expr, list[TfliteConv]] = {}
    for conv in graph.convs:
        by_input.setdefault(conv.input_expr, []).append(conv)
    _check_dfl(graph, by_input.get(OPAQUE, []), len(dfl_names))
    mapping: dict[str, int] = {}
    matches: dict[str, TfliteConv] = {}
    used: set[int] = set()
    for call in torch_convs:
        if call.name in dfl_names:
            continue
        key = _rekey(call.input_expr, mapping)
        expected = (tuple(call.module.weight.shape), *_torch_geometry(call.module))
        candidates = [c for c in by_input.get(key, []) if c.op_index not in used]
        if not candidates:
            raise TfliteImportError(
                f"{graph.path}: layer {call.name} (weight {expected[0]}) reads {_describe(key)}, "
                "but no unmatched TFLite convolution reads that; the file is not a yolov8n export"
            )
        fitting = [c for c in candidates if (c.weight.shape, c.stride, c.padding, c.groups) == expected]
        if len(fitting) != 1:
            found = "; ".join(
                f"op #{c.op_index} {(c.weight.shape, c.stride, c.padding, c.groups)}" for c in candidates
            )
            raise TfliteImportError(
                f"{graph.path}: layer {call.name}: expected one convolution reading {_describe(key)} with "
                f"(weight OIHW, stride, padding t/b/l/r, groups) = {expected}; "
                f"{len(fitting)} of these fit: {found}"
            )
        conv = fitting[0]
        mapping[call.name] = conv.op_index
        matches[call.name] = conv
        used.add(conv.op_index)
    missing = sorted(set(all_torch) - set(matches) - set(dfl_names))
    if missing:
        raise TfliteImportError(f"{graph.path}: layers never reached while tracing: {missing}")
    return matches


def _check_dfl(graph: TfliteConvGraph, opaque_convs: list[TfliteConv], expected_count: int) -> None:
    """The DFL convolution is fixed (weights 0..15); check it is what the remaining convolution holds."""
    if len(opaque_convs) != expected_count:
        raise TfliteImportError(
            f"{graph.path}: expected {expected_count} DFL convolution(s) reading the box distributions, "
            f"found {len(opaque_convs)}: {[c.op_index for c in opaque_convs]}"
        )
    for conv in opaque_convs:
        bins = conv.weight.reshape(-1)
        if not np.allclose(bins, np.arange(bins.size), atol=1e-3):
            raise TfliteImportError(
                f"{graph.path}: op #{conv.op_index} looks like the DFL convolution but its weights are "
                f"{np.round(bins, 3).tolist()}, expected 0..{bins.size - 1}"
            )


def _torch_geometry(module: torch.nn.Conv2d) -> tuple[tuple[int, int], tuple[int, int, int, int], int]:
    """Stride, padding (top, bottom, left, right) and groups of a Conv2d, in TfliteConv's terms."""
    pad_h, pad_w = module.padding if isinstance(module.padding, tuple) else (0, 0)
    return (int(module.stride[0]), int(module.stride[1])), (pad_h, pad_h, pad_w, pad_w), module.groups


@torch.no_grad()
def _load_weights(model: torch.nn.Module, matches: dict[str, TfliteConv]) -> None:
    """Copy weights; a folded bias goes into the BatchNorm, made an exact identity (running_var = 1 - eps)."""
    for name, conv in matches.items():
        module: Any = model.get_submodule(name)
        module.weight.copy_(torch.from_numpy(conv.weight))
        bias = torch.from_numpy(conv.bias) if conv.bias is not None else torch.zeros(conv.weight.shape[0])
        parent = model.get_submodule(name.rsplit(".", 1)[0])
        bn: Any = getattr(parent, "bn", None)
        if module.bias is not None:
            module.bias.copy_(bias)
        elif isinstance(bn, torch.nn.BatchNorm2d) and getattr(parent, "conv", None) is module:
            norm: Any = bn  # its running stats are typed Optional
            norm.weight.fill_(1.0)
            norm.bias.copy_(bias)
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)
        else:
            raise TfliteImportError(f"layer {name} has no bias and no BatchNorm to carry the folded bias")


def _embedded_metadata(tflite_path: Path) -> dict[str, Any] | None:
    """The metadata dict Ultralytics appends to its TFLite exports as a small zip, if there is one."""
    try:
        with zipfile.ZipFile(io.BytesIO(tflite_path.read_bytes())) as archive:
            text = archive.read(archive.namelist()[0]).decode("utf-8")
        metadata = ast.literal_eval(text)
    except (zipfile.BadZipFile, IndexError, KeyError, UnicodeDecodeError, ValueError, SyntaxError):
        return None
    return metadata if isinstance(metadata, dict) else None


def _read_names(metadata_path: Path | None, tflite_path: Path) -> dict[int, str]:
    beside = tflite_path.with_name("metadata.yaml")
    if metadata_path is not None or beside.is_file():
        path = metadata_path or beside
        if not path.is_file():
            raise FileNotFoundError(f"metadata with class names not found: {path}")
        names = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("names")
    else:
        path = tflite_path
        names = (_embedded_metadata(tflite_path) or {}).get("names")
        if names is None:
            raise FileNotFoundError(
                f"no class names: neither {beside} nor metadata inside {tflite_path}; pass metadata_path"
            )
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names or sorted(names) != list(range(len(names))):
        raise TfliteImportError(f"{path}: expected 'names' as a list or a mapping 0..n-1, got {names!r}")
    return {int(k): str(v) for k, v in names.items()}


def letterboxed_rgb(image_path: str | os.PathLike[str], size: int = 640) -> npt.NDArray[np.float32]:
    """An image as the exported model sees it: letterboxed to size x size (grey 114), RGB, HWC, 0-1."""
    import cv2
    from ultralytics.data.augment import LetterBox

    bgr = cv2.imread(str(image_path))
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {image_path}")
    boxed: Any = LetterBox((size, size), auto=False)(image=bgr)  # an array when given image=
    return np.ascontiguousarray(boxed[..., ::-1], dtype=np.float32) / 255.0


@torch.no_grad()
def calibrate_batchnorm(
    model: torch.nn.Module, images: Sequence[npt.NDArray[np.float32]], batch: int = 4
) -> int:
    """Give each Conv's BatchNorm the statistics of real images without changing the eval-mode function.

    Folded weights leave BatchNorm as an identity; fine-tuning (train mode, batch statistics) would then
    rescale every channel at the first step. With running stats (mean, var) measured here, the BN is set to
    weight = a*sqrt(var + eps), bias = c + a*mean, so eval mode still computes a*z + c while train mode
    starts close to it.

    Args:
        model: A ``DetectionModel``.
        images: HWC RGB 0-1 images of one size (e.g. from ``letterboxed_rgb``).
        batch: Images per forward pass.

    Returns:
        The number of BatchNorm layers calibrated.
    """
    from ultralytics.nn.modules.conv import Conv

    layers = [m for m in model.modules() if isinstance(m, Conv) and isinstance(m.bn, torch.nn.BatchNorm2d)]
    moments = {id(m.conv): torch.zeros(3, m.conv.out_channels, dtype=torch.float64) for m in layers}

    def accumulate(module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        flat = output.detach().double().transpose(0, 1).reshape(output.shape[1], -1)
        count = torch.full_like(flat[:, 0], flat.shape[1])
        moments[id(module)] += torch.stack([flat.sum(1), (flat * flat).sum(1), count])

    hooks = [m.conv.register_forward_hook(accumulate) for m in layers]
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(images), batch):
            chunk = np.stack(images[start : start + batch]).transpose(0, 3, 1, 2)
            model(torch.from_numpy(np.ascontiguousarray(chunk)))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    for layer in layers:
        total, squares, count = moments[id(layer.conv)]
        if count[0] == 0:
            continue
        mean = total / count
        var = (squares / count - mean * mean).clamp_min(0)
        bn: Any = layer.bn  # BatchNorm2d; Any because its buffers are typed Optional
        scale = bn.weight.double() / (bn.running_var.double() + bn.eps).sqrt()  # a in a*z + c
        shift = bn.bias.double() - bn.running_mean.double() * scale  # c
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_(scale * (var + bn.eps).sqrt())
        bn.bias.copy_(shift + scale * mean)
    return len(layers) if images else 0


def save_checkpoint(model: torch.nn.Module, out_path: str | os.PathLike[str], **extra: Any) -> Path:
    """Write ``model`` as an ultralytics checkpoint (the layout of ``Model.save``), float32, atomically.

    Args:
        model: A ``DetectionModel`` with ``names`` set.
        out_path: Where to write the ``.pt`` file; folders are created.
        **extra: Further keys stored in the checkpoint (e.g. provenance).

    Returns:
        The written path.
    """
    from copy import deepcopy

    from ultralytics import __version__

    out = Path(out_path)
    if out.suffix != ".pt":
        raise ValueError(f"checkpoint path must end in .pt (ultralytics checks the suffix), got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    architecture = getattr(model, "yaml", {}).get("yaml_file", "yolov8n.yaml")
    checkpoint = {
        "date": datetime.now().astimezone().isoformat(),
        "version": __version__,
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
        "model": deepcopy(model).float().eval(),  # float32: dequantized int8 weights do not fit fp16 exactly
        "ema": None,
        "updates": None,
        "optimizer": None,
        "train_args": {"task": "detect", "model": architecture, "imgsz": 640},
        **extra,
    }
    partial = out.with_name(out.name + ".partial")
    torch.save(checkpoint, partial)
    partial.replace(out)
    return out


def import_tflite(
    tflite_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    metadata_path: str | os.PathLike[str] | None = None,
    calibration_images: Sequence[str | os.PathLike[str]] = (),
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Convert Ultralytics' YOLOv8n TFLite export into an ultralytics PyTorch checkpoint.

    Args:
        tflite_path: The ``.tflite`` file (int8 or float weights, BatchNorm folded).
        out_path: The ``.pt`` checkpoint to write.
        metadata_path: Ultralytics' ``metadata.yaml`` with the class names; defaults to the one beside the
            file, then to the metadata Ultralytics appends to the TFLite file.
        calibration_images: Optional real images; when given, BatchNorm statistics are measured on them
            (``calibrate_batchnorm``) so fine-tuning starts from the imported function. Eval is unchanged.
        progress: Called with a short line per step (the CLI prints them).

    Returns:
        The written checkpoint path, loadable with ``ultralytics.YOLO(path)``.

    Raises:
        FileNotFoundError: The TFLite file, the metadata or a calibration image is missing.
        TfliteImportError: The file is not TFLite, is corrupt, or its layers do not match yolov8n.
    """
    say = progress or (lambda _line: None)
    source = Path(tflite_path)
    graph = read_tflite_convs(source)
    say(f"read {len(graph.convs)} convolutions from {source}")
    names = _read_names(Path(metadata_path) if metadata_path else None, source)
    model = build_detection_model(nc=len(names))
    matches = _match_convs(model, graph, nc=len(names))
    _load_weights(model, matches)
    model.names = names
    say(f"matched {len(matches)} layers by dataflow; {len(names)} classes")
    size = graph.input_shape[1]
    calibrated = calibrate_batchnorm(model, [letterboxed_rgb(p, size) for p in calibration_images])
    if calibrated:
        say(f"calibrated {calibrated} BatchNorm layers on {len(calibration_images)} images")
    provenance = {
        "tflite": str(source),
        "tflite_bytes": source.stat().st_size,
        "bn_calibration_images": len(calibration_images),
    }
    return save_checkpoint(model, out_path, source=provenance)
