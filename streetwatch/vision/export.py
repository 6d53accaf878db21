"""Export trained weights to CPU inference formats: ONNX (for ONNX Runtime) and OpenVINO.

Exports go through Ultralytics' own exporter, offline, from a private copy of the weights
(the exporter writes next to its input, and the input may sit in a shared checkout). The
ONNX file keeps Ultralytics' metadata (``names``, ``imgsz``, ``stride``) in its
``metadata_props``; the ONNX detector backend reads the class names from there.

The ONNX input has a fixed height and width (e.g. 384x640 for 16:9 footage: a square
640x640 input would spend 40% of its pixels on padding) and, by default, a dynamic batch
dimension so one session can run batches of any size.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ultralytics import YOLO

# Never let Ultralytics reach for the network (fonts, weights, hub, version checks).
os.environ.setdefault("YOLO_OFFLINE", "1")

DEFAULT_IMGSZ = (384, 640)
OPENVINO_INSTALL_HINT = "pip install 'openvino>=2024.0.0'"


class ExportError(RuntimeError):
    """A model could not be exported."""


def export_onnx(
    weights: Path,
    out: Path,
    imgsz: tuple[int, int] = DEFAULT_IMGSZ,
    half: bool = False,
    dynamic_batch: bool = True,
) -> Path:
    """Export Ultralytics detection weights to an ONNX file with a fixed input height and width.

    Args:
        weights: A ``.pt`` file of an Ultralytics detection model.
        out: The ``.onnx`` file to write (its folder is created; an existing file is replaced).
        imgsz: Input ``(height, width)``; each a positive multiple of the model's stride (32).
        half: Store weights in FP16 (inputs and outputs stay FP32). Smaller file; on CPU
            usually no faster.
        dynamic_batch: Make the batch dimension dynamic; otherwise it is fixed at 1.

    Returns:
        ``out``.

    Raises:
        FileNotFoundError: ``weights`` does not exist.
        ValueError: ``out`` does not end in ``.onnx``, or ``imgsz`` is not a multiple of the stride.
        ExportError: Ultralytics could not load the weights or export them.
    """
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"ONNX export target must end in .onnx, got {out}")
    with tempfile.TemporaryDirectory(prefix="streetwatch-export-") as workdir:
        model = _load_private_copy(weights, Path(workdir), imgsz)
        exported = _run_exporter(
            model, weights, format="onnx", imgsz=list(imgsz), dynamic=dynamic_batch,
            simplify=_onnxslim_available(), quantize=16 if half else None, batch=1)
        if dynamic_batch:
            _pin_input_size(exported, imgsz)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(exported), out)
    return out


def export_openvino(
    weights: Path,
    out: Path,
    imgsz: tuple[int, int] = DEFAULT_IMGSZ,
    half: bool = False,
) -> Path:
    """Export Ultralytics detection weights to an OpenVINO IR folder (``.xml``, ``.bin``, ``metadata.yaml``).

    Needs the ``openvino`` package, which streetwatch does not install by default (a large wheel).

    Args:
        weights: A ``.pt`` file of an Ultralytics detection model.
        out: The folder to write (an existing folder is replaced).
        imgsz: Input ``(height, width)``; each a positive multiple of the model's stride (32).
        half: Compress weights to FP16.

    Returns:
        ``out``.

    Raises:
        ExportError: ``openvino`` is not installed, or the export failed.
        FileNotFoundError: ``weights`` does not exist.
        ValueError: ``imgsz`` is not a multiple of the stride.
    """
    if importlib.util.find_spec("openvino") is None:
        raise ExportError(
            "OpenVINO export needs the 'openvino' package, which is not installed; "
            f"install it with: {OPENVINO_INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="streetwatch-export-") as workdir:
        model = _load_private_copy(weights, Path(workdir), imgsz)
        exported = _run_exporter(model, weights, format="openvino", imgsz=list(imgsz),
                                 quantize=16 if half else None, batch=1)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(exported), out)
    return out


def _load_private_copy(weights: Path, workdir: Path, imgsz: tuple[int, int]) -> YOLO:
    """Copy the weights into ``workdir`` and load them; check ``imgsz`` against the model's stride."""
    if not weights.is_file():
        raise FileNotFoundError(f"weights to export not found: {weights}")
    if len(imgsz) != 2:
        raise ValueError(f"imgsz must be (height, width), got {imgsz!r}")
    from ultralytics import YOLO

    copy = workdir / weights.name
    shutil.copyfile(weights, copy)
    try:
        model = YOLO(str(copy), task="detect")
    except Exception as exc:  # Ultralytics raises many kinds; all mean "cannot load these weights"
        raise ExportError(f"cannot load weights {weights}: {exc}") from exc
    strides = getattr(model.model, "stride", None)
    stride = int(max(strides)) if strides is not None else 32
    if any(side <= 0 or side % stride for side in imgsz):
        raise ValueError(
            f"imgsz sides must be positive multiples of the model stride {stride}, got {imgsz!r}")
    return model


def _run_exporter(model: YOLO, weights: Path, **kwargs: object) -> Path:
    try:
        exported = model.export(device="cpu", verbose=False, **kwargs)
    except Exception as exc:  # the exporter raises many kinds (AssertionError among them)
        raise ExportError(f"{kwargs.get('format')} export of {weights} failed: {exc}") from exc
    if not exported or not Path(exported).exists():
        raise ExportError(f"{kwargs.get('format')} export of {weights} produced no file (got {exported!r})")
    return Path(exported)


def _onnxslim_available() -> bool:
    return importlib.util.find_spec("onnxslim") is not None


def _pin_input_size(path: Path, imgsz: tuple[int, int]) -> None:
    """Fix the input's height and width, keeping the batch dimension dynamic.

    Ultralytics' ``dynamic=True`` makes batch, height and width all dynamic; pinning height
    and width makes the file say which input size it was exported (and is accurate) for.
    """
    import onnx

    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ExportError(f"{path}: expected a 4-d image input, found {len(dims)} dims")
    for dim, size in zip(dims[2:], imgsz, strict=True):
        dim.Clear()
        dim.dim_value = int(size)
    onnx.save(model, str(path))
