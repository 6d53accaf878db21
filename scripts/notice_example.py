"""Write docs/images/notice-example.png: the first page of a real notice, as the PDF renders it.

Run from the repository root (it uses the notice tests' case builder, and Debian's pdftoppm):

    python scripts/notice_example.py [OUT.png]

The case: a parking violation at the sample zones' bus stop on Renmin Rd, filed at 10:00 and
dispatched at 10:20 on a Monday (Asia/Shanghai). Its evidence frame is Ultralytics' bundled bus.jpg,
standing in for a patrol frame, with the bundled detector's box around the bus; the notice prints it
blurred (faces and plates), as every image that leaves the system.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streetwatch.casework import case_workflow  # noqa: E402
from streetwatch.casework.config import load_workflow_config  # noqa: E402
from streetwatch.casework.notice_config import load_notices  # noqa: E402
from streetwatch.casework.notices import issue_notice  # noqa: E402
from streetwatch.core.settings import DEFAULT_TAXONOMY, get_settings  # noqa: E402
from streetwatch.core.taxonomy import load_taxonomy  # noqa: E402
from streetwatch.datasets.demo import demo_image_path  # noqa: E402
from streetwatch.pipeline.run import detector_config  # noqa: E402
from streetwatch.store.db import make_engine, make_session_factory, upgrade  # noqa: E402
from streetwatch.store.evidence import EvidenceStore  # noqa: E402
from streetwatch.vision.detector import build_detector  # noqa: E402
from tests.casework import notice_builders  # noqa: E402

ZONES = REPO / "models" / "zones" / "sample-zones.geojson"
NOTICES = REPO / "models" / "workflow" / "notices.yaml"


def main(out: Path) -> None:
    image = cv2.imread(str(demo_image_path()))
    assert image is not None
    found = build_detector(detector_config(get_settings())).detect([image])[0]
    names = [str(n) for n in found.data.get("class_name", [])]
    bus = next((tuple(float(v) for v in box) for box, name in zip(found.xyxy, names, strict=False) if name == "bus"),
               (0.0, 230.0, 810.0, 740.0))
    # The builder draws its own frame: give it this one, and the bus's box.
    notice_builders.frame_image = lambda seed: image  # type: ignore[assignment]
    notice_builders.BBOX = bus  # type: ignore[assignment]
    config = load_workflow_config(10.0, [ZONES])
    with tempfile.TemporaryDirectory() as root:
        url = f"sqlite:///{root}/notice.db"
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        evidence = EvidenceStore(Path(root) / "evidence")
        case_id = notice_builders.add_filed_case(factory, evidence.root, config,
                                                 extra={"address": "人民路 100 号（公交站）"})
        with factory() as session:
            case_workflow.transition_case(session, case_id, "dispatch", actor="dispatcher1",
                                          roles=frozenset({"dispatcher"}), config=config,
                                          now=notice_builders.FILED_AT + timedelta(minutes=20))
            session.commit()
            issued = issue_notice(session, case_id, actor="dispatcher1", taxonomy=load_taxonomy(DEFAULT_TAXONOMY),
                                  config=config, notices=load_notices(NOTICES), evidence=evidence)
            session.commit()
            pdf = Path(root) / "notice.pdf"
            pdf.write_bytes(issued.notice.pdf)
        engine.dispose()
        stem = Path(root) / "page"
        subprocess.run(["pdftoppm", "-r", "100", "-png", "-singlefile", str(pdf), str(stem)], check=True)
        out.write_bytes(stem.with_suffix(".png").read_bytes())
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images" / "notice-example.png")
