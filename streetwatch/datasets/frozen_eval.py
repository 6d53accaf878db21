"""Measure a detector on the frozen evaluation set, and a shadow model against the active one, with supervision.

A frame's labels (its review label records, resolved) are the truth; the detector runs on the frame's
evidence image through our own backends (ONNX Runtime for ``.onnx``, Ultralytics for ``.pt``), at a
confidence of 0.001 so that mAP50 sees the whole precision-recall curve. Precision and recall are
counted on the detections at the deployment confidence (``Settings.conf_threshold``). Classes are the
taxonomy's: a model's class names are looked up by name or alias, and detections of classes the
taxonomy does not know are left out. Families score the same way, each class counted as its family.

Labelled frames hold what reviewers labelled; an object nobody labelled on a labelled frame counts as a
false detection. Label every object of a frame you label (the README says so).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt
import supervision as sv
from supervision.metrics import MeanAveragePrecision, Precision, Recall
from supervision.metrics.core import AveragingMethod

from streetwatch.core.model_metrics import AgreementReport, AgreementScore, EvalReport, Score
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.datasets.yolo_layout import DatasetError
from streetwatch.store.evidence import EvidenceBackend
from streetwatch.store.labels import LabelledFrame
from streetwatch.store.shadow import ShadowFrame
from streetwatch.vision.detector import Detector, OnnxConfig, UltralyticsConfig, build_detector

EVAL_CONF: Final = 0.001   # detections kept for mAP: the whole curve, as Ultralytics' validator does
EVAL_BATCH: Final = 8


def eval_detector(weights: Path, name: str) -> Detector:
    """A detector for evaluation: ``weights`` (.onnx: ONNX Runtime; else Ultralytics) at confidence 0.001."""
    if weights.suffix.lower() == ".onnx":
        return build_detector(OnnxConfig(weights=weights, name=name, conf=EVAL_CONF))
    return build_detector(UltralyticsConfig(weights=weights, name=name, conf=EVAL_CONF))


def eval_set_fingerprint(frames: Iterable[LabelledFrame]) -> str:
    """sha256 of the set: its frames and their labels (class and box), in frame-hash order."""
    canonical = sorted(
        (f.frame_sha256, sorted([o.class_name, *(round(float(v), 2) for v in o.box)] for o in f.labels.objects))
        for f in frames)
    return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode("utf-8")).hexdigest()


def evaluate_detector(detector: Detector, frames: Sequence[LabelledFrame], evidence: EvidenceBackend,
                      taxonomy: Taxonomy, *, conf: float) -> EvalReport:
    """Score ``detector`` (built with :func:`eval_detector`) on the labelled ``frames``.

    Raises:
        DatasetError: A frame's evidence image is missing or unreadable, or a label's class is not in the
            taxonomy.
    """
    classes = list(taxonomy.classes)
    families = list(taxonomy.families)
    family_of = np.array([families.index(taxonomy.classes[name].family) for name in classes], dtype=int)
    to_taxonomy = {model_id: classes.index(spec.name) for model_id, name in detector.names.items()
                   if (spec := taxonomy.lookup(name)) is not None}
    targets: list[sv.Detections] = []
    predictions: list[sv.Detections] = []
    for start in range(0, len(frames), EVAL_BATCH):
        chunk = frames[start:start + EVAL_BATCH]
        found = detector.detect([_read_image(evidence, f.frame_sha256) for f in chunk])
        for frame, detections in zip(chunk, found, strict=True):
            targets.append(_targets(frame, classes))
            predictions.append(_mapped(detections.to_supervision(), to_taxonomy))
    per_class, overall = _scores(predictions, targets, conf)
    per_family, _ = _scores([_remapped(p, family_of) for p in predictions], [_remapped(t, family_of) for t in targets],
                            conf)
    return EvalReport(model=detector.model_name, eval_set_sha256=eval_set_fingerprint(frames), frames=len(frames),
                      conf=conf, classes={classes[i]: s for i, s in sorted(per_class.items())},
                      families={families[i]: s for i, s in sorted(per_family.items())}, overall=overall)


def shadow_agreement(rows: Sequence[ShadowFrame], shadow_model: str) -> AgreementReport | None:
    """How the shadow model's detections agree with the active model's on the same frames (IoU 0.5, same class).

    ``found``: the share of the active model's detections the shadow also made (recall, with the active
    model's as the reference); ``confirmed``: the share of the shadow's the active model also made
    (precision). None without shadow frames.
    """
    if not rows:
        return None
    names = sorted({str(d[5]) for r in rows for d in (*r.shadow_detections, *r.active_detections)})
    index = {name: i for i, name in enumerate(names)}
    active = [_stored(r.active_detections, index) for r in rows]
    shadow = [_stored(r.shadow_detections, index) for r in rows]
    counts_active = Counter(int(c) for d in active for c in _ids(d))
    counts_shadow = Counter(int(c) for d in shadow for c in _ids(d))
    recall_by, recall_all = _per_class(Recall, shadow, active, "recall")
    precision_by, precision_all = _per_class(Precision, shadow, active, "precision")

    def score(n_active: int, n_shadow: int, found: float | None, confirmed: float | None) -> AgreementScore:
        return AgreementScore(active=n_active, shadow=n_shadow, found=found if n_active else None,
                              confirmed=confirmed if n_shadow else None)

    classes = {name: score(counts_active[i], counts_shadow[i], recall_by.get(i), precision_by.get(i))
               for name, i in index.items()}
    overall = score(sum(counts_active.values()), sum(counts_shadow.values()), recall_all, precision_all)
    return AgreementReport(shadow_model=shadow_model, active_models=tuple(sorted({r.active_model for r in rows})),
                           videos=len({r.video_id for r in rows}), frames=len(rows), classes=classes, overall=overall)


def _read_image(evidence: EvidenceBackend, sha256: str) -> npt.NDArray[np.uint8]:
    path = evidence.where(sha256)  # a folder's file or an S3 object
    try:
        data = evidence.open(sha256)
    except FileNotFoundError:
        data = b""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise DatasetError(f"the evidence image of frozen frame {sha256} is missing or unreadable at {path}: is "
                           "--evidence the folder the footage was processed into?")
    return np.ascontiguousarray(image, dtype=np.uint8)


def _targets(frame: LabelledFrame, classes: list[str]) -> sv.Detections:
    objects = frame.labels.objects
    unknown = [o.class_name for o in objects if o.class_name not in classes]
    if unknown:
        raise DatasetError(f"frame {frame.frame_sha256}: class {unknown[0]!r} is not in the taxonomy any more")
    if not objects:
        return _empty(with_confidence=False)
    return sv.Detections(xyxy=np.array([o.box for o in objects], dtype=np.float32),
                         class_id=np.array([classes.index(o.class_name) for o in objects], dtype=int))


def _empty(*, with_confidence: bool) -> sv.Detections:
    return sv.Detections(xyxy=np.empty((0, 4), dtype=np.float32), class_id=np.empty(0, dtype=int),
                         confidence=np.empty(0, dtype=np.float32) if with_confidence else None)


def _mapped(detections: sv.Detections, to_taxonomy: dict[int, int]) -> sv.Detections:
    """Detections in taxonomy class ids; classes the taxonomy does not know are dropped."""
    if detections.class_id is None or len(detections) == 0:
        return _empty(with_confidence=True)
    keep = np.array([int(c) in to_taxonomy for c in detections.class_id], dtype=bool)
    if not keep.any():
        return _empty(with_confidence=True)
    confidence = detections.confidence if detections.confidence is not None else np.ones(len(detections))
    return sv.Detections(xyxy=detections.xyxy[keep].astype(np.float32),
                         confidence=np.asarray(confidence, dtype=np.float32)[keep],
                         class_id=np.array([to_taxonomy[int(c)] for c in detections.class_id[keep]], dtype=int))


def _remapped(detections: sv.Detections, mapping: npt.NDArray[np.int_]) -> sv.Detections:
    return sv.Detections(xyxy=detections.xyxy, confidence=detections.confidence,
                         class_id=mapping[_ids(detections)] if len(detections) else np.empty(0, dtype=int))


def _ids(detections: sv.Detections) -> npt.NDArray[Any]:
    return detections.class_id if detections.class_id is not None else np.empty(0, dtype=int)


def _stored(rows: list[Any], index: dict[str, int]) -> sv.Detections:
    if not rows:
        return _empty(with_confidence=True)
    return sv.Detections(xyxy=np.array([r[:4] for r in rows], dtype=np.float32),
                         confidence=np.array([r[4] for r in rows], dtype=np.float32),
                         class_id=np.array([index[str(r[5])] for r in rows], dtype=int))


def _per_class(metric: type[Precision] | type[Recall], predictions: list[sv.Detections], targets: list[sv.Detections],
               attribute: str) -> tuple[dict[int, float], float | None]:
    """A supervision precision or recall at IoU 0.5: per class id, and micro-averaged over all (None: nothing)."""
    if not any(len(d) for d in (*predictions, *targets)):
        return {}, None
    per = metric(averaging_method=AveragingMethod.MICRO).update(predictions, targets).compute()
    table = getattr(per, f"{attribute}_per_class")
    by_class = {int(c): float(v) for c, v in zip(per.matched_classes, table[:, 0], strict=True)}
    overall = getattr(per, f"{attribute}_scores")
    return by_class, (float(overall[0]) if len(overall) else None)


def _scores(predictions: list[sv.Detections], targets: list[sv.Detections], conf: float
            ) -> tuple[dict[int, Score], Score]:
    """Per class id and overall: instances, detections at ``conf``, precision and recall there, mAP50."""
    kept = [p[np.asarray(p.confidence) >= conf] if len(p) else p for p in predictions]
    instances = Counter(int(c) for t in targets for c in _ids(t))
    detected = Counter(int(c) for k in kept for c in _ids(k))  # type: ignore[arg-type]
    aps: dict[int, float] = {}
    overall_map: float | None = None
    if instances:
        result = MeanAveragePrecision().update(predictions, targets).compute()
        aps = {int(c): float(v) for c, v in zip(result.matched_classes, result.ap_per_class[:, 0], strict=True)}
        overall_map = result.map50 if result.map50 >= 0 else None
    precision, precision_all = _per_class(Precision, kept, targets, "precision")  # type: ignore[arg-type]
    recall, recall_all = _per_class(Recall, kept, targets, "recall")  # type: ignore[arg-type]
    scores = {}
    for class_id in sorted(set(instances) | set(detected)):
        n, d = instances[class_id], detected[class_id]
        ap = aps.get(class_id, 0.0)
        scores[class_id] = Score(instances=n, detections=d, precision=precision.get(class_id, 0.0) if d else None,
                                 recall=recall.get(class_id, 0.0) if n else None,
                                 map50=max(ap, 0.0) if n else None)
    n_all, d_all = sum(instances.values()), sum(detected.values())
    overall = Score(instances=n_all, detections=d_all, precision=precision_all if d_all else None,
                    recall=recall_all if n_all else None, map50=overall_map)
    return scores, overall
