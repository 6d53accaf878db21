"""The detector interface and its backends, chosen by a typed config.

A backend turns a batch of BGR frames into one :class:`~streetwatch.vision.detections.Detections` per frame, with
``data["class_name"]`` set from the model's own class names. Backends are registered
explicitly in ``BACKENDS``; a config's ``kind`` picks one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Literal, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from streetwatch.vision.detections import Detections


class DetectorError(RuntimeError):
    """A detector could not be built or run."""


class Detector(Protocol):
    """Frames in, detections out."""

    @property
    def names(self) -> dict[int, str]:
        """Class id -> class name, as the model knows them."""
        ...

    @property
    def model_name(self) -> str:
        """A short name for provenance (stored with every processed video)."""
        ...

    def detect(self, images: Sequence[npt.NDArray[np.uint8]]) -> list[Detections]:
        """Detect objects in each BGR image; one Detections per image, in order."""
        ...


class WeightsDetector:
    """What every backend that loads a weights file shares: its class names and its provenance name.

    A backend sets ``config`` (with ``weights``) and ``_names`` when it loads the model.
    """

    config: UltralyticsConfig | OnnxConfig
    _names: dict[int, str]

    @property
    def names(self) -> dict[int, str]:
        """Class id -> class name, as the model knows them."""
        return self._names

    @property
    def model_name(self) -> str:
        """The config's ``name``, else the weights file's stem."""
        return self.config.name or self.config.weights.stem


class UltralyticsConfig(BaseModel):
    """An Ultralytics model (.pt, or an export Ultralytics can run: .onnx, OpenVINO folder)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ultralytics"] = "ultralytics"
    weights: Path
    name: str | None = Field(None, description="Provenance name (default: the weights file's stem).")
    device: str = "cpu"
    imgsz: int | tuple[int, int] = 640
    conf: float = Field(0.25, gt=0, lt=1)
    iou: float = Field(0.7, gt=0, lt=1)
    half: bool = False
    batch_size: int = Field(8, ge=1)


class OnnxConfig(BaseModel):
    """A YOLO detection ONNX export (``streetwatch.vision.export.export_onnx``) run by ONNX Runtime.

    On the CPU by default; ``providers`` from :func:`streetwatch.vision.device.plan_device` put it
    on CUDA (``CUDAExecutionProvider`` on ``device_id``, the CPU provider behind it).

    The input size comes from the model (fixed height and width, e.g. 384x640); the class
    names from its metadata.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["onnx"] = "onnx"
    weights: Path
    name: str | None = Field(None, description="Provenance name (default: the weights file's stem).")
    conf: float = Field(0.25, gt=0, lt=1)
    iou: float = Field(0.7, gt=0, lt=1)
    max_det: int = Field(300, ge=1)
    batch_size: int = Field(8, ge=1)
    # None = one thread per CPU core.
    intra_op_threads: int | None = Field(None, ge=1)
    # Let idle worker threads spin (a little lower latency, a lot more CPU time on small machines).
    spin: bool = False
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    device_id: int = Field(0, ge=0, description="The CUDA device, when providers name CUDA.")


DetectorConfig = Annotated[UltralyticsConfig | OnnxConfig, Field(discriminator="kind")]


def _build_ultralytics(config: UltralyticsConfig) -> Detector:
    from streetwatch.vision.backends.ultralytics_backend import UltralyticsDetector

    return UltralyticsDetector(config)


def _build_onnx(config: OnnxConfig) -> Detector:
    from streetwatch.vision.backends.onnx_backend import OnnxDetector

    return OnnxDetector(config)


BACKENDS: dict[str, Callable[..., Detector]] = {"ultralytics": _build_ultralytics, "onnx": _build_onnx}


def build_detector(config: UltralyticsConfig | OnnxConfig) -> Detector:
    """Build the backend a config names."""
    try:
        factory = BACKENDS[config.kind]
    except KeyError:
        raise DetectorError(f"unknown detector kind '{config.kind}' (known: {', '.join(BACKENDS)})") from None
    return factory(config)
