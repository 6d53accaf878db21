"""``streetwatch dataset freeze-eval``: choose the frozen evaluation set once, then grow it only when told.

The set is held out by video, like the dataset's validation split, so that no model is trained on
footage it is measured on. The first freeze picks, from the videos with labelled frames, those whose
hash scores below ``share`` (a score of its own, not the validation split's); at least one video and
never all of them. After that the set only grows, by explicit command: ``--grow`` adds frames labelled
since on videos already in the set and the new videos that score below ``share``; ``--video`` adds a
video by its hash. Nothing is ever removed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from streetwatch.core.errors import BadInputError
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.datasets.yolo_layout import split_score
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from streetwatch.store.eval_set import add_eval_frames, frozen_frames, frozen_shas
from streetwatch.store.labels import LabelledFrame, labelled_frames

ALL_TIME = datetime(1970, 1, 1, tzinfo=UTC)


class FreezeError(BadInputError, ValueError):
    """The evaluation set cannot be chosen or grown as asked."""


@dataclass(frozen=True, slots=True)
class FreezeSummary:
    """What a freeze added, and the set after it."""

    added_frames: int
    added_videos: int
    frames: int
    videos: int
    instances: dict[str, int]   # per class, in the set after
    families: dict[str, int]    # per family, in the set after
    empty_frames: int


def eval_score(video_sha256: str) -> float:
    """A number in [0, 1) fixed by the video's hash, independent of its validation-split score."""
    return split_score(f"eval:{video_sha256}")


def choose_frames(labelled: Sequence[LabelledFrame], frozen: set[str], *, share: float, grow: bool,
                  videos: Sequence[str] = ()) -> list[LabelledFrame]:
    """The labelled frames to add to the set (see the module docstring).

    Args:
        labelled: Every labelled frame.
        frozen: The frames in the set now (evidence hashes).
        share: Videos scoring below it are evaluation videos.
        grow: Grow a set that exists.
        videos: Videos to add, by sha256 (or a prefix of 8+ characters).

    Raises:
        FreezeError: ``share`` out of range; the set exists and neither ``grow`` nor ``videos`` was given;
            fewer than two videos have labelled frames (one must stay for training); an unknown video.
    """
    if not 0.0 < share < 1.0:
        raise FreezeError(f"--share must be within (0, 1), got {share}")
    by_video: dict[str, list[LabelledFrame]] = defaultdict(list)
    for frame in labelled:
        by_video[frame.video_sha256].append(frame)
    frozen_videos = {f.video_sha256 for f in labelled if f.frame_sha256 in frozen}
    if videos:
        chosen = {_video(prefix, by_video) for prefix in videos}
    elif not frozen:
        if not by_video:
            raise FreezeError("no frame has been labelled yet: label evidence frames on the review page first")
        if len(by_video) < 2:
            raise FreezeError(f"labelled frames of {len(by_video)} video(s): the evaluation set is held out by "
                              "video and one must stay for training; label frames of two or more videos first")
        ranked = sorted(by_video, key=eval_score)
        chosen = {v for v in ranked if eval_score(v) < share} or {ranked[0]}
        if len(chosen) == len(by_video):
            chosen.discard(ranked[-1])  # never all: something must stay to train on
    elif grow:
        chosen = frozen_videos | {v for v in by_video if eval_score(v) < share}
    else:
        raise FreezeError(f"the evaluation set is frozen already ({len(frozen)} frames): it grows only by explicit "
                          "command, --grow or --video SHA256")
    return [f for v in sorted(chosen) for f in by_video[v] if f.frame_sha256 not in frozen]


def _video(prefix: str, by_video: dict[str, list[LabelledFrame]]) -> str:
    key = prefix.strip().lower()
    matches = [v for v in by_video if v.startswith(key)] if len(key) >= 8 else []
    if len(matches) != 1:
        raise FreezeError(f"--video {prefix!r} matches {len(matches)} videos with labelled frames "
                          "(give 8 or more characters of a video's sha256)")
    return matches[0]


def freeze_eval(db_url: str, taxonomy: Taxonomy, *, actor: str, share: float = 0.2, grow: bool = False,
                videos: Sequence[str] = ()) -> FreezeSummary:
    """Choose (or grow) the frozen evaluation set in the database at ``db_url`` and say what it holds."""
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        sessions = make_session_factory(engine)
        with sessions() as session:
            labelled = labelled_frames(session, ALL_TIME)
            present = frozen_shas(session)
        chosen = choose_frames(labelled, present, share=share, grow=grow, videos=videos)
        how = ("--video " + " ".join(videos) if videos else "--grow" if grow and present else "first freeze") + \
            f", share {share}"
        with sessions() as session, session.begin():
            added = add_eval_frames(session, chosen, actor=actor, how=how)
        with sessions() as session:
            now = frozen_frames(session)
    finally:
        engine.dispose()
    classes = Counter(o.class_name for f in now for o in f.labels.objects)
    families: Counter[str] = Counter()
    for name, n in classes.items():
        spec = taxonomy.lookup(name)
        families[spec.family if spec else "?"] += n
    before = {f.video_sha256 for f in labelled if f.frame_sha256 in present}
    return FreezeSummary(added_frames=added, added_videos=len({f.video_sha256 for f in chosen} - before),
                         frames=len(now),
                         videos=len({f.video_sha256 for f in now}), instances=dict(sorted(classes.items())),
                         families=dict(sorted(families.items())),
                         empty_frames=sum(1 for f in now if not f.labels.objects))
