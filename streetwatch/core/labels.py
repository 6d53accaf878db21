"""Reviewers' labels on evidence frames, and what they add up to.

A label record is one reviewer's statement about one evidence frame: this detection is right
(confirm), its box is this one (adjust_box), its class is that one (relabel), here is an object the
detector missed (add_missed), or there is nothing to find here (empty_frame). Records are
append-only (``streetwatch.store.labels`` writes them); what a frame holds *now* is worked out from
all of its records by :func:`resolve_frame`:

- records are read in the order they were written (by id);
- each object on the frame is a detection (named by its observation's id) or an object a reviewer
  drew (named by the id of the add_missed record that drew it); it takes the box and class of its
  latest record. Confirm, adjust_box and relabel records carry the whole box and class, the writer
  filling in the part that did not change, so the latest record alone says what the object is;
- an empty_frame record clears everything recorded before it: only objects labelled after it
  count. A frame whose last word is empty_frame holds no object (a hard negative).

Boxes are ``(x1, y1, x2, y2)`` in the pixels of the evidence frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

from streetwatch.core.errors import BadInputError
from streetwatch.core.vocab import LabelKind, values_of

Box = tuple[float, float, float, float]
ObjectKind = Literal["detection", "missed"]
Need = Literal["required", "forbidden"]

# What a request of each kind gives of (box, class_name); the writer fills in the rest from the object's
# current state (a confirm keeps both, an adjust_box the class, a relabel the box).
KIND_FIELDS: Final[dict[LabelKind, tuple[Need, Need]]] = {
    LabelKind.CONFIRM: ("forbidden", "forbidden"),
    LabelKind.ADJUST_BOX: ("required", "forbidden"),
    LabelKind.RELABEL: ("forbidden", "required"),
    LabelKind.ADD_MISSED: ("required", "required"),
    LabelKind.EMPTY_FRAME: ("forbidden", "forbidden"),
}


class LabelError(BadInputError, ValueError):
    """A label record that cannot be made: a box outside its frame, an unknown class, a wrong target."""


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """Which object on a frame: a detection (``id``: its observation) or a drawn one (``id``: its add_missed record)."""

    kind: ObjectKind
    id: int


@dataclass(frozen=True, slots=True)
class LabelRecord:
    """One stored label record, as far as resolving a frame needs it.

    Attributes:
        id: The record's id (records are resolved in id order).
        kind: What it says.
        observation_id: The observation whose evidence frame it was made on (and, for confirm,
            adjust_box and relabel without ``target_label_id``, the detection it speaks of).
        target_label_id: confirm / adjust_box / relabel of a drawn object: its add_missed record.
        class_name: The object's class (None for empty_frame).
        box: The object's box in frame pixels (None for empty_frame).
    """

    id: int
    kind: LabelKind
    observation_id: int
    target_label_id: int | None
    class_name: str | None
    box: Box | None

    def object_ref(self) -> ObjectRef | None:
        """The object the record speaks of; None for empty_frame (it speaks of the whole frame)."""
        if self.kind == LabelKind.EMPTY_FRAME:
            return None
        if self.kind == LabelKind.ADD_MISSED:
            return ObjectRef("missed", self.id)
        if self.target_label_id is not None:
            return ObjectRef("missed", self.target_label_id)
        return ObjectRef("detection", self.observation_id)


@dataclass(frozen=True, slots=True)
class LabelledObject:
    """An object on a frame as its latest record has it."""

    ref: ObjectRef
    class_name: str
    box: Box
    label_id: int       # the latest record about it
    kind: LabelKind     # that record's kind


@dataclass(frozen=True, slots=True)
class FrameLabels:
    """What a frame's records add up to.

    Attributes:
        objects: The objects on the frame, in the order they were first labelled.
        empty: The frame was marked empty and nothing was labelled on it since.
        label_ids: The records that count: the last empty_frame (if any) and every record after it.
    """

    objects: tuple[LabelledObject, ...]
    empty: bool
    label_ids: tuple[int, ...]

    def find(self, ref: ObjectRef) -> LabelledObject | None:
        """The object ``ref`` names, if the frame's records still hold it."""
        return next((o for o in self.objects if o.ref == ref), None)


def resolve_frame(records: Iterable[LabelRecord]) -> FrameLabels:
    """Work out what a frame holds from its label records (see the module docstring).

    Raises:
        ValueError: A record of an object kind without its box or class (the store never writes one).
    """
    objects: dict[ObjectRef, LabelledObject] = {}
    counted: list[int] = []
    empty = False
    for record in sorted(records, key=lambda r: r.id):
        ref = record.object_ref()
        if ref is None:
            objects.clear()
            counted = [record.id]
            empty = True
            continue
        if record.box is None or record.class_name is None:
            raise ValueError(f"label record {record.id} ({record.kind}) has no box or class")
        objects[ref] = LabelledObject(ref, record.class_name, record.box, record.id, record.kind)
        counted.append(record.id)
        empty = False
    return FrameLabels(tuple(objects.values()), empty and not objects, tuple(counted))


def check_kind_fields(kind: str, *, box: bool, class_name: bool, target: bool) -> LabelKind:
    """``kind`` as a :class:`LabelKind`, checked against which fields a request gives (see ``KIND_FIELDS``).

    Raises:
        LabelError: An unknown kind, a field the kind needs and lacks or takes and was given.
    """
    if kind not in values_of(LabelKind):
        raise LabelError(f"kind must be one of {', '.join(LabelKind)}; got {kind!r}")
    member = LabelKind(kind)
    for name, given, need in (("box", box, KIND_FIELDS[member][0]), ("class_name", class_name, KIND_FIELDS[member][1])):
        if need == "required" and not given:
            raise LabelError(f"{member} needs {name}")
        if need == "forbidden" and given:
            keeps = "" if member == LabelKind.EMPTY_FRAME else " (it keeps the current one)"
            raise LabelError(f"{name} is not for {member}{keeps}")
    if target and member in (LabelKind.ADD_MISSED, LabelKind.EMPTY_FRAME):
        raise LabelError(f"target_label_id is not for {member}")
    return member


def check_box(box: Iterable[float], width: int, height: int) -> Box:
    """``box`` as an ``(x1, y1, x2, y2)`` tuple, checked against a ``width`` x ``height`` frame.

    A frame size of 0 (old rows that did not record it) checks the box's shape only.

    Raises:
        LabelError: Not four finite numbers, corners out of order, smaller than a pixel, or
            outside the frame.
    """
    values = tuple(float(v) for v in box)
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise LabelError(f"a box is four finite numbers x1, y1, x2, y2 in frame pixels; got {values!r}")
    x1, y1, x2, y2 = values
    if x2 - x1 < 1.0 or y2 - y1 < 1.0:
        raise LabelError(f"box {_show(values)} must have x1 < x2 and y1 < y2, at least one pixel apart")
    if x1 < 0 or y1 < 0 or (width > 0 and x2 > width) or (height > 0 and y2 > height):
        raise LabelError(f"box {_show(values)} is outside the {width}x{height} frame")
    return x1, y1, x2, y2


def _show(box: Box) -> str:
    return "(" + ", ".join(f"{v:g}" for v in box) + ")"
