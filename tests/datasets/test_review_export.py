"""``streetwatch dataset export`` on a database made by processing a generated street clip and labelled through the
HTTP API (uvicorn on 127.0.0.1): the label files hold exactly the corrected boxes and classes, checked numerically.

The clip (a pan over a street photo, 640x360) yields a bus and three people: two on evidence frames of their own,
one on the bus's frame. The reviewer confirms one person and draws a missed trash bag beside them, moves the
person beside the bus twice (the later box wins) and relabels the bus a truck on that frame, and marks the other
person's frame empty.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from streetwatch.api.app import create_app
from streetwatch.api.auth import Role
from streetwatch.cli.main import app as cli
from streetwatch.core.settings import DEFAULT_MODEL, DEFAULT_TAXONOMY, get_settings
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.datasets.yolo_layout import dataset_classes
from streetwatch.pipeline.run import Processed, process_videos
from streetwatch.store.evidence import EvidenceStore
from tests.api.auth_support import TEST_AUTH_SECRET, TEST_PASSWORD, UserSpec, add_users_at
from tests.live_server import serve_on_loopback
from tests.pipeline.run_helpers import SAMPLE_FPS, shared_detector, shared_street_clip

runner = CliRunner()
REVIEWER = "zhao.labels"
TOLERANCE = 1e-4  # normalised units


@dataclass(frozen=True, slots=True)
class Labelled:
    db_url: str
    evidence: Path
    frame_size: tuple[int, int]
    # frame sha256 -> the (class, box in pixels) pairs its label file must hold, and the label record ids
    expected: dict[str, tuple[list[tuple[str, tuple[float, ...]]], list[int]]]
    video_sha256: str


def _post(http: httpx.Client, observation_id: int, **body: Any) -> dict[str, Any]:
    response = http.post(f"/observations/{observation_id}/labels", json=body)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Labelled]:
    root = tmp_path_factory.mktemp("export")
    db_url = f"sqlite:///{root / 'streetwatch.db'}"
    settings = get_settings(db_url=db_url, evidence_dir=root / "evidence", sample_fps=SAMPLE_FPS, ocr=False,
                            auth_secret=TEST_AUTH_SECRET)
    summary = process_videos([shared_street_clip(tmp_path_factory)], settings, None, progress=False,
                             detector=shared_detector())
    assert isinstance(summary.outcomes[0], Processed), summary.outcomes
    add_users_at(db_url, [UserSpec(REVIEWER, (Role.REVIEWER,))])
    with serve_on_loopback(create_app(settings)) as url, httpx.Client(base_url=url, timeout=30) as http:
        token = http.post("/auth/token", data={"username": REVIEWER, "password": TEST_PASSWORD}).json()
        http.headers["Authorization"] = f"Bearer {token['access_token']}"
        found = sorted(http.get("/observations", params={"limit": 500}).json()["items"], key=lambda o: o["id"])
        bus = next(o for o in found if o["class_name"] == "bus")
        people = [o for o in found if o["class_name"] == "person"]
        # Two people on frames of their own; a third on the bus's frame (labelled there with the bus).
        alone = [o for o in people if sum(p["frame_url"] == o["frame_url"] for p in found) == 1]
        beside_bus = [o for o in people if o["frame_url"] == bus["frame_url"]]
        assert len(alone) >= 2 and beside_bus, found
        confirmed, emptied = alone[:2]
        moved = beside_bus[0]
        frame = http.get(f"/observations/{bus['id']}/labels").json()
        width, height = frame["width"], frame["height"]
        video = http.get(f"/videos/{bus['video_id']}").json()

        expected: dict[str, tuple[list[tuple[str, tuple[float, ...]]], list[int]]] = {}

        def sha(obs: dict[str, Any]) -> str:
            return str(obs["frame_url"]).removeprefix("/evidence/")

        confirm = _post(http, confirmed["id"], kind="confirm")
        missed_box = (5.5, 300.25, 60.0, 355.0)
        missed = _post(http, confirmed["id"], kind="add_missed", box=list(missed_box), class_name="trashbag")
        expected[sha(confirmed)] = ([("person", tuple(confirmed["bbox"])), ("trash_bag", missed_box)],
                                    [confirm["id"], missed["id"]])
        first = _post(http, moved["id"], kind="adjust_box", box=[10, 20, 200, 300])
        final_box = (12.25, 30.5, 190.75, 350.0)
        second = _post(http, moved["id"], kind="adjust_box", box=list(final_box))
        relabel = _post(http, bus["id"], kind="relabel", class_name="truck")
        expected[sha(bus)] = ([("person", final_box), ("truck", tuple(bus["bbox"]))],
                              [first["id"], second["id"], relabel["id"]])
        before = _post(http, emptied["id"], kind="confirm")
        empty = _post(http, emptied["id"], kind="empty_frame")   # clears the confirmation before it
        expected[sha(emptied)] = ([], [empty["id"]])
        assert before["id"] < empty["id"]
    yield Labelled(db_url, root / "evidence", (width, height), expected, video["sha256"])


def _export(labelled: Labelled, out: Path, *extra: str) -> Any:
    return runner.invoke(cli, ["dataset", "export", "--since", "2000-01-01", "--out", str(out), "--db",
                               labelled.db_url, "--evidence", str(labelled.evidence), *extra])


def _read_labels(path: Path) -> list[tuple[int, float, float, float, float]]:
    rows = []
    for line in path.read_text().splitlines():
        class_id, cx, cy, w, h = line.split()
        rows.append((int(class_id), float(cx), float(cy), float(w), float(h)))
    return sorted(rows)


def _normalised(class_id: int, box: tuple[float, ...], width: int, height: int) -> tuple[int, float, float, float,
                                                                                          float]:
    x1, y1, x2, y2 = box
    return class_id, (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height


def test_export_writes_exactly_the_corrected_boxes_and_classes(labelled: Labelled, tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    result = _export(labelled, out, "--val-share", "0.5")
    assert result.exit_code == 0, result.output

    data = yaml.safe_load((out / "data.yaml").read_text())
    names = list(data["names"].values())
    assert names == list(dataset_classes(load_taxonomy(DEFAULT_TAXONOMY), DEFAULT_MODEL).names)
    assert names[:3] == ["person", "bicycle", "car"] and "streetwatch-v1" in data["class_order"]
    assert (data["train"], data["val"], data["nc"]) == ("images/train", "images/val", len(names))

    with (out / "manifest.csv").open() as handle:
        manifest = {row["evidence_sha256"]: row for row in csv.DictReader(handle)}
    assert set(manifest) == set(labelled.expected)  # every labelled frame, and no other
    assert {row["split"] for row in manifest.values()} in ({"train"}, {"val"})  # one video: one split
    width, height = labelled.frame_size
    for frame_sha, (objects, label_ids) in labelled.expected.items():
        row = manifest[frame_sha]
        assert row["video_sha256"] == labelled.video_sha256 and row["model_names"] == DEFAULT_MODEL.stem
        assert row["label_ids"] == " ".join(map(str, label_ids)) and int(row["boxes"]) == len(objects)
        image = out / row["image"]
        assert hashlib.sha256(image.read_bytes()).hexdigest() == frame_sha  # the evidence, byte for byte
        got = _read_labels(out / "labels" / row["split"] / f"{frame_sha}.txt")
        want = sorted(_normalised(names.index(c), box, width, height) for c, box in objects)
        assert len(got) == len(want), (got, want)
        for g, w in zip(got, want, strict=True):
            assert g[0] == w[0] and all(abs(a - b) <= TOLERANCE for a, b in zip(g[1:], w[1:], strict=True)), (g, w)
    assert len(list((out / "labels").rglob("*.txt"))) == len(labelled.expected)


def test_export_since_after_the_labels_is_empty_and_out_must_be_new(labelled: Labelled, tmp_path: Path) -> None:
    out = tmp_path / "later"
    result = runner.invoke(cli, ["dataset", "export", "--since", "2999-01-01T00:00+08:00", "--out", str(out),
                                 "--db", labelled.db_url, "--evidence", str(labelled.evidence)])
    assert result.exit_code == 0, result.output
    assert list((out / "images").rglob("*.jpg")) == [] and (out / "manifest.csv").read_text().count("\n") == 1
    again = _export(labelled, out)
    assert again.exit_code == 2 and "is not an empty folder" in again.output


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "last tuesday"], "ISO 8601"),
    (["--since", "2000-01-01", "--val-share", "1.5"], "--val-share must be within [0, 1)"),
])
def test_export_refuses_bad_options(labelled: Labelled, tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["dataset", "export", "--out", str(tmp_path / "x"), "--db", labelled.db_url,
                                 "--evidence", str(labelled.evidence), *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "x").exists()


def test_a_missing_evidence_file_is_named(labelled: Labelled, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["dataset", "export", "--since", "2000-01-01", "--out", str(tmp_path / "x"),
                                 "--db", labelled.db_url, "--evidence", str(tmp_path / "elsewhere")])
    assert result.exit_code == 2 and "is missing at" in result.output, result.output
    assert EvidenceStore(labelled.evidence).path_for(next(iter(labelled.expected))).is_file()
