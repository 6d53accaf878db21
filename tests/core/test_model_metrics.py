"""The promotion gate: which families a candidate is worse on, score by score, beyond the tolerance."""

from __future__ import annotations

import pytest

from streetwatch.core.model_metrics import EvalReport, MetricsMismatchError, Score, family_regressions
from streetwatch.core.vocab import ScoreName

SET = "a" * 64


def score(map50: float | None, recall: float | None, precision: float | None = 0.8, instances: int = 10,
          detections: int = 10) -> Score:
    return Score(instances=instances, detections=detections, precision=precision, recall=recall, map50=map50)


def report(families: dict[str, Score], *, model: str = "m", eval_set: str = SET, conf: float = 0.25) -> EvalReport:
    return EvalReport(model=model, eval_set_sha256=eval_set, frames=5, conf=conf, classes={}, families=families,
                      overall=score(0.5, 0.5))


ACTIVE = {"parking": score(0.80, 0.90), "stall": score(0.60, 0.70), "ads": score(None, None, instances=0)}


@pytest.mark.parametrize(("candidate", "tolerance", "scores", "expected"), [
    ({"parking": score(0.80, 0.90), "stall": score(0.60, 0.70)}, 0.02, None, []),
    ({"parking": score(0.79, 0.89), "stall": score(0.59, 0.69)}, 0.02, None, []),          # within the tolerance
    ({"parking": score(0.77, 0.90), "stall": score(0.60, 0.70)}, 0.02, None, [("parking", "map50")]),
    ({"parking": score(0.80, 0.90), "stall": score(0.60, 0.60)}, 0.02, None, [("stall", "recall")]),
    ({"parking": score(0.70, 0.80), "stall": score(0.60, 0.70)}, 0.02, None,
     [("parking", "map50"), ("parking", "recall")]),
    ({"parking": score(0.70, 0.80), "stall": score(0.60, 0.70)}, 0.2, None, []),           # a generous tolerance
    ({"parking": score(0.80, 0.90, precision=0.1), "stall": score(0.60, 0.70)}, 0.02, None, []),  # not gated on
    ({"parking": score(0.80, 0.90, precision=0.1), "stall": score(0.60, 0.70)}, 0.02, [ScoreName.PRECISION],
     [("parking", "precision")]),
    ({"parking": score(0.80, 0.90)}, 0.02, None, [("stall", "map50"), ("stall", "recall")]),  # finds none: 0
    ({"parking": score(0.80, 0.90), "stall": score(0.0, 0.0, precision=None, detections=0)}, 0.02,
     [ScoreName.PRECISION], [("stall", "precision")]),                                    # no detections: 0
    ({"parking": score(0.80, 0.90), "stall": score(0.60, 0.70), "ads": score(0.0, 0.0)}, 0.02, None, []),  # unmeasured
])
def test_family_regressions(candidate: dict[str, Score], tolerance: float, scores: list[ScoreName] | None,
                            expected: list[tuple[str, str]]) -> None:
    found = family_regressions(report(ACTIVE), report(candidate, model="c"), tolerance,
                               *([scores] if scores is not None else []))
    assert [(r.family, str(r.score)) for r in found] == expected
    for regression in found:
        assert regression.candidate < regression.active - tolerance
        assert regression.family in str(regression) and f"{regression.candidate:.3f}" in str(regression)


@pytest.mark.parametrize(("candidate", "message"), [
    (report(ACTIVE, eval_set="b" * 64), "different evaluation sets"),
    (report(ACTIVE, conf=0.5), "confidence"),
])
def test_reports_of_different_sets_or_confidences_are_not_compared(candidate: EvalReport, message: str) -> None:
    with pytest.raises(MetricsMismatchError, match=message):
        family_regressions(report(ACTIVE), candidate, 0.02)


def test_a_negative_tolerance_is_an_error() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        family_regressions(report(ACTIVE), report(ACTIVE), -0.1)


def test_reports_round_trip_through_json() -> None:
    original = report(ACTIVE)
    assert EvalReport.model_validate(original.model_dump(mode="json")) == original
