"""Labelling on the review page: what the evidence frame shows, and saving a reviewer's edits of it.

The page (``review.js``) stages edits on the frame: a redrawn box for the detection (drag), another
class for it (C, a picker of the taxonomy's classes), a box around an object the detector missed
(B, drag, then its class) or "nothing here" (E); Enter posts them to ``/ui/queue/{id}/labels``,
which writes them as label records in one transaction (``streetwatch.store.labels``), in this
order: adjust_box, relabel, add_missed; or empty_frame alone. Another class for the violation's
own detection is a relabel *decision* when the class is a violation class (the decision writes
the label record: one act gives both); an evidence-only class (a person, a chair) is a label
record only, and the flash says to reject the violation if it is not one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streetwatch.casework import review_queue
from streetwatch.casework.config import WorkflowConfig
from streetwatch.core.labels import Box, LabelError, ObjectRef
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.vocab import DecisionAction, LabelKind
from streetwatch.store import labels, queries
from streetwatch.store.db import Session
from streetwatch.store.models import Observation, Violation


@dataclass(frozen=True, slots=True)
class PageEdits:
    """What the reviewer staged on the frame and saved with Enter."""

    box: Box | None = None
    class_name: str | None = None
    missed_box: Box | None = None
    missed_class: str | None = None
    empty: bool = False

    @classmethod
    def parse(cls, box: str | None, class_name: str | None, missed_box: str | None, missed_class: str | None,
              empty: bool) -> PageEdits:
        """Read the form's fields; boxes come as ``"x1,y1,x2,y2"`` in frame pixels.

        Raises:
            LabelError: A box that is not four numbers, a missed box without its class, nothing to save.
        """
        edits = cls(_box(box, "box"), class_name or None, _box(missed_box, "missed_box"), missed_class or None, empty)
        if edits.missed_box is not None and edits.missed_class is None:
            raise LabelError("a box around a missed object needs its class: press C and choose one")
        if edits.empty and (edits.box or edits.class_name or edits.missed_box):
            raise LabelError("a frame marked empty takes no boxes or classes")
        if not (edits.empty or edits.box or edits.class_name or edits.missed_box):
            raise LabelError("nothing to save: draw a box, change the class (C) or mark the frame empty (E)")
        return edits


def _box(text: str | None, name: str) -> Box | None:
    if not text:
        return None
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise LabelError(f"{name} must be four numbers x1,y1,x2,y2 in frame pixels; got {text!r}")
    return values[0], values[1], values[2], values[3]


def save_page_edits(
    session: Session, violation_id: int, edits: PageEdits, *, actor: str, may_override: bool, taxonomy: Taxonomy,
    config: WorkflowConfig,
) -> str:
    """Write the edits as label records (and a relabel decision) in one transaction, committed.

    Returns:
        What was saved, for the page's flash.

    Raises:
        LabelError, InvalidDecisionError: Edits that cannot be saved (nothing is).
        NotFoundError, DecisionConflictError: The violation is gone, or the relabel lost its lease.
    """
    violation = session.get(Violation, violation_id)
    if violation is None:
        raise queries.NotFoundError(f"violation {violation_id} not found")
    session.commit()  # end the read: on SQLite the writing transaction must start with its write (the lock)
    observation_id = violation.observation_id

    def write(request: labels.LabelRequest) -> labels.ReviewLabel:
        return labels.record_label(session, observation_id, request, actor=actor, taxonomy=taxonomy)

    try:
        done = write_frame_edits(
            edits, write, lambda name: _relabel(session, violation, name, actor=actor, may_override=may_override,
                                                taxonomy=taxonomy, config=config, write=write),
            empty_note=": reject the violation if nothing is wrong")
        session.commit()
    except Exception:
        session.rollback()
        raise
    return f"#{violation_id} labels saved: " + "; ".join(done)


def write_frame_edits(edits: PageEdits, write: Callable[[labels.LabelRequest], labels.ReviewLabel],
                      relabel: Callable[[str], str], *, empty_note: str = "") -> list[str]:
    """Write the edits as label records in their order (empty_frame alone; else adjust_box, the class, add_missed).

    ``relabel`` writes the class change (a record, or a relabel decision) and says what it did; the
    result is what was saved, in words, for the page's flash.
    """
    done: list[str] = []
    if edits.empty:
        write(labels.LabelRequest(LabelKind.EMPTY_FRAME))
        done.append(f"frame marked empty (nothing here){empty_note}")
    if edits.box is not None:
        write(labels.LabelRequest(LabelKind.ADJUST_BOX, box=edits.box))
        done.append("box adjusted")
    if edits.class_name is not None:
        done.append(relabel(edits.class_name))
    if edits.missed_box is not None:
        added = write(labels.LabelRequest(LabelKind.ADD_MISSED, box=edits.missed_box, class_name=edits.missed_class))
        done.append(f"missed {added.class_name} added")
    return done


def _relabel(session: Session, violation: Violation, class_name: str, *, actor: str, may_override: bool,
             taxonomy: Taxonomy, config: WorkflowConfig,
             write: Callable[[labels.LabelRequest], labels.ReviewLabel]) -> str:
    spec = taxonomy.lookup(class_name)
    if spec is None:
        raise LabelError(f"unknown class {class_name!r}")
    if spec.role == "violation" and taxonomy.event_for(spec) is not None and spec.name != violation.class_name:
        review_queue.decide(session, violation.id, review_queue.DecisionRequest(DecisionAction.RELABEL,
                                                                                class_name=spec.name),
                            actor=actor, may_override=may_override, taxonomy=taxonomy, config=config)
        return f"relabelled {spec.name} (the violation too)"
    write(labels.LabelRequest(LabelKind.RELABEL, class_name=spec.name))
    if spec.name == violation.class_name:
        return f"labelled {spec.name}"
    return f"labelled {spec.name}, an evidence class: reject the violation if it is not one"


def label_context(session: Session, obs: Observation, taxonomy: Taxonomy, frame_w: int, frame_h: int
                  ) -> dict[str, Any]:
    """What the item template needs to draw the frame's labels and the class picker."""
    frame = labels.read_frame(session, obs.frame_sha256)
    mine = frame.labels.find(ObjectRef("detection", obs.id))
    others = [o for o in frame.labels.objects if o.ref != ObjectRef("detection", obs.id)]
    families: dict[str, list[str]] = {}
    for spec in taxonomy.classes.values():
        families.setdefault(spec.family, []).append(spec.name)
    return {
        "label_class": mine.class_name if mine else obs.class_name,
        "label_box": mine.box if mine else tuple(float(v) for v in obs.bbox),
        "label_kind": mine.kind if mine else None,
        "frame_empty": frame.labels.empty,
        "other_objects": [{"class_name": o.class_name, "box": o.box, "ref": o.ref} for o in others],
        "label_records": frame.records,
        "class_families": families,
        "frame_px": (frame_w, frame_h),
    }
