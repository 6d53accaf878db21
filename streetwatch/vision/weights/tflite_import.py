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

from streetwatch.vision.weights.tflite_graph import (
    OPAQUE,
    Expr,
    TfliteConv,
    TfliteConvGraph,
    TfliteImportError,
    add_expr,
    cat_expr,
    describe_expr,
    read_tflite_convs,
    rekey,
    silu_or_none,
    slice_expr,
)

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
        if name == "mul" and (silu := silu_or_none(x, expr_of(args[1]))) is not None:
            return [silu]
        y = expr_of(args[1]) if len(args) > 1 else None
        if name == "add" and x is not None and y is not None and kwargs.get("alpha", 1) == 1:
            return [add_expr(x, y)]
        if name == "cat":
            parts = [expr_of(t) for t in args[0]]
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            if None not in parts and channel_dim(dim, outs[0]):
                return [cat_expr(parts)]  # type: ignore[arg-type]
        if name in {"split", "split_with_sizes", "chunk"} and x is not None:
            dim = args[2] if len(args) > 2 else kwargs.get("dim", 0)
            if channel_dim(dim, args[0]):
                starts = np.cumsum([0] + [o.shape[1] for o in outs])
                return [slice_expr(x, int(a), int(b)) for a, b in itertools.pairwise(starts)]
        if name == "slice" and x is not None and channel_dim(args[1] if len(args) > 1 else 0, args[0]):
            start, stop, _ = slice(*args[2:4]).indices(args[0].shape[1])
            if (args[4] if len(args) > 4 else 1) == 1:
                return [slice_expr(x, start, stop)]
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
        key = rekey(call.input_expr, mapping)
        expected = (tuple(call.module.weight.shape), *_torch_geometry(call.module))
        candidates = [c for c in by_input.get(key, []) if c.op_index not in used]
        if not candidates:
            raise TfliteImportError(
                f"{graph.path}: layer {call.name} (weight {expected[0]}) reads {describe_expr(key)}, "
                "but no unmatched TFLite convolution reads that; the file is not a yolov8n export"
            )
        fitting = [c for c in candidates if (c.weight.shape, c.stride, c.padding, c.groups) == expected]
        if len(fitting) != 1:
            found = "; ".join(
                f"op #{c.op_index} {(c.weight.shape, c.stride, c.padding, c.groups)}" for c in candidates
            )
            raise TfliteImportError(
                f"{graph.path}: layer {call.name}: expected one convolution reading {describe_expr(key)} with "
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
