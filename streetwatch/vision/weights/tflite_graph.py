"""Read the convolutions of a TFLite file, with what each one reads: its dataflow expression.

A TFLite flatbuffer (parsed with the schema module shipped in ``ai-edge-litert``) is walked in its
operator order; each tensor gets an expression saying how it is computed from the graph input and
from earlier convolutions (slices, concatenations, additions, poolings, upsamplings, SiLUs), written
the same way as :mod:`streetwatch.vision.weights.tflite_import` writes them for the PyTorch model,
so that the two graphs' convolutions can be matched. Weights come out dequantized to float32 OIHW.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

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


def slice_expr(x: Expr, start: int, stop: int) -> Expr:
    """Channels [start, stop) of x, normalised so equal selections compare equal."""
    if x[0] == "opaque":
        return OPAQUE
    if start == 0 and stop == x[1]:
        return x
    if x[0] == "slice":
        return slice_expr(x[2], x[3] + start, x[3] + stop)
    if x[0] == "cat":  # a slice of a concatenation is a concatenation of (slices of) its parts
        picked, offset = [], 0
        for part in x[2]:
            low, high = offset, offset + part[1]
            if high > start and low < stop:
                picked.append(slice_expr(part, max(start, low) - low, min(stop, high) - low))
            offset = high
        return cat_expr(picked)
    return ("slice", stop - start, x, start)


def cat_expr(parts: list[Expr]) -> Expr:
    """Channel concatenation, flattened, with adjacent slices of one tensor merged."""
    merged: list[Expr] = []
    for part in parts:
        if part[0] == "opaque":
            return OPAQUE
        for piece in part[2] if part[0] == "cat" else (part,):
            last = merged[-1] if merged else None
            adjacent = last is not None and last[0] == piece[0] == "slice" and last[2] == piece[2]
            if adjacent and last[3] + last[1] == piece[3]:  # type: ignore[index]
                joined = slice_expr(piece[2], last[3], piece[3] + piece[1])  # type: ignore[index]
                merged[-1:] = list(joined[2]) if joined[0] == "cat" else [joined]
            else:
                merged.append(piece)
    if len(merged) == 1:
        return merged[0]
    return ("cat", sum(p[1] for p in merged), tuple(merged))


def add_expr(a: Expr, b: Expr) -> Expr:
    if "opaque" in (a[0], b[0]):
        return OPAQUE
    return ("add", a[1], tuple(sorted((a, b), key=repr)))  # addition commutes


def silu_or_none(a: Expr | None, b: Expr | None) -> Expr | None:
    """x * sigmoid(x) as one SiLU, whichever side the sigmoid is on."""
    for x, gate in ((a, b), (b, a)):
        if x is not None and gate is not None and gate[0] == "sigmoid" and gate[2] == x:
            return ("silu", x[1], x)
    return None


def rekey(expr: Expr, mapping: dict[Any, Any]) -> Expr:
    """The same expression with each convolution key replaced through mapping (KeyError if unmapped)."""
    kind = expr[0]
    if kind == "conv":
        return ("conv", expr[1], mapping[expr[2]])
    if kind in {"input", "opaque"}:
        return expr
    if kind == "cat":
        return cat_expr([rekey(p, mapping) for p in expr[2]])
    if kind == "add":
        return add_expr(*(rekey(p, mapping) for p in expr[2]))
    if kind == "slice":
        return slice_expr(rekey(expr[2], mapping), expr[3], expr[3] + expr[1])
    return (kind, expr[1], rekey(expr[2], mapping), *expr[3:])


def describe_expr(expr: Expr, limit: int = 240) -> str:
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
        if name == "MUL" and len(args) == 2 and (silu := silu_or_none(args[0], args[1])) is not None:
            return [silu]
        if name == "ADD" and len(args) == 2 and None not in args and options.fusedActivationFunction == 0:
            return [add_expr(args[0], args[1])]  # type: ignore[arg-type]
        if name == "CONCATENATION" and None not in args and self._is_channel_axis(options.axis, outs[0]):
            return [cat_expr(args)]  # type: ignore[arg-type]
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
        return slice_expr(x, starts[3], stops[3])

    def split(self, name: str, ins: list[int], outs: list[int]) -> list[Expr | None]:
        x_tensor, axis_tensor = (ins[1], ins[0]) if name == "SPLIT" else (ins[0], ins[2])
        x, axis = self.exprs.get(x_tensor), self.constant(axis_tensor)
        if x is None or axis is None or not self._is_channel_axis(int(axis.reshape(-1)[0]), x_tensor):
            return [OPAQUE] * len(outs)
        results: list[Expr | None] = []
        start = 0
        for out in outs:
            width = self.shape(out)[-1]
            results.append(slice_expr(x, start, start + width))
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
