"""``streetwatch privacy measure`` (how much the blur hides) and ``streetwatch purge`` (retention).

Register with ``app.add_typer(privacy_app, name="privacy")`` and ``app.command("purge")(purge)``
in ``streetwatch/cli/main.py``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from streetwatch.cli.errors import streetwatch_typer
from streetwatch.core.errors import BadInputError

privacy_app = streetwatch_typer(
    help="Personal data in images: faces and plates blurred in every image that leaves the system.",
    no_args_is_help=True,
)
out = Console()
err = Console(stderr=True)
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default: sqlite:///streetwatch.db).")]
EvidenceOption = Annotated[Path | None, typer.Option("--evidence", help="Evidence folder (default: ./evidence).")]
_UNITS = {"d": 86400, "h": 3600, "w": 7 * 86400, "m": 60}


@privacy_app.callback()
def _group() -> None:
    """Keeps ``measure`` a subcommand."""


def parse_age(text: str) -> timedelta:
    """``90d`` -> 90 days; units ``m`` (minutes), ``h``, ``d``, ``w``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", text)
    if match is None:
        raise BadInputError(f"--older-than takes a number and a unit (m, h, d, w), e.g. 90d; got {text!r}")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


@privacy_app.command()
def measure(
    data: Annotated[Path, typer.Option("--data", help="The shared data set (street_clips/, plates_and_text/).")
                    ] = Path("../shared/data"),
    every_s: Annotated[float, typer.Option("--every-s", help="Seconds between the frames read from each clip.")
                       ] = 1.0,
    threads: Annotated[int, typer.Option("--threads", help="ONNX Runtime threads per model.")] = 1,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="A line per image with a face or plate.")] = False,
) -> None:
    """Measure the privacy blur on the faces and plates of the shared data set.

    Faces: CenterFace (threshold 0.2) on the street photos, one frame a second of each street clip
    and Ultralytics' bus and zidane photos, before and after the blur. Plates: the CCPD whole-car
    photos (their file names give each plate's box): boxes covered by the blur, and plates OCR
    reads raw and after the blur.

    Example: streetwatch privacy measure --data ../shared/data
    """
    from streetwatch.core.settings import DEFAULT_MODEL
    from streetwatch.datasets.privacy_measure import measure as run_measure
    from streetwatch.vision.blur import PersonalDataBlur
    from streetwatch.vision.detector import OnnxConfig, build_detector
    from streetwatch.vision.faces import FaceDetector
    from streetwatch.vision.ocr import TextReader

    if not (data / "plates_and_text" / "ccpd_plates.csv").is_file():
        raise BadInputError(f"{data} is not the shared data set (no plates_and_text/ccpd_plates.csv)")
    blur = PersonalDataBlur(FaceDetector(threads=threads), TextReader(threads=threads),
                            build_detector(OnnxConfig(weights=DEFAULT_MODEL, intra_op_threads=threads)))
    figures = run_measure(data, blur, progress=out.print if verbose else None, every_s=every_s)
    for line in figures.lines():
        out.print(line, highlight=False)


def purge(
    older_than: Annotated[str, typer.Option("--older-than", help="Age past which material goes, e.g. 90d, 12w.")],
    db: DbOption = None,
    evidence: EvidenceOption = None,
    footage: Annotated[list[Path] | None, typer.Option(
        "--footage", help="A folder of raw footage (the depot) to purge processed videos from; repeatable.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would go; change nothing.")] = False,
    actor: Annotated[str, typer.Option("--actor", help="Who purges, for the audit log.")] = "system",
) -> None:
    """Remove raw footage and evidence older than the cut-off that no open work needs.

    Kept whatever its age: the images of violations pending review, of cases not closed (or closed
    after the cut-off), frames with reviewers' labels and the frozen evaluation set, and the footage
    of videos with any such image. Every removal is recorded in the audit log first
    (evidence.purge, video.purge_footage); an evidence row stays, marked purged.

    Example: streetwatch purge --older-than 90d --footage /srv/depot --db sqlite:///city.db --evidence evidence
    """
    from streetwatch.cli.errors import local_evidence_folder
    from streetwatch.core.settings import get_settings
    from streetwatch.store.db import make_engine, make_session_factory
    from streetwatch.store.evidence import EvidenceStore
    from streetwatch.store.retention import apply_purge, plan_purge

    age = parse_age(older_than)
    now = datetime.now(UTC)
    settings = get_settings(db_url=db, evidence_dir=evidence)
    store = EvidenceStore(local_evidence_folder(settings.evidence_dir, "purge"))
    engine = make_engine(settings.db_url)
    try:
        with make_session_factory(engine)() as session:
            plan = plan_purge(session, store, now - age, footage or [])
            out.print(f"cut-off {plan.cutoff:%Y-%m-%d %H:%M} UTC: {len(plan.evidence)} evidence image(s) and "
                      f"{len(plan.footage)} footage file(s) to remove; kept for open work: {plan.evidence_kept} "
                      f"image(s), {plan.videos_kept} video(s)", highlight=False)
            if footage is None:
                out.print("no --footage folder given: raw footage is not looked for", highlight=False)
            if dry_run:
                for sha in plan.evidence:
                    out.print(f"would remove evidence {sha}", highlight=False)
                for item in plan.footage:
                    out.print(f"would remove footage {item.path} (video {item.video_id})", highlight=False)
                return
            session.rollback()  # end the plan's reads: the purge's writes start their own transaction
            deleted = apply_purge(session, store, plan, actor=actor, now=now, policy=f"older than {older_than}")
    finally:
        engine.dispose()
    out.print(f"purged: {deleted} file(s) deleted, each removal recorded in the audit log", highlight=False)
