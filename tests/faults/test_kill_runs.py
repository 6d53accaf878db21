"""``kill -9`` at random points of ``streetwatch process`` on a small batch, then a clean run.

Each killed run dies at a random point: while starting (loading the model), or a random moment
after it claimed its first video (analysing, writing evidence files, committing, claiming the next).
Claims go stale after a second (``STREETWATCH_CLAIM_STALE_AFTER_S``), so the next run takes a killed
video over. After the clean run the database must hold exactly what one
uninterrupted run stores (no duplicate, nothing lost), and every evidence file must be present
with a matching sha256. The number of killed runs is ``STREETWATCH_FAULT_KILL_RUNS`` (default 5;
the fault table asks for 10), the seed ``STREETWATCH_FAULT_SEED``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from streetwatch.datasets import synthetic
from streetwatch.datasets.demo import demo_image_path
from streetwatch.store.db import make_engine, make_session_factory, upgrade
from streetwatch.store.evidence import EvidenceStore, file_sha256
from streetwatch.store.evidence_checks import recorded_evidence
from streetwatch.store.models import Case, Evidence, Observation, Video, Violation
from tests.pipeline.run_helpers import (
    CLIP_FPS,
    CLIP_SIZE,
    cli_command,
    cli_env,
    fetch_rows,
    one_line,
    sqlite_url,
    start_cli,
    write_straight_gpx,
)

KILL_RUNS = int(os.environ.get("STREETWATCH_FAULT_KILL_RUNS", "5"))
SEED = int(os.environ.get("STREETWATCH_FAULT_SEED", str(random.randrange(1 << 16))))
EARLY_KILL_SHARE = 0.3        # of the runs killed while starting, before their first claim
EARLY_KILL_S = (0.2, 3.0)     # from the start of the run
AFTER_CLAIM_S = (0.0, 1.5)    # from the run's first claim: analysis (about 1 s a clip), the commit, the next
STALE_AFTER_S = "1"
SAMPLE_FPS = "3"
CLIPS = {  # name -> (pan, zoom): one street photo driven past three ways, three different files
    "a.mp4": ((0.0, 1.0), (1.0, 1.8)),
    "b.mp4": ((1.0, 0.0), (1.0, 1.8)),
    "c.mp4": ((0.2, 0.8), (1.3, 2.0)),
    "d.mp4": ((0.9, 0.1), (1.5, 2.2)),
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four 3-second street clips, each with its GPX sidecar."""
    folder = tmp_path_factory.mktemp("kill-batch")
    clips = []
    for name, (pan, zoom) in CLIPS.items():
        clip = synthetic.make_patrol_clip(folder / name, demo_image_path(), seconds=3.0, fps=CLIP_FPS,
                                          size=CLIP_SIZE, pan=pan, zoom=zoom)
        write_straight_gpx(clip.with_suffix(".gpx"), seconds=4.0)
        clips.append(clip)
    return clips


def snapshot(url: str) -> dict[str, object]:
    """What a run stored, keyed by content (ids differ between databases)."""
    per_video = fetch_rows(url, select(Video.sha256, Video.status, func.count(Observation.id).label("observations"))
                           .outerjoin(Observation, Observation.video_id == Video.id).group_by(Video.id)
                           .order_by(Video.sha256))
    violations = fetch_rows(url, select(Video.sha256, func.count(Violation.id).label("violations"))
                            .join(Observation, Observation.video_id == Video.id)
                            .join(Violation, Violation.observation_id == Observation.id).group_by(Video.id)
                            .order_by(Video.sha256))
    tracks = fetch_rows(url, select(Video.sha256, Observation.track_id, Observation.class_name,
                                    Observation.frame_sha256)
                        .join(Observation, Observation.video_id == Video.id)
                        .order_by(Video.sha256, Observation.track_id))
    cases = fetch_rows(url, select(func.count(Case.id).label("cases"), func.sum(Case.sightings).label("sightings")))
    evidence = [r["sha256"] for r in fetch_rows(url, select(Evidence.sha256).order_by(Evidence.sha256))]
    return {"videos": per_video, "violations": violations, "tracks": tracks, "cases": cases, "evidence": evidence}


def run_cli(args: tuple[str, ...]) -> tuple[int, str]:
    done = subprocess.run(cli_command(*args), cwd=Path(__file__).resolve().parents[2],
                          env=cli_env(STREETWATCH_CLAIM_STALE_AFTER_S=STALE_AFTER_S), capture_output=True,
                          text=True, timeout=300, check=False)
    return done.returncode, one_line(done.stdout + done.stderr)


def wait_for_a_claim_by(url: str, proc: subprocess.Popen[str], timeout_s: float = 120.0) -> bool:
    """Wait until the run holds a video in ``processing``; False when it ended first (nothing left to do)."""
    engine = make_engine(url)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            with engine.connect() as conn:
                held = conn.execute(select(func.count()).select_from(Video).where(
                    Video.status == "processing", Video.worker.like(f"%:{proc.pid}:%"))).scalar_one()
            if held:
                return True
            time.sleep(0.02)
    finally:
        engine.dispose()
    return False


@pytest.mark.slow
def test_random_kills_then_a_clean_run_lose_nothing_and_duplicate_nothing(batch: list[Path], tmp_path: Path) -> None:
    def process_args(url: str, evidence: Path) -> tuple[str, ...]:
        return ("process", *map(str, batch), "--db", url, "--evidence", str(evidence), "--sample-fps", SAMPLE_FPS,
                "--no-progress")

    # What one uninterrupted run stores (a run like the others: same process set-up, same numbers).
    reference_url = sqlite_url(tmp_path / "reference.db")
    code, output = run_cli(process_args(reference_url, tmp_path / "reference-evidence"))
    assert code == 0, output
    expected = snapshot(reference_url)
    assert sum(r["observations"] for r in expected["videos"]) > 0  # type: ignore[attr-defined]

    url = sqlite_url(tmp_path / "city.db")
    upgrade(url)
    evidence = tmp_path / "evidence"
    args = process_args(url, evidence)
    rng = random.Random(SEED)
    kills = []
    for _ in range(KILL_RUNS):
        early = rng.random() < EARLY_KILL_SHARE
        delay = rng.uniform(*(EARLY_KILL_S if early else AFTER_CLAIM_S))
        proc = start_cli(*args, STREETWATCH_CLAIM_STALE_AFTER_S=STALE_AFTER_S)
        try:
            if early or wait_for_a_claim_by(url, proc):
                try:
                    proc.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=60)
        kills.append(("start" if early else "claim", round(delay, 2), proc.returncode))
        time.sleep(float(STALE_AFTER_S) + 0.2)  # the killed claim goes stale: the next run takes it over

    code, output = run_cli(args)
    context = f"seed {SEED}, kills (when, delay s, exit) {kills}: {output}"
    assert code == 0, context

    found = snapshot(url)
    assert [r["status"] for r in found["videos"]] == ["done"] * len(batch), context  # type: ignore[attr-defined]
    assert found == expected, context   # nothing lost, nothing twice: videos, objects, violations, cases, evidence
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            recorded = list(recorded_evidence(session))
    finally:
        engine.dispose()
    store = EvidenceStore(evidence)
    assert EvidenceStore(evidence).scan(recorded) == [], context  # every file present, each hashing to its name
    for sha in recorded:
        assert file_sha256(store.path_for(sha)) == sha
