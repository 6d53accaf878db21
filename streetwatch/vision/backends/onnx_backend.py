"""Detector backend running a YOLO ONNX export with ONNX Runtime on the CPU.

Pre- and post-processing follow Ultralytics' own (so results match the PyTorch backend):
letterbox to the model's fixed input size (scale to fit, keep the aspect ratio, pad with
grey 114, centred), RGB in [0, 1]; then the raw ``(batch, 4 + classes, anchors)`` output is
filtered by confidence (best class per anchor), per-class NMS, ``max_det`` best kept, and
boxes are mapped back to the original pixels. NMS is the numpy :func:`nms` here: at the
deployment confidence (0.25) a frame has tens of candidates, and importing PyTorch for
``torchvision.ops.nms`` would cost two seconds of start-up; this path imports no PyTorch.

ONNX Runtime's worker threads do not spin while waiting for work
(``session.intra_op.allow_spinning = 0``): spinning buys a few milliseconds per batch and
burns a core that the decoder thread and the rest of the pipeline need on a small machine.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from streetwatch.vision.detections import Detections
from streetwatch.vision.detector import DetectorError, OnnxConfig, WeightsDetector

PAD_VALUE = 114
# Class-aware NMS by offsetting each class's boxes far apart (as Ultralytics does).
CLASS_OFFSET_PX = 7680.0
MAX_NMS_CANDIDATES = 30_000

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How one image was placed into the model input: ``input = original * gain + (pad_x, pad_y)``."""

    gain: float
    pad_x: int
    pad_y: int
    resized_w: int
    resized_h: int


def letterbox_geometry(height: int, width: int, input_h: int, input_w: int) -> Letterbox:
    """Where a ``height`` x ``width`` image goes in an ``input_h`` x ``input_w`` input.

    Rounds as Ultralytics' ``LetterBox`` does, so boxes match the PyTorch backend's.
    """
    gain = min(input_h / height, input_w / width)
    resized_w, resized_h = round(width * gain), round(height * gain)
    pad_x = round((input_w - resized_w) / 2 - 0.1)
    pad_y = round((input_h - resized_h) / 2 - 0.1)
    return Letterbox(gain, pad_x, pad_y, resized_w, resized_h)


def letterbox_into(canvas: npt.NDArray[np.uint8], image: npt.NDArray[np.uint8]) -> Letterbox:
    """Place a BGR image into ``canvas`` (the model's ``height x width x 3`` input, uint8) as the model
    expects it: scaled to fit, centred, padded with grey; returns where it went."""
    height, width = image.shape[:2]
    placement = letterbox_geometry(height, width, canvas.shape[0], canvas.shape[1])
    canvas.fill(PAD_VALUE)
    resized: np.ndarray = image
    if (placement.resized_w, placement.resized_h) != (width, height):
        resized = cv2.resize(image, (placement.resized_w, placement.resized_h), interpolation=cv2.INTER_LINEAR)
    top, left = placement.pad_y, placement.pad_x
    np.copyto(canvas[top:top + placement.resized_h, left:left + placement.resized_w], resized)
    return placement


def fill_input(blob: npt.NDArray[np.floating], canvas: npt.NDArray[np.uint8]) -> None:
    """Letterboxed BGR HWC uint8 canvases -> the model's RGB CHW input in [0, 1], written into ``blob``."""
    np.copyto(blob, canvas[..., ::-1].transpose(0, 3, 1, 2), casting="unsafe")
    np.multiply(blob, blob.dtype.type(1 / 255), out=blob)


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> npt.NDArray[np.intp]:
    """Greedy NMS in numpy; indices of the kept boxes, best score first. Boxes are ``(n, 4)`` xyxy."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        inter_w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        inter_h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = inter_w * inter_h
        iou = inter / (areas[best] + areas[rest] - inter + 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


def session_providers(config: OnnxConfig) -> list[str | tuple[str, dict[str, object]]]:
    """ONNX Runtime's providers for the config: CUDA gets its device index; the CPU provider stays last."""
    return [(name, {"device_id": config.device_id}) if name == "CUDAExecutionProvider" else name
            for name in config.providers]


class OnnxDetector(WeightsDetector):
    """Batched inference of a YOLO detection ONNX export (from :func:`streetwatch.vision.export.export_onnx`).

    Input buffers are reused between calls, so one instance must not run ``detect`` from two
    threads at once (ONNX Runtime itself uses ``intra_op_threads`` inside each call).
    """

    config: OnnxConfig

    def __init__(self, config: OnnxConfig) -> None:
        import onnxruntime as ort

        if not config.weights.is_file():
            raise DetectorError(f"detector weights not found: {config.weights}")
        self.config = config
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.intra_op_threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.spin else "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(
                str(config.weights), sess_options=options, providers=session_providers(config))
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/... kinds
            raise DetectorError(f"cannot load ONNX model {config.weights}: {exc}") from exc
        self._names = self._read_names()
        model_input = self._session.get_inputs()[0]
        self._input_name = model_input.name
        self._input_dtype = np.float16 if model_input.type == "tensor(float16)" else np.float32
        self._input_h, self._input_w = self._read_input_size(model_input.shape)
        fixed_batch = model_input.shape[0]
        # A symbolic batch dim is a str (or None); a fixed one an int.
        self._fixed_batch: int | None = (
            fixed_batch if isinstance(fixed_batch, int) and fixed_batch > 0 else None)
        self._check_output()
        self._chunk = self._fixed_batch or config.batch_size
        # Reused between calls: one uint8 canvas per batch slot, and the float input tensor.
        self._canvas = np.full((self._chunk, self._input_h, self._input_w, 3), PAD_VALUE, dtype=np.uint8)
        self._blob = np.empty((self._chunk, 3, self._input_h, self._input_w), dtype=self._input_dtype)

    @property
    def input_size(self) -> tuple[int, int]:
        """The model's input ``(height, width)``."""
        return self._input_h, self._input_w

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """Detect objects in each BGR image; one Detections per image, in order."""
        for position, image in enumerate(images):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
                raise DetectorError(
                    f"image {position}: expected a non-empty HxWx3 uint8 BGR array, "
                    f"got shape {image.shape} dtype {image.dtype}")
        results: list[Detections] = []
        for start in range(0, len(images), self._chunk):
            chunk = images[start:start + self._chunk]
            boxes = [letterbox_into(self._canvas[slot], image) for slot, image in enumerate(chunk)]
            # A fixed-batch model always gets a full batch; the unused slots are ignored.
            rows = self._chunk if self._fixed_batch else len(chunk)
            canvas = self._canvas[:rows]
            blob = self._blob[:rows]
            # BGR HWC uint8 -> RGB CHW float in [0, 1], written straight into the input tensor.
            fill_input(blob, canvas)
            (output,) = self._session.run(None, {self._input_name: blob})
            for slot, (image, placement) in enumerate(zip(chunk, boxes, strict=True)):
                prediction = np.asarray(output[slot], dtype=np.float32)
                results.append(self._decode(prediction, image.shape, placement))
        return results

    def _decode(self, prediction: FloatArray, shape: tuple[int, ...], placement: Letterbox) -> Detections:
        """One image's ``(4 + classes, anchors)`` output -> detections in original pixels."""
        class_scores = prediction[4:]
        class_ids = class_scores.argmax(axis=0)
        confidence = class_scores[class_ids, np.arange(class_scores.shape[1])]
        candidates = np.flatnonzero(confidence > self.config.conf)
        if candidates.size > MAX_NMS_CANDIDATES:
            candidates = candidates[np.argsort(-confidence[candidates])[:MAX_NMS_CANDIDATES]]
        if not candidates.size:
            return self._detections(np.empty((0, 4), np.float32), np.empty(0, np.float32), np.empty(0, int))
        cx, cy, w, h = prediction[:4, candidates]
        xyxy = np.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), axis=1)
        confidence, class_ids = confidence[candidates], class_ids[candidates]
        offsets = class_ids.astype(np.float32)[:, None] * np.float32(CLASS_OFFSET_PX)
        keep = nms(xyxy + offsets, confidence, self.config.iou)
        keep = keep[: self.config.max_det]
        xyxy, confidence, class_ids = xyxy[keep], confidence[keep], class_ids[keep]
        # Back to original pixels, clipped to the image.
        pad = (placement.pad_x, placement.pad_y)
        xyxy -= np.array(pad * 2, dtype=np.float32)
        xyxy /= placement.gain
        height, width = shape[:2]
        np.clip(xyxy[:, 0::2], 0, width, out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], 0, height, out=xyxy[:, 1::2])
        return self._detections(xyxy.astype(np.float32), confidence.astype(np.float32), class_ids.astype(int))

    def _detections(
        self, xyxy: FloatArray, confidence: FloatArray, class_ids: npt.NDArray[np.int_]
    ) -> Detections:
        class_names = np.array([self._names.get(int(i), str(int(i))) for i in class_ids], dtype=str)
        return Detections(xyxy=xyxy, confidence=confidence, class_id=class_ids, data={"class_name": class_names})

    def _read_names(self) -> dict[int, str]:
        metadata = self._session.get_modelmeta().custom_metadata_map
        if "names" not in metadata:
            raise DetectorError(
                f"{self.config.weights}: no 'names' in the ONNX metadata "
                f"(found keys: {sorted(metadata) or 'none'}); "
                "export with streetwatch.vision.export.export_onnx")
        try:
            names = ast.literal_eval(metadata["names"])
            return {int(k): str(v) for k, v in names.items()}
        except (ValueError, SyntaxError, AttributeError, TypeError) as exc:
            raise DetectorError(
                f"{self.config.weights}: ONNX metadata 'names' is not a {{id: name}} dict: "
                f"{metadata['names']!r}"
            ) from exc

    def _read_input_size(self, shape: Sequence[int | str | None]) -> tuple[int, int]:
        if len(shape) != 4 or shape[1] not in (3, "3"):
            raise DetectorError(
                f"{self.config.weights}: expected a (batch, 3, height, width) input, got {shape}")
        if isinstance(shape[2], int) and isinstance(shape[3], int):
            return shape[2], shape[3]
        # Fully dynamic export: use the size it was exported at.
        imgsz = self._session.get_modelmeta().custom_metadata_map.get("imgsz")
        try:
            height, width = (int(side) for side in ast.literal_eval(imgsz or ""))
        except (ValueError, SyntaxError, TypeError) as exc:
            raise DetectorError(
                f"{self.config.weights}: input height/width are dynamic and the metadata has no "
                "usable 'imgsz' "
                f"(found {imgsz!r})") from exc
        return height, width

    def _check_output(self) -> None:
        outputs = self._session.get_outputs()
        shape = outputs[0].shape
        expected_channels = 4 + len(self._names)
        # A symbolic channel count cannot be checked until the first run; a fixed one must match.
        channels_match = len(shape) == 3 and (not isinstance(shape[1], int) or shape[1] == expected_channels)
        if len(outputs) != 1 or not channels_match:
            raise DetectorError(
                f"{self.config.weights}: expected one raw detection output "
                f"(batch, {expected_channels}, anchors) "
                f"for {len(self._names)} classes, got {[o.shape for o in outputs]} "
                "(exports with nms=True or of other tasks are not supported)")
