"""INT8 quantization of the ONNX detector: the quantized copy reads like the float one and finds the same objects."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from streetwatch.cli.main import app
from streetwatch.core.settings import DEFAULT_MODEL
from streetwatch.datasets.demo import demo_image_path
from streetwatch.datasets.street_text import render_street_frame
from streetwatch.vision.detector import OnnxConfig, build_detector
from streetwatch.vision.quantize import QuantizeError, calibration_images, float_head_nodes, quantize_onnx

FLOAT_MODEL = DEFAULT_MODEL.parent / "streetwatch-v1-384x640.onnx"


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return float(w * h / union)


@pytest.fixture(scope="module")
def calibration_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("calibration")
    image = cv2.imread(str(demo_image_path()))
    assert image is not None
    cv2.imwrite(str(folder / "bus.jpg"), image)
    cv2.imwrite(str(folder / "bus-flipped.jpg"), image[:, ::-1])
    for seed in range(2):
        cv2.imwrite(str(folder / f"street-{seed}.png"), render_street_frame(size=(960, 540), seed=seed).image)
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.mark.slow
def test_the_quantized_model_finds_what_the_float_model_finds(calibration_folder: Path, tmp_path: Path) -> None:
    out = quantize_onnx(FLOAT_MODEL, tmp_path / "q.onnx", calibration_images([calibration_folder]))
    assert out.stat().st_size < 0.4 * FLOAT_MODEL.stat().st_size       # int8 weights: about a quarter of the float
    float_detector = build_detector(OnnxConfig(weights=FLOAT_MODEL))
    int8_detector = build_detector(OnnxConfig(weights=out))
    assert int8_detector.names == float_detector.names                  # the metadata came along
    image = cv2.imread(str(demo_image_path()))
    (reference,) = float_detector.detect([image])
    (quantized,) = int8_detector.detect([image])
    confident = reference[reference.confidence > 0.5]
    assert len(confident) >= 4                                          # the bus and the people
    for box, name in zip(confident.xyxy, confident.data["class_name"], strict=True):
        same = quantized.xyxy[quantized.data["class_name"] == name]
        assert len(same) and max(_iou(box, other) for other in same) > 0.85, f"{name} at {box} lost"


def test_the_head_decoding_stays_float() -> None:
    kept = float_head_nodes(FLOAT_MODEL)
    assert kept and all(name.startswith("/model.22/") for name in kept)
    assert not any(name.startswith("/model.0/") for name in kept)       # the backbone is quantized


def test_bad_input_gives_clear_errors(tmp_path: Path, calibration_folder: Path) -> None:
    with pytest.raises(QuantizeError, match="no calibration images"):
        calibration_images([tmp_path])
    assert [p.suffix for p in calibration_images([calibration_folder], limit=2)] != []
    assert len(calibration_images([calibration_folder], limit=2)) == 2
    with pytest.raises(FileNotFoundError, match="ONNX model not found"):
        quantize_onnx(tmp_path / "absent.onnx", tmp_path / "q.onnx", [calibration_folder / "bus.jpg"])
    result = CliRunner().invoke(app, ["models", "quantize", str(FLOAT_MODEL), str(tmp_path / "q.onnx"),
                                      "--calibrate-on", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "calibration folder(s) not found" in result.output
    result = CliRunner().invoke(app, ["models", "quantize", str(FLOAT_MODEL), str(tmp_path / "q.bin"),
                                      "--calibrate-on", str(calibration_folder)])
    assert result.exit_code == 2 and "must be a .onnx file" in result.output
