"""The shared vocabulary: every status, action and reason code that is stored or sent, once.

Each vocabulary is one :class:`~enum.StrEnum`. The database columns (through
``streetwatch.store.types.StrEnumType``), the API's pydantic models and the logic all use these
members, so a value exists in one place and a typo is an error, not a silent mismatch. Members
are ``str``: they compare equal to, and serialise as, the strings stored today.
"""

from __future__ import annotations

from enum import StrEnum


class Vocabulary(StrEnum):
    """A StrEnum whose members print as the strings they stand for, in ``repr`` too.

    Messages such as ``f"in state {state!r}"`` read ``in state 'filed'`` whether ``state`` came
    from the database (a member) or from a request (a plain string).
    """

    def __repr__(self) -> str:
        return repr(self.value)


class VideoStatus(Vocabulary):
    """Where a video is in processing."""

    PROCESSING = "processing"  # claimed by a worker (or waiting to be)
    DONE = "done"              # its results are committed
    FAILED = "failed"          # processing stopped with an error (see Video.error)


class MediaKind(Vocabulary):
    """What a footage item is: a video, or a photo (one frame, no motion)."""

    VIDEO = "video"
    PHOTO = "photo"


class WatchOutcome(Vocabulary):
    """What the depot watcher did with a file (kept in its state file, so a restart does not redo it)."""

    PROCESSED = "processed"    # results committed
    SKIPPED = "skipped"        # the same content was processed before (or is being processed elsewhere)
    REJECTED = "rejected"      # not a usable video or GPS: reported once, not retried until the file changes
    FAILED = "failed"          # processing broke: reported once, not retried until the file changes
    HELD = "held"              # claimed by a worker that stopped: not recorded, tried again on a later poll


class ViolationStatus(Vocabulary):
    """A violation's review state."""

    PENDING = "pending"        # waiting for a reviewer
    APPROVED = "approved"
    REJECTED = "rejected"


class CaseStatus(Vocabulary):
    """Where a case is in the workflow (``streetwatch.casework.states`` has the transitions)."""

    OPEN = "open"              # seen, not confirmed yet
    FILED = "filed"            # 立案: a violation of it was approved
    DISPATCHED = "dispatched"  # 派遣: sent to the responsible unit (SLA clock running)
    HANDLED = "handled"        # 处置: the unit reports it fixed
    CHECKED = "checked"        # 核查: confirmed on site
    CLOSED = "closed"          # 结案


class CaseAction(Vocabulary):
    """What a person (or an approval) does to a case."""

    FILE = "file"
    DISPATCH = "dispatch"
    RETURN = "return"
    HANDLE = "handle"
    CHECK = "check"
    REWORK = "rework"
    EXTEND = "extend"
    CLOSE = "close"
    # Not a transition: a rectification notice (整改通知单) was issued; the state stays. Recorded in the
    # case's events (its history) and audited as case.notice, with the PDF's sha256.
    NOTICE = "notice"


class TimeStatus(Vocabulary):
    """How a video's clock was aligned with GPS time."""

    VERIFIED = "verified"      # offset estimated from the data
    CONFIGURED = "configured"  # offset taken from settings
    UNVERIFIED = "unverified"  # assumed (e.g. the video starts at the first fix)


class LocationStatus(Vocabulary):
    """How an observation's position was obtained."""

    GEOLOCATED = "geolocated"      # camera pose offset by the object's bearing and range
    CAMERA = "camera"              # camera pose only: the object's range was not measurable
    UNKNOWN = "unknown"            # no GPS at that time (no track, or inside a gap)


class MotionState(Vocabulary):
    """Whether a movable object (a vehicle) stands or drives, read from the footage."""

    PARKED = "parked"
    MOVING = "moving"
    STOPPED_IN_TRAFFIC = "stopped_in_traffic"
    UNKNOWN = "unknown"


class DecisionAction(Vocabulary):
    """What a reviewer decides about a violation."""

    APPROVE = "approve"
    REJECT = "reject"
    RELABEL = "relabel"  # correct the class (the violation stays pending)
    MOVE = "move"        # correct the position (the violation stays pending)


class LabelKind(Vocabulary):
    """What a reviewer's label record says about an evidence frame (``streetwatch.core.labels``)."""

    CONFIRM = "confirm"          # the detection is right as it is (an approval is one)
    ADJUST_BOX = "adjust_box"    # the detection's box, redrawn
    RELABEL = "relabel"          # the detection's class, corrected
    ADD_MISSED = "add_missed"    # an object the detector missed, with its box and class
    EMPTY_FRAME = "empty_frame"  # nothing to find here: a hard negative


class LabellingReason(Vocabulary):
    """Why the labelling queue asks a reviewer to label a frame (``streetwatch.store.labelling_queue``)."""

    LOW_CONFIDENCE = "low_confidence"  # the detector was unsure: the label teaches it most
    WEAK_CLASS = "weak_class"          # a class the active model is weakest on (its card's mAP50)


class LabellingStatus(Vocabulary):
    """Where a labelling item stands. Labelling items never file cases."""

    PENDING = "pending"    # waiting for a reviewer (leased or not)
    LABELLED = "labelled"  # a reviewer labelled the frame
    SKIPPED = "skipped"    # a reviewer could not tell, or the frame was not worth it


class ModelAction(Vocabulary):
    """How a registered detector version became the active one (``model_activations``; audited ``model.<action>``)."""

    REGISTER = "register"  # the registry's first version (the bundled model): active from the start
    PROMOTE = "promote"    # a candidate measured (or forced) better than the active version
    ROLLBACK = "rollback"  # back to a version that was active before


class ScoreName(Vocabulary):
    """A detector score on the frozen evaluation set (``streetwatch.core.model_metrics``)."""

    PRECISION = "precision"  # at the deployment confidence, IoU 0.5
    RECALL = "recall"        # at the deployment confidence, IoU 0.5
    MAP50 = "map50"          # mean average precision at IoU 0.5, over all confidences


class RejectReason(Vocabulary):
    """Why a reviewer rejects a violation."""

    FALSE_DETECTION = "false_detection"
    COMPLIANT = "compliant"
    DUPLICATE = "duplicate"
    UNCLEAR_IMAGE = "unclear_image"


class DeliveryStatus(Vocabulary):
    """An outbox delivery's state."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up: a dead letter


class EvidenceFault(Vocabulary):
    """What is wrong with a stored evidence file (``streetwatch.store.evidence``)."""

    MISSING = "missing"    # recorded in the database, but no file under its hash
    MISMATCH = "mismatch"  # the file's bytes no longer hash to its name: damaged or tampered with


class UploadKind(Vocabulary):
    """What a file sent to ``POST /uploads`` is."""

    VIDEO = "video"  # footage, processed by `streetwatch watch`
    GPS = "gps"      # a GPS sidecar (.gpx, .nmea, .csv, .srt) of a video, placed beside it


class Open311Status(Vocabulary):
    """A service request's status as Open311 GeoReport v2 spells it (two values only)."""

    OPEN = "open"
    CLOSED = "closed"


class Role(Vocabulary):
    """What a person does in the review and dispatch workflow."""

    REVIEWER = "reviewer"                # 审核: confirms or rejects detections
    DISPATCHER = "dispatcher"            # 派遣: sends cases to the responsible unit's people
    FIELD_INSPECTOR = "field_inspector"  # 核查: checks on site that a case was handled
    SUPERVISOR = "supervisor"            # oversees every unit, reads KPIs
    ADMIN = "admin"                      # manages users; passes every role check
    UPLOADER = "uploader"                # a car or depot machine: may only send footage (POST /uploads)


def values_of(vocabulary: type[StrEnum]) -> tuple[str, ...]:
    """The vocabulary's values in definition order (``"x" in values_of(E)`` works on Python 3.11)."""
    return tuple(member.value for member in vocabulary)


class CoverageKind(Vocabulary):
    """What a patrol pass covered: a road segment of the city's network, an H3 cell, or a city grid cell (网格)."""

    ROAD = "road"
    CELL = "cell"
    GRID = "grid"              # a management grid cell of the zones files (kind "grid")


class CoverageStatus(Vocabulary):
    """How recently a road segment or grid cell was patrolled (``streetwatch.casework.coverage``)."""

    COVERED = "covered"        # patrolled within its road class's stale-after days
    STALE = "stale"            # patrolled, but longer ago than that
    NEVER = "never"            # no pass on record
