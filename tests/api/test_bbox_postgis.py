"""``bbox=`` over HTTP, on SQLite and on PostGIS: the lists and the GeoJSON export return the rows whose
stored position lies in the box (edges included), worked out here from lat/lon."""

from __future__ import annotations

import random
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from streetwatch.api.app import create_app
from streetwatch.core.settings import Settings
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.evidence import EvidenceStore
from streetwatch.store.models import Case, Observation, Violation
from tests.api.auth_support import STANDARD_USERS, TEST_AUTH_SECRET, add_users_at
from tests.store.sightings import T0, Sighting, commit_sightings


def _inside(lat: float | None, lon: float | None, box: tuple[float, float, float, float]) -> bool:
    return lat is not None and lon is not None and box[0] <= lon <= box[2] and box[1] <= lat <= box[3]


def test_bbox_lists_and_export_over_http(spatial_db_url: str, tmp_path: Path) -> None:
    rng = random.Random(3)
    engine = make_engine(spatial_db_url)
    try:
        factory = make_session_factory(engine)
        for v in range(2):
            sightings = [Sighting(rng.choice(["parking", "garbage"]), rng.uniform(-300.0, 300.0),
                                  rng.uniform(-300.0, 300.0), T0 + v * 3600.0 + k) for k in range(15)]
            commit_sightings(factory, EvidenceStore(tmp_path / "evidence"), f"v{v}.mp4", sightings)
        with factory() as session:
            rows = {model.__name__: [(r.id, r.lat, r.lon) for r in session.scalars(select(model))]
                    for model in (Observation, Violation, Case)}
    finally:
        engine.dispose()
    users = add_users_at(spatial_db_url, [spec for spec in STANDARD_USERS if spec.username == "admin"])
    settings = Settings(db_url=spatial_db_url, evidence_dir=tmp_path / "evidence", auth_secret=TEST_AUTH_SECRET)

    # One box around the middle; one whose west and south edges sit exactly on a stored violation.
    _, edge_lat, edge_lon = sorted(rows["Violation"], key=lambda r: r[0])[0]
    boxes = [(121.4720, 31.2290, 121.4755, 31.2315), (edge_lon, edge_lat, edge_lon + 0.003, edge_lat + 0.003)]
    with TestClient(create_app(settings)) as client:
        client.headers.update(users["admin"].headers())
        for box in boxes:
            query = {"bbox": ",".join(repr(x) for x in box), "limit": 500}
            for path, model in (("/violations", "Violation"), ("/cases", "Case"), ("/observations", "Observation")):
                response = client.get(path, params=query)
                assert response.status_code == 200, response.text
                got = sorted(item["id"] for item in response.json()["items"])
                expected = sorted(i for i, lat, lon in rows[model] if _inside(lat, lon, box))
                assert got == expected, (path, box)
                assert expected, (path, box)   # the box holds rows
            export = client.get("/exports/violations.geojson", params={"bbox": query["bbox"]})
            assert export.status_code == 200, export.text
            exported = sorted(f["properties"]["id"] for f in export.json()["features"])
            assert exported == sorted(i for i, lat, lon in rows["Violation"] if _inside(lat, lon, box))
