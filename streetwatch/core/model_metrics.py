"""How well a detector does on the frozen evaluation set, and when a candidate is worse than the active model.

An :class:`EvalReport` is what ``streetwatch.datasets.frozen_eval`` measures (with supervision's metrics) and
what the model registry stores with each version: per class and per family (via the taxonomy), the
instances in the set, the detections at the deployment confidence, precision and recall at that
confidence (IoU 0.5) and mAP50 (all confidences). A score that cannot be measured is None: recall and
mAP50 without instances, precision without detections.

:func:`family_regressions` is the promotion gate: the families on which a candidate scores more than a
tolerance below the active version, score by score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from streetwatch.core.errors import BadInputError
from streetwatch.core.vocab import ScoreName

DEFAULT_GATE_SCORES: tuple[ScoreName, ...] = (ScoreName.MAP50, ScoreName.RECALL)


class MetricsMismatchError(BadInputError, ValueError):
    """Two reports cannot be compared: they were measured on different evaluation sets or confidences."""


class Score(BaseModel):
    """One class's (or family's) scores on the evaluation set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instances: int = Field(ge=0, description="Labelled objects in the set.")
    detections: int = Field(ge=0, description="The detector's boxes at the deployment confidence.")
    precision: float | None = Field(None, description="At the deployment confidence, IoU 0.5; None: no detections.")
    recall: float | None = Field(None, description="At the deployment confidence, IoU 0.5; None: no instances.")
    map50: float | None = Field(None, description="Average precision at IoU 0.5; None: no instances.")

    def value(self, name: ScoreName) -> float | None:
        """The score called ``name``."""
        return {ScoreName.PRECISION: self.precision, ScoreName.RECALL: self.recall,
                ScoreName.MAP50: self.map50}[name]


class EvalReport(BaseModel):
    """A detector measured on the frozen evaluation set (stored as JSON with its registry version).

    Attributes:
        model: The detector's provenance name.
        eval_set_sha256: Fingerprint of the set: its frames and their labels (``eval_set_fingerprint``).
        frames: Frames in the set.
        conf: The confidence that precision, recall and ``detections`` are counted at.
        classes: Per taxonomy class with instances or detections.
        families: Per violation family (the taxonomy's), same scores over the family's classes.
        overall: All classes together (precision and recall micro-averaged).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    eval_set_sha256: str
    frames: int
    conf: float
    classes: dict[str, Score]
    families: dict[str, Score]
    overall: Score


class AgreementScore(BaseModel):
    """How a shadow model's detections of one class agree with the active model's on the same frames (IoU 0.5)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    active: int = Field(ge=0, description="The active model's detections.")
    shadow: int = Field(ge=0, description="The shadow model's detections.")
    found: float | None = Field(None, description="Share of the active model's detections the shadow also made.")
    confirmed: float | None = Field(None, description="Share of the shadow's detections the active also made.")


class AgreementReport(BaseModel):
    """A shadow model against the active model on shadow footage (``process --shadow-model``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shadow_model: str
    active_models: tuple[str, ...]
    videos: int
    frames: int
    classes: dict[str, AgreementScore]
    overall: AgreementScore


@dataclass(frozen=True, slots=True)
class Regression:
    """A family on which the candidate scores more than the tolerance below the active version."""

    family: str
    score: ScoreName
    active: float
    candidate: float

    def __str__(self) -> str:
        return (f"{self.family} {self.score} {self.candidate:.3f} < active {self.active:.3f} "
                f"(-{self.active - self.candidate:.3f})")


def check_comparable(active: EvalReport, candidate: EvalReport) -> None:
    """Raise unless both reports were measured on the same evaluation set at the same confidence.

    Raises:
        MetricsMismatchError: The sets or the confidences differ.
    """
    if active.eval_set_sha256 != candidate.eval_set_sha256:
        raise MetricsMismatchError(
            f"{active.model} and {candidate.model} were measured on different evaluation sets "
            f"({active.eval_set_sha256[:12]}... vs {candidate.eval_set_sha256[:12]}...)")
    if abs(active.conf - candidate.conf) > 1e-9:
        raise MetricsMismatchError(f"{active.model} was measured at confidence {active.conf}, {candidate.model} at "
                                   f"{candidate.conf}")


def family_regressions(active: EvalReport, candidate: EvalReport, tolerance: float,
                       scores: Sequence[ScoreName] = DEFAULT_GATE_SCORES) -> list[Regression]:
    """The families (with instances in the set) where the candidate is worse than ``tolerance`` on a score.

    A score the active version has and the candidate lacks (no detections, so no precision) counts
    as 0 for the candidate. Families are in the active report's order, scores in the given order.

    Raises:
        MetricsMismatchError: The reports cannot be compared.
        ValueError: A negative tolerance.
    """
    if tolerance < 0:
        raise ValueError(f"the promotion tolerance must be >= 0, got {tolerance}")
    check_comparable(active, candidate)
    found: list[Regression] = []
    for family, mine in active.families.items():
        if mine.instances == 0:
            continue
        theirs = candidate.families.get(family)
        for name in scores:
            before = mine.value(name)
            if before is None:
                continue
            after = theirs.value(name) if theirs is not None else None
            after = 0.0 if after is None else after
            if after < before - tolerance - 1e-12:
                found.append(Regression(family, name, before, after))
    return found
