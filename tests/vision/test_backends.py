"""Detector backends: the ONNX Runtime backend (and its export) against the Ultralytics one.

The bundled model is exported to ONNX at 384x640 once per session; both backends run on
frames of the demo patrol clip (bus.jpg panned at 960x540) and must find the same objects.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import supervision as sv
from pydantic import TypeAdapter

from streetwatch.datasets.demo import make_demo_footage
from streetwatch.pipeline.frames import iter_frames
from streetwatch.vision.backends.onnx_backend import OnnxDetector, letterbox_geometry, nms
from streetwatch.vision.backends.ultralytics_backend import UltralyticsDetector
from streetwatch.vision.detections import Detections
from streetwatch.vision.detector import DetectorConfig, DetectorError, OnnxConfig, UltralyticsConfig, build_detector
from streetwatch.vision.export import ExportError, export_onnx, export_openvino

REPO = Path(__file__).resolve().parents[2]
MODEL_PT = REPO / "models" / "streetwatch-v0" / "streetwatch-v0.pt"
INPUT_HW = (384, 640)
STRONG_CONF = 0.35  # a detection this sure must have a partner in the other backend...
PARTNER_CONF = 0.2  # ...with at least this confidence (scores near the 0.25 threshold may flip)
MIN_IOU = 0.9


@pytest.fixture(scope="session")
def onnx_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bundled model exported with a dynamic batch, with a fixed batch of 1, and with FP16 weights."""
    folder = tmp_path_factory.mktemp("onnx")
    return {
        "dynamic": export_onnx(MODEL_PT, folder / "dynamic.onnx", imgsz=INPUT_HW),
        "static": export_onnx(MODEL_PT, folder / "static.onnx", imgsz=INPUT_HW, dynamic_batch=False),
        "half": export_onnx(MODEL_PT, folder / "half.onnx", imgsz=INPUT_HW, half=True),
    }


@pytest.fixture(scope="session")
def demo_frames(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    video, _ = make_demo_footage(tmp_path_factory.mktemp("demo"), seconds=2.0)
    frames = [frame.image for frame in iter_frames(video, "demo", sample_fps=5.0)]
    assert len(frames) == 10 and frames[0].shape == (540, 960, 3)
    return frames


@pytest.fixture(scope="session")
def pytorch_detections(demo_frames: list[np.ndarray]) -> list[Detections]:
    # imgsz 640 with Ultralytics' minimal-rectangle letterbox gives 384x640 for 960x540 frames.
    detector = UltralyticsDetector(UltralyticsConfig(weights=MODEL_PT, imgsz=640, batch_size=8))
    return detector.detect(demo_frames)


def unmatched(reference: Detections, candidate: Detections) -> list[str]:
    """Strong detections of ``reference`` with no same-class partner of IoU >= MIN_IOU in ``candidate``."""
    problems = []
    for i in np.flatnonzero(reference.confidence >= STRONG_CONF):
        partners = (candidate.class_id == reference.class_id[i]) & (candidate.confidence >= PARTNER_CONF)
        ious = sv.box_iou_batch(reference.xyxy[i:i + 1], candidate.xyxy[partners])
        best = float(ious.max()) if ious.size else 0.0
        if best < MIN_IOU:
            problems.append(f"{reference.data['class_name'][i]} conf {reference.confidence[i]:.3f} "
                            f"at {np.round(reference.xyxy[i], 1).tolist()}: best IoU {best:.3f}")
    return problems


@pytest.mark.parametrize(
    ("export", "batch_size"), [("dynamic", 8), ("dynamic", 3), ("dynamic", 1), ("static", 8), ("half", 8)])
def test_onnx_agrees_with_pytorch(
    onnx_exports: dict[str, Path],
    demo_frames: list[np.ndarray],
    pytorch_detections: list[Detections],
    export: str,
    batch_size: int,
) -> None:
    detector = OnnxDetector(OnnxConfig(weights=onnx_exports[export], batch_size=batch_size))
    onnx_detections = detector.detect(demo_frames)

    assert len(onnx_detections) == len(demo_frames)
    strong = sum(int((d.confidence >= STRONG_CONF).sum()) for d in pytorch_detections)
    assert strong >= 10, f"the demo clip should give plenty of confident detections, got {strong}"
    for index, (expected, found) in enumerate(zip(pytorch_detections, onnx_detections, strict=True)):
        strong_classes = set(found.data["class_name"][found.confidence >= STRONG_CONF])
        assert strong_classes <= set(expected.data["class_name"])
        problems = [f"missing in onnx: {p}" for p in unmatched(expected, found)]
        problems += [f"extra in onnx: {p}" for p in unmatched(found, expected)]
        assert not problems, f"frame {index}: " + "; ".join(problems)
        names = [detector.names[int(c)] for c in found.class_id]
        assert list(found.data["class_name"]) == names


@pytest.mark.parametrize("export", ["dynamic", "static", "half"])
def test_export_fixes_input_size_and_keeps_names(onnx_exports: dict[str, Path], export: str) -> None:
    model = onnx.load(str(onnx_exports[export]))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    batch = dims[0].dim_param or dims[0].dim_value
    assert [d.dim_value for d in dims[1:]] == [3, *INPUT_HW]
    assert batch == (1 if export == "static" else "batch")
    metadata = {p.key: p.value for p in model.metadata_props}
    pytorch_names = UltralyticsDetector(UltralyticsConfig(weights=MODEL_PT)).names
    detector = OnnxDetector(OnnxConfig(weights=onnx_exports[export]))
    assert "names" in metadata and detector.names == pytorch_names and len(pytorch_names) == 13
    assert detector.input_size == INPUT_HW
    assert detector.model_name == export


def test_config_builds_onnx_backend_through_union(onnx_exports: dict[str, Path]) -> None:
    config = TypeAdapter(DetectorConfig).validate_python(
        {"kind": "onnx", "weights": str(onnx_exports["dynamic"]), "intra_op_threads": 1, "conf": 0.4})
    assert isinstance(config, OnnxConfig)
    detector = build_detector(config)
    assert isinstance(detector, OnnxDetector)
    assert isinstance(build_detector(TypeAdapter(DetectorConfig).validate_python(
        {"kind": "ultralytics", "weights": str(MODEL_PT)})), UltralyticsDetector)


@pytest.mark.parametrize("backend", ["onnx", "ultralytics"])
@pytest.mark.parametrize(
    ("frames", "expected_lengths"),
    [
        ([], []),
        ([np.full((540, 960, 3), 114, np.uint8)], [0]),  # nothing but letterbox grey
        ([np.zeros((360, 640, 3), np.uint8), np.full((200, 100, 3), 255, np.uint8)], [0, 0]),
    ],
    ids=["empty-batch", "grey-frame", "black-and-white-frames"],
)
def test_nothing_to_detect(onnx_exports: dict[str, Path], backend: str, frames: list[np.ndarray],
                           expected_lengths: list[int]) -> None:
    detector = (OnnxDetector(OnnxConfig(weights=onnx_exports["dynamic"])) if backend == "onnx"
                else UltralyticsDetector(UltralyticsConfig(weights=MODEL_PT)))
    results = detector.detect(frames)
    assert [len(d) for d in results] == expected_lengths
    for detections in results:
        assert detections.xyxy.shape == (0, 4) and "class_name" in detections.data


def _strip_names(source: Path, target: Path) -> None:
    model = onnx.load(str(source))
    kept = [p for p in model.metadata_props if p.key != "names"]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    onnx.save(model, str(target))


def _identity_model(source: Path, target: Path) -> None:
    """A valid ONNX file with YOLO-like metadata but a 2-d input: not a detector."""
    del source
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.helper.set_model_props(model, {"names": "{0: 'person'}"})
    onnx.save(model, str(target))


BAD_MODELS: dict[str, tuple[Callable[[Path, Path], None] | None, str]] = {
    "missing": (None, "not found"),
    "text": (lambda _src, dst: dst.write_text("this is not a model\n"), "cannot load ONNX model"),
    "random-bytes": (lambda _src, dst: dst.write_bytes(np.random.default_rng(0).bytes(4096)),
                     "cannot load ONNX model"),
    "pytorch-weights": (lambda _src, dst: dst.write_bytes(MODEL_PT.read_bytes()), "cannot load ONNX model"),
    "no-names": (_strip_names, "no 'names' in the ONNX metadata"),
    "not-a-detector": (_identity_model, re.escape("expected a (batch, 3, height, width) input")),
}


@pytest.mark.parametrize("kind", list(BAD_MODELS))
def test_bad_model_files_raise(onnx_exports: dict[str, Path], tmp_path: Path, kind: str) -> None:
    write, message = BAD_MODELS[kind]
    path = tmp_path / "model.onnx"
    if write is not None:
        write(onnx_exports["dynamic"], path)
    with pytest.raises(DetectorError, match=message):
        OnnxDetector(OnnxConfig(weights=path))


@pytest.mark.parametrize(
    "image",
    [np.zeros((540, 960), np.uint8), np.zeros((540, 960, 3), np.float32), np.zeros((0, 960, 3), np.uint8),
     np.zeros((540, 960, 4), np.uint8)],
    ids=["grey-2d", "float", "zero-height", "bgra"],
)
def test_bad_images_raise(onnx_exports: dict[str, Path], image: np.ndarray) -> None:
    detector = OnnxDetector(OnnxConfig(weights=onnx_exports["dynamic"]))
    with pytest.raises(DetectorError, match=r"image 1: expected a non-empty HxWx3 uint8"):
        detector.detect([np.zeros((540, 960, 3), np.uint8), image])


@pytest.mark.parametrize(
    ("height", "width", "gain", "pad_x", "pad_y", "resized_w", "resized_h"),
    [
        (540, 960, 2 / 3, 0, 12, 640, 360),        # 16:9 demo footage: 12 px bars top and bottom
        (1080, 1920, 1 / 3, 0, 12, 640, 360),
        (384, 640, 1.0, 0, 0, 640, 384),           # already the input size
        (480, 640, 0.8, 64, 0, 512, 384),          # 4:3: bars left and right
        (100, 100, 3.84, 128, 0, 384, 384),        # small images are scaled up
        (1920, 1080, 0.2, 212, 0, 216, 384),       # portrait phone footage
    ],
)
def test_letterbox_geometry(height: int, width: int, gain: float, pad_x: int, pad_y: int,
                            resized_w: int, resized_h: int) -> None:
    placement = letterbox_geometry(height, width, *INPUT_HW)
    assert placement.gain == pytest.approx(gain)
    assert (placement.pad_x, placement.pad_y, placement.resized_w, placement.resized_h) == (
        pad_x, pad_y, resized_w, resized_h)
    assert placement.pad_x * 2 + placement.resized_w <= INPUT_HW[1] + 1
    assert placement.pad_y * 2 + placement.resized_h <= INPUT_HW[0] + 1


@pytest.mark.parametrize(("n_boxes", "seed"), [(0, 0), (1, 1), (30, 2), (400, 3), (2000, 4)])
def test_numpy_nms_matches_torchvision(n_boxes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 300, (n_boxes, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(5, 120, (n_boxes, 2))], axis=1).astype(np.float32)
    scores = rng.uniform(0.25, 1.0, n_boxes).astype(np.float32)
    kept = nms(boxes, scores, 0.5)
    # the reference: torchvision's compiled NMS (tests may import torch; the ONNX path does not)
    import torch
    import torchvision

    reference = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.5).numpy()
    np.testing.assert_array_equal(kept, reference)
    if n_boxes > 30:
        assert 0 < len(kept) < n_boxes  # crowded enough that some boxes are suppressed


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda d: export_onnx(d / "absent.pt", d / "m.onnx"), FileNotFoundError, "weights to export not"),
        (lambda d: export_onnx(MODEL_PT, d / "m.xml"), ValueError, r"must end in \.onnx"),
        (lambda d: export_onnx(MODEL_PT, d / "m.onnx", imgsz=(380, 640)), ValueError, "multiples of the"),
        (lambda d: export_onnx(d / "fake.pt", d / "m.onnx"), ExportError, "cannot load weights"),
    ],
    ids=["missing-weights", "wrong-suffix", "imgsz-not-stride-multiple", "not-weights"],
)
def test_export_errors(
    tmp_path: Path, call: Callable[[Path], Path], error: type[Exception], message: str
) -> None:
    (tmp_path / "fake.pt").write_text("not a checkpoint\n")
    with pytest.raises(error, match=message):
        call(tmp_path)
    assert not (tmp_path / "m.onnx").exists()


def test_openvino_export_explains_missing_package(tmp_path: Path) -> None:
    try:
        import openvino  # noqa: F401
    except ImportError:
        with pytest.raises(ExportError, match=r"pip install 'openvino"):
            export_openvino(MODEL_PT, tmp_path / "ov")
        return
    out = export_openvino(MODEL_PT, tmp_path / "ov")
    assert any(out.glob("*.xml")) and any(out.glob("*.bin"))
