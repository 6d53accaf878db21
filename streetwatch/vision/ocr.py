"""Second-stage OCR: read text on crops, find licence plates and phone numbers, flag ad-like text regions.

The engine is RapidOCR on ONNX Runtime with the Chinese det/rec models that ship *inside* the wheel, so nothing is
downloaded at run time (a patrol car may have no network, and a city may audit what runs). The default engine is
``rapidocr-onnxruntime`` 1.4 (PP-OCRv4 det/rec): measured on the LPRNet plate crops it reads 98.5% of plates exactly
where ``rapidocr`` 3.10 (PP-OCRv6 small) reads 65%, because v6 small drops the province character. ``rapidocr`` 3.x
stays selectable (``engine="rapidocr"``) for comparison (figures: the OCR measurement notes).

Everything here works on BGR ``uint8`` arrays (what OpenCV / PyAV ``to_ndarray(format="bgr24")`` give) and returns
boxes in the coordinates of the array it was given. Only stdlib, numpy and the OCR package are imported, and the
OCR package only when a :class:`TextReader` first reads. Plates: :mod:`streetwatch.vision.plates`;
phone numbers and ad text regions: :mod:`streetwatch.vision.ad_text`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

BgrImage = npt.NDArray[np.uint8]
BoxXyxy = tuple[float, float, float, float]
# Shown an image and the text regions detected on it, says which to recognise (see TextReader.read).
RegionFilter = Callable[[BgrImage, list[BoxXyxy]], Sequence[bool]]
EngineName = Literal["rapidocr", "rapidocr_onnxruntime"]

DEFAULT_ENGINE: EngineName = "rapidocr_onnxruntime"

# --------------------------------------------------------------------------------------------------------------------
# Types that flow
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextLine:
    """One recognised line of text; ``box_xyxy`` is in the coordinates of the image that was read."""

    text: str
    score: float
    box_xyxy: BoxXyxy

    @property
    def width(self) -> float:
        return self.box_xyxy[2] - self.box_xyxy[0]

    @property
    def height(self) -> float:
        return self.box_xyxy[3] - self.box_xyxy[1]


PlateKind = Literal["ordinary", "new_energy"]


@dataclass(frozen=True, slots=True)
class Plate:
    """A plate number that obeys the mainland grammar, normalised (no separator, upper case, ASCII)."""

    text: str
    kind: PlateKind

    @property
    def province(self) -> str:
        return self.text[0]


@dataclass(frozen=True, slots=True)
class PlateReading:
    """A plate found on a vehicle crop: the parsed plate, the OCR confidence, where it is and what OCR said."""

    plate: Plate
    score: float
    box_xyxy: BoxXyxy
    raw_text: str


# --------------------------------------------------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------------------------------------------------

_PACKAGE_OF_ENGINE: dict[EngineName, str] = {"rapidocr": "rapidocr", "rapidocr_onnxruntime": "rapidocr-onnxruntime"}


class OcrEngineMissingError(ImportError):
    """Raised when the OCR package is not installed; the message names the pip package to add."""


class TextReader:
    """Loads RapidOCR once (lazily, thread-safe) and reads BGR crops into :class:`TextLine` items.

    Loading is deferred to the first read so that building a pipeline (and importing this module) stays cheap and a
    missing package fails where OCR is actually needed, with a message that says what to install.

    Args:
        threads: ONNX Runtime intra-op threads per model; keep it at the number of cores you give this stage.
        engine: ``"rapidocr_onnxruntime"`` (1.4, PP-OCRv4, the default) or ``"rapidocr"`` (3.x, PP-OCRv6 small).
        min_score: lines whose recognition score is below this are dropped.
        det_max_side: How text detection sizes an image. None (RapidOCR's default, right for crops): the
            shorter side is brought up to 736 px, so a small crop is enlarged and its small text found. A
            number (right for whole frames): the longer side at most this many pixels, never enlarged -
            a 960x540 frame is then read at its own size instead of 1312x736, for about a third of the CPU
            (some text under ~10 px high is missed).
    """

    def __init__(self, threads: int = 1, engine: EngineName = DEFAULT_ENGINE, min_score: float = 0.5,
                 det_max_side: int | None = None) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if engine not in _PACKAGE_OF_ENGINE:
            raise ValueError(f"engine must be one of {sorted(_PACKAGE_OF_ENGINE)}, got {engine!r}")
        self.threads = threads
        self.engine_name: EngineName = engine
        self.min_score = min_score
        if det_max_side is not None and det_max_side < 32:
            raise ValueError(f"det_max_side must be at least 32 pixels (or None), got {det_max_side}")
        self.det_max_side = det_max_side
        self._engine: Any = None
        self._lock = threading.Lock()

    # -- loading -----------------------------------------------------------------------------------------------------
    def _load(self) -> Any:
        with self._lock:
            if self._engine is None:
                self._engine = _build_engine(self.engine_name, self.threads, self.min_score, self.det_max_side)
        return self._engine

    # -- reading -----------------------------------------------------------------------------------------------------
    def read(self, image: BgrImage, select: RegionFilter | None = None) -> list[TextLine]:
        """Detect and recognise text lines on ``image`` (BGR), boxes in ``image`` coordinates, top-to-bottom.

        ``select``, when given, is shown ``image`` and the detected regions (boxes in ``image`` coordinates) and says
        which of them to recognise; the others are dropped unread. Recognition costs about as much as detection on
        a street of shop signs, so a caller that can rule regions out by shape or colour saves it (the banner and
        small-ad scan: :func:`streetwatch.vision.ad_text.ad_text_regions`). With the ``rapidocr`` 3.x engine every
        region is recognised and the selection is applied afterwards (the same lines, no saving).
        """
        check_image(image)
        engine = self._load()
        if self.engine_name == "rapidocr":
            out = engine(image, use_det=True, use_cls=True, use_rec=True)
            if out.boxes is None or out.txts is None or out.scores is None:
                return []
            triples: list[tuple[Any, Any, Any]] = list(zip(out.boxes, out.txts, out.scores, strict=True))
            if select is not None:
                keep = select(image, [_quad_to_xyxy(box) for box, _, _ in triples])
                triples = [t for t, k in zip(triples, keep, strict=True) if k]
        elif select is not None:
            triples = _read_selected(engine, image, select)
        else:
            result, _ = engine(image, use_det=True, use_cls=True, use_rec=True)
            triples = [(box, txt, score) for box, txt, score in (result or [])]
        lines = [
            TextLine(str(txt), float(score), _quad_to_xyxy(box))
            for box, txt, score in triples
            if str(txt).strip() and float(score) >= self.min_score
        ]
        return sorted(lines, key=lambda ln: (ln.box_xyxy[1], ln.box_xyxy[0]))

    def find_text(self, image: BgrImage) -> list[BoxXyxy]:
        """Where text is on ``image`` (BGR): the detector's boxes only, nothing recognised (the privacy blur
        covers text whatever it reads as, so it does not pay for recognition)."""
        check_image(image)
        engine = self._load()
        if self.engine_name == "rapidocr":
            out = engine(image, use_det=True, use_cls=False, use_rec=False)
            quads: list[Any] = [] if out.boxes is None else list(out.boxes)
        else:
            result, _ = engine(image, use_det=True, use_cls=False, use_rec=False)
            quads = list(result or [])
        return [_quad_to_xyxy(quad) for quad in quads]

    def recognise(self, line_image: BgrImage) -> tuple[str, float]:
        """Recognise a crop that already holds a single text line (no detection), e.g. a plate crop."""
        check_image(line_image)
        engine = self._load()
        if self.engine_name == "rapidocr":
            out = engine(line_image, use_det=False, use_cls=False, use_rec=True)
            if not out.txts:
                return "", 0.0
            return str(out.txts[0]), float(out.scores[0])
        result, _ = engine(line_image, use_det=False, use_cls=False, use_rec=True)
        if not result:
            return "", 0.0
        return str(result[0][0]), float(result[0][1])


def _build_engine(engine: EngineName, threads: int, min_score: float, det_max_side: int | None) -> Any:
    try:
        module = importlib.import_module(engine)
    except ImportError as exc:
        raise OcrEngineMissingError(
            f"OCR engine {engine!r} is not installed: add the pip package '{_PACKAGE_OF_ENGINE[engine]}' "
            "(and 'onnxruntime') to the environment"
        ) from exc
    if engine == "rapidocr":
        # Pin every model to the file bundled in the wheel: the default routing resolves to the same files today,
        # but an explicit path means an upgrade that changes the routing fails loudly instead of downloading.
        models = Path(str(module.__file__)).resolve().parent / "models"
        paths = {
            "Det.model_path": models / "PP-OCRv6_det_small.onnx",
            "Rec.model_path": models / "PP-OCRv6_rec_small.onnx",
            "Cls.model_path": models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        }
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise OcrEngineMissingError(f"rapidocr is installed but its bundled models are missing: {missing}")
        params: dict[str, Any] = {key: str(path) for key, path in paths.items()}
        params.update(
            {
                "Global.log_level": "error",
                "Global.text_score": min_score,
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        if det_max_side is not None:
            params.update({"Det.limit_type": "max", "Det.limit_side_len": det_max_side})
        return module.RapidOCR(params=params)
    # rapidocr-onnxruntime has no download code: its config points at the three files inside the wheel.
    models = Path(str(module.__file__)).resolve().parent / "models"
    bundled = ("ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx", "ch_ppocr_mobile_v2.0_cls_infer.onnx")
    missing = [name for name in bundled if not (models / name).is_file()]
    if missing:
        raise OcrEngineMissingError(f"rapidocr-onnxruntime is installed but its bundled models are missing: {missing}")
    sizing: dict[str, Any] = ({"det_limit_type": "max", "det_limit_side_len": det_max_side}
                              if det_max_side is not None else {})
    with _memory_arena_on():
        return module.RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1, text_score=min_score, **sizing)


_SESSION_OPTIONS_PATCH = threading.Lock()


@contextmanager
def _memory_arena_on() -> Iterator[None]:
    """While building a ``rapidocr_onnxruntime`` engine, its ONNX Runtime sessions keep their CPU memory arena.

    RapidOCR 1.4 turns the arena off, so every inference asks the system for its tensors anew and hands them
    back: on the bench clip about 250,000 page faults and 0.6-0.8 s of system CPU per footage minute of
    banner/small-ad scan, for the same text (docs/benchmarks.md). Its sessions take their options from one
    static method, ``OrtInferSession._init_sess_opts``, swapped here for the construction only, one
    construction at a time (the library is pinned at 1.4.4; ``tests/vision/test_ocr.py`` checks the sessions).
    """
    from rapidocr_onnxruntime.utils.infer_engine import OrtInferSession

    with _SESSION_OPTIONS_PATCH:
        original = OrtInferSession.__dict__["_init_sess_opts"]

        def with_arena(config: dict[str, Any]) -> Any:
            options = original.__func__(config)
            options.enable_cpu_mem_arena = True
            return options

        OrtInferSession._init_sess_opts = staticmethod(with_arena)
        try:
            yield
        finally:
            OrtInferSession._init_sess_opts = original


def _read_selected(engine: Any, image: BgrImage, select: RegionFilter) -> list[tuple[Any, Any, Any]]:
    """``rapidocr_onnxruntime``'s own steps (its ``RapidOCR.__call__``, pinned at 1.4.4), with ``select`` between
    detection and recognition: (quad in ``image`` coordinates, text, score) for the regions it keeps."""
    raw_h, raw_w = image.shape[:2]
    img, ratio_h, ratio_w = engine.preprocess(image)
    record: dict[str, Any] = {"preprocess": {"ratio_h": ratio_h, "ratio_w": ratio_w}}
    img, record = engine.maybe_add_letterbox(img, record)
    quads, _ = engine.auto_text_det(img)
    if quads is None:
        return []
    origin = engine._get_origin_points(quads, record, raw_h, raw_w)
    keep = [i for i, k in enumerate(select(image, [_quad_to_xyxy(q) for q in origin])) if k]
    if not keep:
        return []
    crops = engine.get_crop_img_list(img, [quads[i] for i in keep])
    crops, _, _ = engine.text_cls(crops)
    recognised, _ = engine.text_rec(crops)
    return [(origin[i], found[0], found[1]) for i, found in zip(keep, recognised, strict=True)]


def check_image(image: BgrImage) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", None)
        raise ValueError(f"expected a BGR uint8 array of shape (H, W, 3), got shape={shape} dtype={dtype}")


def _quad_to_xyxy(quad: Any) -> BoxXyxy:
    pts = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))
