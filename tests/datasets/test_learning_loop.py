"""The loop that learns, end to end on generated footage, through the CLI and the HTTP API.

Three generated street clips are processed and every detection labelled over HTTP (confirmations, a
missed object, a frame marked empty). ``dataset freeze-eval`` holds one video out; ``dataset export``
leaves it out; a 1-epoch training at 64 px yields a registered candidate (version 2, the bundled model
having become version 1) with scores on the frozen set; ``models compare`` prints the table. A deliberately
damaged copy of the bundled model (person and car swapped in its class names) is registered; ``promote``
refuses it (worse on the stall family) and a forced promote, with its reason, lands in the audit log,
whose chain still verifies. ``process`` then runs the promoted model and, with ``--shadow-model``, the
candidate beside it, whose detections are stored apart; ``compare`` shows their agreement; ``rollback``
goes back to version 1.

One module-scoped scenario, then one test per step; each step's test fails if its step breaks.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import onnx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from streetwatch.api.app import create_app
from streetwatch.api.auth import Role
from streetwatch.cli.main import app as cli
from streetwatch.core.settings import DEFAULT_MODEL, get_settings
from streetwatch.datasets import synthetic
from streetwatch.datasets.demo import demo_image_path
from streetwatch.pipeline.run import Processed, process_videos
from streetwatch.store.models import Observation, Video
from streetwatch.store.models_registry import EvalFrame, ModelActivation, ModelVersion, ShadowFrame
from streetwatch.store.models_workflow import AuditEntry
from tests.api.auth_support import TEST_AUTH_SECRET, TEST_PASSWORD, UserSpec, add_users_at
from tests.live_server import serve_on_loopback
from tests.pipeline.run_helpers import CLIP_FPS, CLIP_SIZE, SAMPLE_FPS, fetch_rows, shared_detector, shared_street_clip

pytestmark = pytest.mark.slow

runner = CliRunner()
REVIEWER = "qian.labels"
WIDE = {"COLUMNS": "240"}
FLOAT_ONNX = DEFAULT_MODEL.parent / "streetwatch-v1-384x640.onnx"


@dataclass(slots=True)
class Loop:
    root: Path
    db_url: str
    evidence: Path
    models: Path
    clips: list[Path]
    labelled_frames: set[str]
    outputs: dict[str, str]

    def options(self, *, evidence: bool = True, models: bool = True) -> list[str]:
        found = ["--db", self.db_url]
        found += ["--evidence", str(self.evidence)] if evidence else []
        return found + (["--models-dir", str(self.models)] if models else [])

    def rows(self, statement: Any) -> list[dict[str, Any]]:
        return fetch_rows(self.db_url, statement)


def invoke(*args: str) -> Any:
    result = runner.invoke(cli, list(args), env=WIDE)
    return result


def _clip(root: Path, name: str, seconds: float, pan: tuple[float, float]) -> Path:
    return synthetic.make_patrol_clip(root / name, demo_image_path(), seconds=seconds, fps=CLIP_FPS, size=CLIP_SIZE,
                                      pan=pan)


def _label_everything(db_url: str, settings: Any) -> set[str]:
    """Confirm every detection over HTTP; draw one missed trash bag; mark one frame empty. Returns the frames."""
    add_users_at(db_url, [UserSpec(REVIEWER, (Role.REVIEWER,))])
    frames: set[str] = set()
    with serve_on_loopback(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        token = http.post("/auth/token", data={"username": REVIEWER, "password": TEST_PASSWORD}).json()
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        found = sorted(http.get("/observations", params={"limit": 500}).json()["items"], key=lambda o: o["id"])
        by_video: dict[int, list[dict[str, Any]]] = {}
        for observation in found:
            by_video.setdefault(observation["video_id"], []).append(observation)
        assert len(by_video) == 3 and all(any(o["class_name"] == "person" for o in v) for v in by_video.values())
        for video_id, observations in by_video.items():
            for observation in observations:
                response = http.post(f"/observations/{observation['id']}/labels", json={"kind": "confirm"})
                assert response.status_code == 201, response.text
                frames.add(str(observation["frame_url"]).removeprefix("/evidence/"))
            if video_id == min(by_video):
                first = observations[0]["id"]
                missed = http.post(f"/observations/{first}/labels", json={
                    "kind": "add_missed", "box": [5.5, 300.25, 60.0, 355.0], "class_name": "trashbag"})
                assert missed.status_code == 201, missed.text
                empty = http.post(f"/observations/{observations[-1]['id']}/labels", json={"kind": "empty_frame"})
                assert empty.status_code == 201, empty.text
    return frames


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    root = tmp_path_factory.mktemp("loop")
    db_url = f"sqlite:///{root / 'streetwatch.db'}"
    evidence = root / "evidence"
    settings = get_settings(db_url=db_url, evidence_dir=evidence, sample_fps=SAMPLE_FPS, ocr=False,
                            auth_secret=TEST_AUTH_SECRET)
    clips = [shared_street_clip(tmp_path_factory), _clip(root, "second.mp4", 4.0, (0.1, 0.9)),
             _clip(root, "third.mp4", 4.5, (0.0, 0.8)), _clip(root, "fourth.mp4", 3.5, (0.05, 1.0))]
    summary = process_videos(clips[:3], settings, None, progress=False, detector=shared_detector())
    assert all(isinstance(o, Processed) for o in summary.outcomes), summary.outcomes
    frames = _label_everything(db_url, settings)
    yield Loop(root, db_url, evidence, root / "models", clips, frames, {})


@pytest.fixture(scope="module")
def frozen(loop: Loop) -> Loop:
    result = invoke("dataset", "freeze-eval", "--db", loop.db_url, "--by", "eval.keeper")
    assert result.exit_code == 0, result.output
    loop.outputs["freeze"] = result.output
    return loop


def test_freeze_eval_holds_out_one_whole_video_and_grows_only_when_told(frozen: Loop) -> None:
    rows = frozen.rows(select(EvalFrame.frame_sha256, EvalFrame.video_id, EvalFrame.added_by))
    assert len({r["video_id"] for r in rows}) == 1 and {r["added_by"] for r in rows} == {"eval.keeper"}
    assert "frozen evaluation set:" in frozen.outputs["freeze"] and "person" in frozen.outputs["freeze"]
    again = invoke("dataset", "freeze-eval", "--db", frozen.db_url)
    assert again.exit_code == 2 and "grows only by explicit command" in again.output, again.output
    grown = invoke("dataset", "freeze-eval", "--grow", "--db", frozen.db_url)  # nothing new: nothing added
    assert grown.exit_code == 0 and "0 frames added now" in grown.output, grown.output
    audit = frozen.rows(select(AuditEntry.action, AuditEntry.details).where(AuditEntry.action == "eval_set.add"))
    assert len(audit) == 1 and sorted(audit[0]["details"]["frames"]) == sorted(r["frame_sha256"] for r in rows)


@pytest.fixture(scope="module")
def exported(frozen: Loop) -> Loop:
    out = frozen.root / "city-2026-11"
    # --val-share 0.01: one of the two remaining videos goes to val (the lowest score), the other to train.
    result = invoke("dataset", "export", "--since", "2000-01-01", "--out", str(out), "--val-share", "0.01",
                    *frozen.options(evidence=True, models=True))
    assert result.exit_code == 0, result.output
    frozen.outputs["export"] = result.output
    return frozen


def test_export_leaves_the_frozen_video_out(exported: Loop) -> None:
    frozen_rows = exported.rows(select(EvalFrame.frame_sha256))
    frozen_shas = {r["frame_sha256"] for r in frozen_rows}
    with (exported.root / "city-2026-11" / "manifest.csv").open() as handle:
        manifest = list(csv.DictReader(handle))
    exported_shas = {row["evidence_sha256"] for row in manifest}
    assert exported_shas and not exported_shas & frozen_shas
    assert exported_shas | frozen_shas == exported.labelled_frames  # every labelled frame is in one or the other
    assert {row["split"] for row in manifest} == {"train", "val"}
    assert f"{len(frozen_shas)} labelled frames held out" in exported.outputs["export"]


@pytest.fixture(scope="module")
def trained(exported: Loop) -> Loop:
    data = exported.root / "city-2026-11" / "data.yaml"
    result = invoke("train", str(data), "--register", "--epochs", "1", "--imgsz", "64", "--batch", "4",
                    "--freeze", "10", "--export-size", "96x160", "--run-dir", str(exported.root / "runs" / "t1"),
                    "--by", "trainer", *exported.options())
    assert result.exit_code == 0, result.output
    exported.outputs["train"] = result.output
    return exported


def test_training_registers_a_candidate_with_its_provenance_and_scores(trained: Loop) -> None:
    versions = {r["version"]: r for r in trained.rows(select(ModelVersion.__table__))}
    assert sorted(versions) == [1, 2]
    bundled, candidate = versions[1], versions[2]
    assert bundled["name"] == "streetwatch-v1" and bundled["created_by"] == "system"
    assert bundled["runtime_file"] == DEFAULT_MODEL.name
    assert bundled["weights_sha256"] == hashlib.sha256((DEFAULT_MODEL.parent / "streetwatch-v1.pt").read_bytes()
                                                       ).hexdigest()
    assert candidate["name"] == "city-2026-11" and candidate["parent_version"] == 1
    assert candidate["created_by"] == "trainer"
    manifest = trained.root / "city-2026-11" / "manifest.csv"
    assert candidate["data_manifest_sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert "streetwatch train" in candidate["train_command"] and "--imgsz 64" in candidate["train_command"]
    assert candidate["training"]["epochs"] == 1 and candidate["training"]["seconds"] > 0
    folder = trained.models / candidate["folder"]
    files = {candidate["weights_file"]: candidate["weights_sha256"],
             **{e["file"]: e["sha256"] for e in candidate["exports"]}}
    assert set(files) == {"city-2026-11.pt", "city-2026-11-96x160.onnx"}
    for name, digest in files.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    metrics = candidate["metrics"]
    assert metrics["model"] == "city-2026-11@v2" and metrics["frames"] == len(trained.rows(select(EvalFrame.video_id)))
    assert metrics["families"]["stall"]["instances"] > 0 and "person" in metrics["classes"]
    assert bundled["metrics"]["eval_set_sha256"] == metrics["eval_set_sha256"]
    assert "registered version 2 (city-2026-11@v2)" in trained.outputs["train"]
    listing = invoke("models", "list", "--db", trained.db_url, "--models-dir", str(trained.models))
    assert listing.exit_code == 0 and "city-2026-11" in listing.output and "active" in listing.output


def test_compare_prints_the_table(trained: Loop) -> None:
    result = invoke("models", "compare", "1", "2", *trained.options())
    assert result.exit_code == 0, result.output
    for text in ("streetwatch-v1@v1 (current) vs city-2026-11@v2 (candidate)", "mAP50 cur", "recall cand",
                 "no shadow footage for city-2026-11@v2"):
        assert text in result.output, (text, result.output)
    rows = {line.split("│")[1].rstrip(): line for line in result.output.splitlines() if line.startswith("│")}
    assert {" stall", "   person", " parking", " all"} <= set(rows), result.output
    assert rows[" stall"].split("│")[-2].strip() in ("ok", "worse") and rows[" all"].count("│") == 10


@pytest.fixture(scope="module")
def damaged(trained: Loop) -> Loop:
    """A copy of the bundled float model whose class names say car for person and person for car."""
    model = onnx.load(str(FLOAT_ONNX))
    for prop in model.metadata_props:
        if prop.key == "names":
            names = ast.literal_eval(prop.value)
            names[0], names[2] = names[2], names[0]
            prop.value = str(names)
    path = trained.root / "v1-swapped.onnx"
    onnx.save(model, str(path))
    result = invoke("models", "register", str(path), "--parent", "1", "--note", "person and car swapped",
                    "--by", "tester", *trained.options())
    assert result.exit_code == 0, result.output
    trained.outputs["damaged"] = result.output
    return trained


REASON = "test: promote the swapped copy on purpose"


@pytest.fixture(scope="module")
def promoted(damaged: Loop) -> Loop:
    """Promote the swapped copy: refused; --force without a reason; forced with one."""
    for key, extra in (("refused", []), ("no_reason", ["--force"]), ("forced", ["--force", "--reason", REASON])):
        result = invoke("models", "promote", "3", *extra, "--by", "supervisor.li", *damaged.options())
        damaged.outputs[key] = f"exit {result.exit_code}\n{result.output}"
        if key == "refused":
            damaged.outputs["active_after_refusal"] = str(damaged.rows(
                select(ModelActivation.version).order_by(ModelActivation.id.desc()).limit(1)))
    return damaged


def test_promote_refuses_a_candidate_worse_on_a_family_and_records_a_forced_one(promoted: Loop) -> None:
    refused = " ".join(promoted.outputs["refused"].split())
    assert refused.startswith("exit 4") and "version 3 is not promoted: stall" in refused, refused
    assert "stall" in refused and "worse" in refused  # the comparison table is printed, the family marked
    assert promoted.outputs["active_after_refusal"] == str([{"version": 1}])
    no_reason = promoted.outputs["no_reason"]
    assert no_reason.startswith("exit 2") and "--force needs --reason" in no_reason, no_reason
    forced = " ".join(promoted.outputs["forced"].split())
    assert forced.startswith("exit 0") and "version 3 is now the active version (was 1) (forced" in forced, forced
    (entry,) = promoted.rows(select(AuditEntry.actor, AuditEntry.details, AuditEntry.entity_id)
                             .where(AuditEntry.action == "model.promote"))
    assert entry["actor"] == "supervisor.li" and entry["entity_id"] == "3"
    details = entry["details"]
    assert details["forced"] is True and details["reason"] == REASON and details["previous_version"] == 1
    assert any(r.startswith("stall ") for r in details["comparison"]["regressions"])
    verify = invoke("audit", "verify", "--db", promoted.db_url, "--evidence", str(promoted.evidence))
    assert verify.exit_code == 0 and "audit log intact" in verify.output, verify.output


@pytest.fixture(scope="module")
def shadowed(promoted: Loop) -> Loop:
    result = invoke("process", str(promoted.clips[3]), "--shadow-model", "2", "--sample-fps", str(SAMPLE_FPS),
                    "--no-progress", *promoted.options())
    assert result.exit_code == 0, result.output
    promoted.outputs["shadow"] = result.output
    return promoted


def test_process_runs_the_promoted_model_and_the_shadow_apart(shadowed: Loop) -> None:
    (video,) = shadowed.rows(select(Video.id, Video.model_name).where(Video.filename == "fourth.mp4"))
    assert video["model_name"] == "v1-swapped@v3"   # the promoted version, not the bundled default
    shadow = shadowed.rows(select(ShadowFrame.__table__).where(ShadowFrame.video_id == video["id"]))
    assert shadow and {r["shadow_model"] for r in shadow} == {"city-2026-11@v2"}
    assert {r["shadow_version"] for r in shadow} == {2} and {r["active_model"] for r in shadow} == {"v1-swapped@v3"}
    frames = shadowed.rows(select(Video.frames_sampled).where(Video.id == video["id"]))[0]["frames_sampled"]
    assert len(shadow) == frames
    # The active (swapped) model calls the people cars; its stored detections say so, the shadow's never file.
    active_classes = Counter(d[5] for r in shadow for d in r["active_detections"])
    assert active_classes["car"] > 0 and active_classes["person"] == 0
    observations = shadowed.rows(select(Observation.class_name).where(Observation.video_id == video["id"]))
    assert observations and {o["class_name"] for o in observations} <= set(active_classes)

    compared = invoke("models", "compare", "3", "2", *shadowed.options())
    assert compared.exit_code == 0, compared.output
    assert f"shadow footage: city-2026-11@v2 against v1-swapped@v3 on {frames} frames of 1 video(s)" in \
        " ".join(compared.output.split()), compared.output


def test_rollback_goes_back_to_the_version_promoted_over(shadowed: Loop) -> None:
    result = invoke("models", "rollback", "--reason", "swapped classes in service", "--by", "supervisor.li",
                    "--db", shadowed.db_url, "--models-dir", str(shadowed.models))
    assert result.exit_code == 0 and "version 1 is the active version again (was 3)" in result.output, result.output
    again = invoke("models", "rollback", "--db", shadowed.db_url, "--models-dir", str(shadowed.models))
    assert again.exit_code == 2 and "nothing to roll back to" in again.output, again.output
    actions = [(r["action"], r["version"]) for r in shadowed.rows(
        select(ModelActivation.action, ModelActivation.version).order_by(ModelActivation.id))]
    assert actions == [("register", 1), ("promote", 3), ("rollback", 1)]
    audit = [(r["action"], json.dumps(r["details"].get("reason"))) for r in shadowed.rows(
        select(AuditEntry.action, AuditEntry.details).where(AuditEntry.action.like("model.%")).order_by(AuditEntry.id))]
    assert [a for a, _ in audit] == ["model.register", "model.register", "model.register", "model.promote",
                                     "model.rollback"]
    verify = invoke("audit", "verify", "--db", shadowed.db_url, "--evidence", str(shadowed.evidence))
    assert verify.exit_code == 0, verify.output

