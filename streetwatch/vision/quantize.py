"""INT8 quantization of a YOLO detection ONNX export, for ONNX Runtime on the CPU.

Static quantization (ONNX Runtime's ``quantize_static``, QDQ format): weights int8 per
output channel, activations uint8 with ranges measured on calibration images that look like
the footage (letterboxed exactly as the detector letterboxes them). The detection head's
decoding (the DFL softmax, box arithmetic, class sigmoid and the final concat) and the last
convolution of each box and class branch stay in float: quantizing them costs box precision
and low-confidence recall for little speed.

On CPUs with AVX-512 VNNI or AVX-VNNI the int8 graph runs about twice as fast as the float
one at the same input size; on older CPUs the gain is smaller. The model card records the
accuracy cost measured on the validation split.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from streetwatch.vision.backends.onnx_backend import letterbox_into

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
HEAD_PREFIX = "/model.22/"   # YOLOv8's Detect module in Ultralytics' ONNX export


class QuantizeError(RuntimeError):
    """A model could not be quantized."""


def calibration_images(folders: Sequence[Path], limit: int = 160, seed: int = 0) -> list[Path]:
    """Up to ``limit`` image files from ``folders`` (searched recursively), a seeded random pick."""
    found = sorted(p for folder in folders for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise QuantizeError(f"no calibration images ({', '.join(sorted(IMAGE_SUFFIXES))}) under "
                            f"{', '.join(str(f) for f in folders)}")
    random.Random(seed).shuffle(found)
    return sorted(found[:limit])


def letterboxed_blob(image: npt.NDArray[np.uint8], height: int, width: int) -> npt.NDArray[np.float32]:
    """One BGR image placed as the ONNX detector places it (its own letterbox), RGB, CHW, float in [0, 1],
    batch of 1. (Divided by 255 rather than multiplied by 1/255 as the detector does: the shipped int8
    model was calibrated so, and the card's command reproduces it byte for byte.)"""
    canvas = np.empty((height, width, 3), dtype=np.uint8)
    letterbox_into(canvas, image)
    blob = canvas[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(blob)


def float_head_nodes(model_path: Path) -> list[str]:
    """Nodes of the YOLO head kept in float: all of its decoding, and the last conv of each branch."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    keep: list[str] = []
    for node in graph.node:
        if not node.name.startswith(HEAD_PREFIX):
            continue
        last_branch_conv = node.op_type == "Conv" and "/cv" in node.name and node.name.endswith("2/Conv")
        if node.op_type != "Conv" or last_branch_conv:
            keep.append(node.name)
    return keep


def quantize_onnx(source: Path, out: Path, images: Sequence[Path]) -> Path:
    """Write an int8 (QDQ) copy of the float ONNX detector ``source`` to ``out``, calibrated on ``images``.

    The class names and other metadata of ``source`` are kept, so the detector backend reads
    the quantized file exactly as it reads the float one.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        QuantizeError: No readable calibration image, or the graph is not a YOLO detection export.
    """
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not source.is_file():
        raise FileNotFoundError(f"ONNX model not found: {source}")
    session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    model_input = session.get_inputs()[0]
    input_name = model_input.name
    height, width = (int(side) for side in model_input.shape[2:4])
    del session

    def blobs() -> Iterator[dict[str, npt.NDArray[np.float32]]]:
        for path in images:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                yield {input_name: letterboxed_blob(np.asarray(image, dtype=np.uint8), height, width)}

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._blobs = blobs()
            self.count = 0

        def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
            blob = next(self._blobs, None)
            self.count += blob is not None
            return blob

    with tempfile.TemporaryDirectory(prefix="streetwatch-quantize-") as workdir:
        prepared = Path(workdir) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        keep_float = float_head_nodes(prepared)
        if not keep_float:
            raise QuantizeError(f"{source}: no YOLO detection head ({HEAD_PREFIX}*) found; "
                                "quantize an export of streetwatch.vision.export.export_onnx")
        reader = Reader()
        out.parent.mkdir(parents=True, exist_ok=True)
        quantize_static(str(prepared), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep_float)
        if reader.count == 0:
            out.unlink(missing_ok=True)
            raise QuantizeError("none of the calibration images could be read")
    quantized = onnx.load(str(out))
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(onnx.load(str(source)).metadata_props)
    quantized.metadata_props.add(key="quantization", value=f"int8 static QDQ, {reader.count} calibration images")
    onnx.save(quantized, str(out))
    return out
