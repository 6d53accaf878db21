"""The TFLite -> PyTorch import of YOLOv8n, checked against the TFLite file itself, and the head surgery."""

from __future__ import annotations

import os

os.environ.setdefault("YOLO_OFFLINE", "1")  # before ultralytics is imported: never reach for the network

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch

SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"
TFLITE_DIR = SHARED_DATA / "coco_yolov8n_tflite"
TFLITE = TFLITE_DIR / "yolov8n_int8.tflite"
METADATA = TFLITE_DIR / "metadata.yaml"

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(
        not SHARED_DATA.is_dir(),
        reason=f"shared data folder {SHARED_DATA} (../shared/data beside the checkout) is absent",
    ),
]

TfliteRunner = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]]
CONF = 0.25  # ultralytics' default confidence threshold
CONF_SLACK = 0.05  # a detection this close to CONF may sit just under it on the other side
MIN_IOU = 0.9
MAX_CONF_DIFF = 0.05
STREET_CLASSES = [
    "person", "bicycle", "car", "motorcycle", "bus", "truck", "bench", "umbrella", "dining_table", "chair",
]


@dataclass(frozen=True, slots=True)
class Detections:
    xyxy: npt.NDArray[np.float32]
    confidence: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Agreement:
    counts: tuple[int, int]
    min_iou: float
    max_conf_diff: float
    problems: list[str]


def _iou(box: npt.NDArray[np.float32], boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / (area + areas - inter)


def compare(a: Detections, b: Detections) -> Agreement:
    """Match each confident detection of one side to the same class on the other, both ways."""
    problems, ious, diffs = [], [], []
    for name, this, other in (("A", a, b), ("B", b, a)):
        for box, conf, cls in zip(this.xyxy, this.confidence, this.class_id, strict=True):
            same_class = other.class_id == cls
            if not same_class.any():
                if conf >= CONF + CONF_SLACK:
                    problems.append(f"{name}: class {cls} conf {conf:.3f} has no counterpart")
                continue
            overlaps = _iou(box, other.xyxy[same_class])
            best = int(overlaps.argmax())
            diff = abs(float(conf) - float(other.confidence[same_class][best]))
            if conf < CONF and overlaps[best] < MIN_IOU:
                continue  # below threshold here and absent there: both sides agree it is not a detection
            ious.append(float(overlaps[best]))
            diffs.append(diff)
            if overlaps[best] < MIN_IOU or diff > MAX_CONF_DIFF:
                problems.append(
                    f"{name}: class {cls} conf {conf:.3f}: IoU {overlaps[best]:.3f}, conf diff {diff:.3f}"
                )
    counts = (int((a.confidence >= CONF).sum()), int((b.confidence >= CONF).sum()))
    return Agreement(counts, min(ious, default=1.0), max(diffs, default=0.0), problems)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from streetwatch.vision.weights.tflite_import import import_tflite

    return import_tflite(TFLITE, tmp_path_factory.mktemp("import") / "yolov8n-coco.pt", METADATA)


@pytest.fixture(scope="module")
def tflite_runner() -> TfliteRunner:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(TFLITE), num_threads=2)
    interpreter.allocate_tensors()
    (source,), (sink,) = interpreter.get_input_details(), interpreter.get_output_details()

    def run(image: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        interpreter.set_tensor(source["index"], image[None])
        interpreter.invoke()
        out = interpreter.get_tensor(sink["index"]).copy()
        if out[:, :4].max() <= 2.0:  # Ultralytics' TFLite exports give boxes as fractions of the input size
            out[:, :4] *= image.shape[0]
        return out

    return run


def _letterboxed(name: str) -> npt.NDArray[np.float32]:
    from ultralytics.utils import ASSETS

    from streetwatch.vision.weights.tflite_import import letterboxed_rgb

    return letterboxed_rgb(ASSETS / name)


def _as_tensor(image: npt.NDArray[np.float32]) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def _predict(checkpoint: Path, image: npt.NDArray[np.float32], conf: float) -> Detections:
    from ultralytics import YOLO

    result = YOLO(checkpoint).predict(_as_tensor(image), conf=conf, iou=0.7, verbose=False)[0]
    boxes = result.boxes
    return Detections(boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy().astype(np.int64))


def _nms(raw: npt.NDArray[np.float32], conf: float) -> Detections:
    from ultralytics.utils.nms import non_max_suppression

    (kept,) = non_max_suppression(torch.from_numpy(raw), conf_thres=conf, iou_thres=0.7)
    kept = kept.numpy()
    return Detections(kept[:, :4], kept[:, 4], kept[:, 5].astype(np.int64))


def _above(detections: Detections, conf: float) -> set[int]:
    return set(detections.class_id[detections.confidence >= conf].tolist())


@pytest.mark.parametrize("image_name", ["bus.jpg", "zidane.jpg"])
def test_converted_checkpoint_detects_like_the_tflite_model(
    converted: Path, tflite_runner: TfliteRunner, image_name: str
) -> None:
    image = _letterboxed(image_name)
    torch_side = _predict(converted, image, CONF - CONF_SLACK)
    tflite_side = _nms(tflite_runner(image), CONF - CONF_SLACK)
    assert _above(torch_side, CONF), f"{image_name}: the converted model finds nothing"
    assert _above(torch_side, CONF) == _above(tflite_side, CONF)
    agreement = compare(torch_side, tflite_side)
    assert not agreement.problems, f"{image_name}: {agreement}"
    assert agreement.min_iou >= MIN_IOU and agreement.max_conf_diff <= MAX_CONF_DIFF


def test_weights_are_the_dequantized_tflite_weights() -> None:
    from ai_edge_litert.interpreter import Interpreter

    from streetwatch.vision.weights.tflite_import import read_tflite_convs

    graph = read_tflite_convs(TFLITE)
    interpreter = Interpreter(model_path=str(TFLITE))
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    assert len(graph.convs) == 64
    assert sum(c.stored_dtype == "int8" for c in graph.convs) >= 60
    for conv in graph.convs:
        raw = interpreter.get_tensor(conv.weight_tensor)
        params = details[conv.weight_tensor]["quantization_parameters"]
        if raw.dtype == np.int8:
            per_channel = (-1,) + (1,) * (raw.ndim - 1)
            raw = (raw - params["zero_points"].reshape(per_channel)) * params["scales"].reshape(per_channel)
        np.testing.assert_allclose(conv.weight, raw.transpose(0, 3, 1, 2), rtol=1e-6, atol=1e-6)


def _mutated_tflite(tmp_path: Path, mutate: Callable[[Any], None]) -> Path:
    """A real TFLite file: the shared model, changed through the flatbuffer object API and packed again."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(TFLITE.read_bytes(), 0)
    mutate(model.subgraphs[0])
    builder = flatbuffers.Builder(4 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = tmp_path / "mutated.tflite"
    path.write_bytes(bytes(builder.Output()))
    return path


def _conv_ops(graph: Any) -> list[Any]:
    return [op for op in graph.operators if hasattr(op.builtinOptions, "dilationHFactor")]


def _drop_a_conv(graph: Any) -> None:
    graph.operators.remove(_conv_ops(graph)[-2])


def _second_conv_stride_one(graph: Any) -> None:
    _conv_ops(graph)[1].builtinOptions.strideH = 1


def _bottleneck_reads_whole_tensor(graph: Any) -> None:
    convs = _conv_ops(graph)
    convs[3].inputs = convs[3].inputs.copy()
    convs[3].inputs[0] = convs[2].outputs[0]  # first bottleneck reads cv1's raw output, not its split half


def _truncate(fraction: float) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        data = TFLITE.read_bytes()
        path = tmp_path / f"truncated_{fraction}.tflite"
        path.write_bytes(data[: int(len(data) * fraction)])
        return path

    return make


def _text_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.tflite"
    path.write_text("this is a text file, not a model\n", encoding="utf-8")
    return path


def _names(count: int) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / "metadata.yaml"
        path.write_text("names:\n" + "".join(f"  {i}: class{i}\n" for i in range(count)), encoding="utf-8")
        return path

    return make


BAD_INPUTS = [
    # id, makes the TFLite file, makes the metadata (None: the shared one), error, message fragment
    ("missing", lambda tmp: tmp / "absent.tflite", None, FileNotFoundError, "not found"),
    ("text", _text_file, None, "TfliteImportError", "not a TFLite flatbuffer"),
    ("four bytes", _truncate(1e-6), None, "TfliteImportError", "not a TFLite flatbuffer"),
    ("truncated 1%", _truncate(0.01), None, "TfliteImportError", "truncated or corrupt"),
    ("truncated 50%", _truncate(0.5), None, "TfliteImportError", "truncated or corrupt"),
    ("truncated 99%", _truncate(0.99), None, "TfliteImportError", "truncated or corrupt"),
    ("63 convs", lambda tmp: _mutated_tflite(tmp, _drop_a_conv), None, "TfliteImportError", "found 63"),
    ("stride", lambda tmp: _mutated_tflite(tmp, _second_conv_stride_one), None, "TfliteImportError",
     "layer model.1.conv: expected one convolution"),
    ("rewired", lambda tmp: _mutated_tflite(tmp, _bottleneck_reads_whole_tensor), None, "TfliteImportError",
     "layer model.2.m.0.cv1.conv (weight (16, 16, 3, 3)) reads silu(conv(op 8))[16:32], but no"),
    ("20 names", lambda tmp: TFLITE, _names(20), "TfliteImportError",
     "layer model.22.cv3.0.0.conv: expected one convolution"),
    ("no metadata", lambda tmp: TFLITE, lambda tmp: tmp / "absent.yaml", FileNotFoundError, "absent.yaml"),
]


@pytest.mark.parametrize(
    ("make_tflite", "make_metadata", "error", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
)
def test_bad_inputs_raise_clear_errors(
    tmp_path: Path,
    make_tflite: Callable[[Path], Path],
    make_metadata: Callable[[Path], Path] | None,
    error: type[Exception] | str,
    fragment: str,
) -> None:
    from streetwatch.vision.weights import tflite_import

    expected = getattr(tflite_import, error) if isinstance(error, str) else error
    metadata = make_metadata(tmp_path) if make_metadata else METADATA
    with pytest.raises(expected) as caught:
        tflite_import.import_tflite(make_tflite(tmp_path), tmp_path / "out.pt", metadata)
    assert fragment in str(caught.value)
    assert not (tmp_path / "out.pt").exists()


def test_batchnorm_calibration_keeps_eval_and_steadies_train_mode(converted: Path) -> None:
    from copy import deepcopy

    from ultralytics.nn.tasks import load_checkpoint

    from streetwatch.vision.weights.tflite_import import calibrate_batchnorm, letterboxed_rgb

    street = sorted((SHARED_DATA / "amsterdam_garbage" / "images").glob("*.jp*g"))
    calibration = [letterboxed_rgb(p, 320) for p in street[:8]]
    batch = np.stack([letterboxed_rgb(p, 320) for p in street[8:12]])
    held_out = torch.from_numpy(batch.transpose(0, 3, 1, 2))
    plain, _ = load_checkpoint(converted)
    calibrated = deepcopy(plain)
    assert calibrate_batchnorm(calibrated, calibration) == 57

    def scores(model: torch.nn.Module, train: bool) -> torch.Tensor:
        model.train(train)
        with torch.no_grad():
            out = model(held_out.contiguous())
        return (out if train else out[1])["scores"]

    torch.testing.assert_close(scores(calibrated, False), scores(plain, False), rtol=1e-4, atol=1e-4)
    drift_plain = (scores(plain, True) - scores(plain, False)).abs().median()
    drift_calibrated = (scores(calibrated, True) - scores(calibrated, False)).abs().median()
    assert drift_calibrated < drift_plain / 3, (float(drift_calibrated), float(drift_plain))


@pytest.mark.parametrize("new_classes", [[], ["shop_sign", "stall", "bin"]], ids=["coco only", "with new"])
def test_head_surgery_keeps_the_selected_coco_classes(
    converted: Path, tmp_path: Path, new_classes: list[str]
) -> None:
    from ultralytics import YOLO

    from streetwatch.vision.weights.head_surgery import select_classes

    names = STREET_CLASSES + new_classes
    out = select_classes(converted, names, {"dining_table": "dining table"}, tmp_path / "street.pt")
    source, selected = YOLO(converted), YOLO(out)
    assert selected.names == dict(enumerate(names))
    coco_index = {name: index for index, name in source.names.items()}
    rows = [coco_index[name.replace("_", " ")] for name in STREET_CLASSES]
    image = _as_tensor(_letterboxed("bus.jpg"))
    with torch.no_grad():
        before, after = source.model(image)[0], selected.model(image)[0]
    torch.testing.assert_close(after[:, :4], before[:, :4])
    torch.testing.assert_close(after[:, 4 : 4 + len(STREET_CLASSES)], before[:, [4 + r for r in rows]])
    new_rows = after[:, 4 + len(STREET_CLASSES) :]
    assert new_rows.numel() == 0 or float(new_rows.max()) < 0.01, "new classes must stay silent"

    kept = _predict(converted, _letterboxed("bus.jpg"), CONF)
    in_selection = np.isin(kept.class_id, rows)
    expected = Detections(
        kept.xyxy[in_selection], kept.confidence[in_selection],
        np.array([rows.index(c) for c in kept.class_id[in_selection]], dtype=np.int64),
    )
    found = _predict(out, _letterboxed("bus.jpg"), CONF)
    assert len(found.class_id) == len(expected.class_id) > 0
    order_found, order_expected = np.argsort(-found.confidence), np.argsort(-expected.confidence)
    np.testing.assert_array_equal(found.class_id[order_found], expected.class_id[order_expected])
    np.testing.assert_allclose(found.xyxy[order_found], expected.xyxy[order_expected], atol=1e-3)
    np.testing.assert_allclose(found.confidence[order_found], expected.confidence[order_expected], atol=1e-5)


HEAD_SURGERY_ERRORS = [
    ("empty", [], {}, "names_out is empty"),
    ("duplicate", ["car", "car"], {}, "repeats ['car']"),
    ("key not ours", ["car"], {"table": "dining table"}, "mapping names ['table']"),
    ("value not coco", ["sign"], {"sign": "street sign"}, "points at ['street sign']"),
]


@pytest.mark.parametrize(
    ("names", "mapping", "fragment"), [pytest.param(*case[1:], id=case[0]) for case in HEAD_SURGERY_ERRORS]
)
def test_head_surgery_rejects_bad_class_plans(
    converted: Path, tmp_path: Path, names: list[str], mapping: dict[str, str], fragment: str
) -> None:
    from streetwatch.vision.weights.head_surgery import HeadSurgeryError, select_classes

    with pytest.raises(HeadSurgeryError) as caught:
        select_classes(converted, names, mapping, tmp_path / "out.pt")
    assert fragment in str(caught.value)
    assert not (tmp_path / "out.pt").exists()


def test_head_surgery_missing_checkpoint(tmp_path: Path) -> None:
    from streetwatch.vision.weights.head_surgery import select_classes

    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        select_classes(tmp_path / "absent.pt", ["car"], {}, tmp_path / "out.pt")
