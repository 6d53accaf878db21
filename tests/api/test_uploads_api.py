"""``POST /uploads`` over real HTTP (uvicorn on 127.0.0.1): a car sends footage and its GPS sidecar.

Each test serves the seeded database with a small upload limit and its own uploads folder, and
authenticates as a car: a user with the uploader role and an API key, made with ``streetwatch users``.
The hang-up case writes raw bytes to the socket, as a car that loses its connection does.
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from streetwatch.api.app import create_app
from streetwatch.cli.user_commands import users_app
from streetwatch.core.settings import Settings
from streetwatch.pipeline.watch import DepotWatcher, WatchState
from streetwatch.store.db import make_engine, make_session_factory
from streetwatch.store.models_uploads import Upload
from streetwatch.store.models_workflow import AuditEntry
from tests.api.auth_support import TEST_PASSWORD, TestUser
from tests.live_server import serve_on_loopback

LIMIT = 256 * 1024
runner = CliRunner()


@dataclass(frozen=True, slots=True)
class Depot:
    url: str
    uploads: Path
    db_url: str
    car_key: str


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def depot(settings: Settings, tmp_path: Path) -> Iterator[Depot]:
    # The car's account and key, made as an operator would: with `streetwatch users`.
    added = runner.invoke(users_app, ["add", "car-0042", "--role", "uploader", "--password-stdin",
                                      "--db", settings.db_url], input=TEST_PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    made = runner.invoke(users_app, ["api-key", "create", "car-0042", "dashcam", "--db", settings.db_url])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    uploads = tmp_path / "depot" / "uploads"
    served = settings.model_copy(update={"uploads_dir": uploads, "upload_max_bytes": LIMIT})
    with serve_on_loopback(create_app(served)) as url:
        yield Depot(url, uploads, settings.db_url, key)


@pytest.fixture
def car(depot: Depot) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=depot.url, timeout=20, headers={"X-API-Key": depot.car_key}) as http:
        yield http


def send(http: httpx.Client, data: bytes, filename: str = "20261202-0930.mp4", *, declared: str | None = None,
         **params: str) -> httpx.Response:
    return http.post("/uploads", params={"filename": filename, **params}, content=data,
                     headers={"X-Content-SHA256": declared or sha(data), "Content-Type": "application/octet-stream"})


def rows(depot: Depot) -> tuple[list[Upload], list[AuditEntry]]:
    engine = make_engine(depot.db_url)
    with make_session_factory(engine)() as session:
        uploads = list(session.scalars(select(Upload).order_by(Upload.id)))
        audits = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "upload.accept")))
        session.expunge_all()
    engine.dispose()
    return uploads, audits


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_video_and_its_sidecar_are_stored_once_and_a_re_upload_is_idempotent(
    depot: Depot, car: httpx.Client, tiny_mp4: Path,
) -> None:
    video = tiny_mp4.read_bytes()
    gpx = b'<?xml version="1.0"?><gpx version="1.1" creator="car-0042"><trk><trkseg/></trk></gpx>\n'
    vsha = sha(video)

    sidecar = send(car, gpx, "20261202-0930.gpx", video_sha256=vsha)  # the sidecar first, as documented
    first = send(car, video)
    stored = depot.uploads / first.json()["stored_as"]
    stamp = stored.stat().st_mtime_ns
    again = send(car, video, "renamed-on-the-car.mp4")

    assert sidecar.status_code == 201, sidecar.text
    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json() | {"created": True} == first.json()  # the same upload: id, name, time
    body = first.json()
    assert (body["sha256"], body["kind"], body["video_sha256"], body["size_bytes"], body["uploaded_by"]) == (
        vsha, "video", vsha, len(video), "car-0042")
    assert body["stored_as"] == f"{vsha[:2]}/{vsha}/{vsha}.mp4"
    assert (depot.uploads / body["stored_as"]).read_bytes() == video
    assert stored.stat().st_mtime_ns == stamp  # not rewritten: the watcher does not see a new file
    assert (depot.uploads / sidecar.json()["stored_as"]).read_bytes() == gpx
    assert files_under(depot.uploads) == [f"{vsha[:2]}/{vsha}/{vsha}.gpx", f"{vsha[:2]}/{vsha}/{vsha}.mp4"]
    uploads, audits = rows(depot)
    assert [(u.kind, u.sha256, u.filename) for u in uploads] == [
        ("gps", sha(gpx), "20261202-0930.gpx"), ("video", vsha, "20261202-0930.mp4")]
    assert sorted(a.entity_id for a in audits) == sorted(str(u.id) for u in uploads)  # one audit entry each
    assert {a.actor for a in audits} == {"car-0042"}

    # The depot watcher sees the video with its sidecar, and nothing of the upload in progress.
    watcher = DepotWatcher(depot.uploads, lambda _: None, WatchState(depot.uploads.parent / "state.json"),  # type: ignore[arg-type,return-value]
                           stable_s=0)
    assert [p.relative_to(depot.uploads).as_posix() for p in watcher.videos()] == [body["stored_as"]]
    assert watcher._sidecars(depot.uploads / body["stored_as"]) == [depot.uploads / sidecar.json()["stored_as"]]


def test_an_oversized_upload_is_refused_before_it_is_read(depot: Depot, car: httpx.Client) -> None:
    data = bytes(LIMIT + 1)

    response = send(car, data)

    assert response.status_code == 413, response.text
    assert response.json()["detail"] == (f"the file has {LIMIT + 1} bytes, more than the upload limit of {LIMIT} "
                                         "bytes (STREETWATCH_UPLOAD_MAX_BYTES)")
    assert files_under(depot.uploads) == [] and rows(depot) == ([], [])
    # Under its own limit, an upload is not held to the API's 1 MiB body limit's message either.
    assert send(car, bytes(LIMIT)).status_code == 201


def test_a_truncated_upload_is_refused_and_nothing_is_kept(depot: Depot, car: httpx.Client, tiny_mp4: Path) -> None:
    video = tiny_mp4.read_bytes()

    response = send(car, video[: len(video) // 2], declared=sha(video))

    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    half = video[: len(video) // 2]
    assert f"received {len(half)} of {len(half)} bytes, hashing to {sha(half)}" in detail
    assert f"not the declared X-Content-SHA256 {sha(video)}" in detail and "nothing was kept" in detail
    assert files_under(depot.uploads) == [] and rows(depot) == ([], [])
    assert send(car, video).status_code == 201  # the whole file is then taken


def test_a_car_that_hangs_up_mid_upload_leaves_nothing(depot: Depot, car: httpx.Client, tiny_mp4: Path) -> None:
    video = tiny_mp4.read_bytes()
    host, port = depot.url.removeprefix("http://").split(":")
    head = (f"POST /uploads?filename=clip.mp4 HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {depot.car_key}\r\n"
            f"X-Content-SHA256: {sha(video)}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {len(video)}\r\n\r\n").encode()
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(head + video[: len(video) // 3])
        deadline = time.monotonic() + 10
        while not files_under(depot.uploads) and time.monotonic() < deadline:  # the partial file appears ...
            time.sleep(0.02)
        assert [name.split("/")[0] for name in files_under(depot.uploads)] == [".incoming"]
    deadline = time.monotonic() + 10
    while files_under(depot.uploads) and time.monotonic() < deadline:  # ... and goes with the connection
        time.sleep(0.05)

    assert files_under(depot.uploads) == [] and rows(depot) == ([], [])
    assert send(car, video).status_code == 201


@pytest.mark.parametrize(("headers", "status", "message"), [
    pytest.param({}, 401, "not authenticated", id="no-credentials"),
    pytest.param({"X-API-Key": "sw_not-a-key"}, 401, "invalid or revoked API key", id="bad-key"),
])
def test_an_unauthenticated_upload_is_refused(depot: Depot, headers: dict[str, str], status: int,
                                              message: str) -> None:
    with httpx.Client(base_url=depot.url, timeout=20, headers=headers) as http:
        response = send(http, b"x" * 2048)
    assert response.status_code == status and message in response.json()["detail"], response.text
    assert files_under(depot.uploads) == []


def test_only_uploaders_and_admins_upload_and_an_uploader_does_nothing_else(
    depot: Depot, car: httpx.Client, users: dict[str, TestUser],
) -> None:
    with httpx.Client(base_url=depot.url, timeout=20, headers=users["reviewer"].headers()) as reviewer:
        refused = send(reviewer, b"r" * 2048)
    with httpx.Client(base_url=depot.url, timeout=20, headers=users["admin"].headers()) as admin:
        accepted = send(admin, b"a" * 2048)

    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == "needs role uploader (or admin) to upload; 'reviewer' has reviewer"
    assert accepted.status_code == 201 and accepted.json()["uploaded_by"] == "admin"
    for path in ("/violations", "/cases", "/videos", "/auth/me"):
        response = car.get(path)
        assert response.status_code == 403, (path, response.text)
        assert "may only send footage" in response.json()["detail"]


@pytest.mark.parametrize(("params", "headers", "status", "message"), [
    pytest.param({"filename": "clip.exe"}, {}, 422, ".exe is neither a video", id="unknown-suffix"),
    pytest.param({"filename": "../clip.mp4"}, {}, 422, "must be a plain file name", id="path-in-name"),
    pytest.param({"filename": "clip.gpx"}, {}, 422, "needs video_sha256", id="sidecar-without-video"),
    pytest.param({"filename": "clip.mp4"}, {"X-Content-SHA256": "ABC"}, 422, "X-Content-SHA256", id="bad-hash"),
    pytest.param({"filename": "clip.mp4"}, {"X-Content-SHA256": None}, 422, "X-Content-SHA256", id="no-hash"),
])
def test_malformed_uploads_are_refused(depot: Depot, car: httpx.Client, params: dict[str, str],
                                       headers: dict[str, str | None], status: int, message: str) -> None:
    data = b"v" * 2048
    sent = {"X-Content-SHA256": sha(data)} | headers
    response = car.post("/uploads", params=params, content=data,
                        headers={k: v for k, v in sent.items() if v is not None})
    assert response.status_code == status and message.lower() in response.text.lower(), response.text
    assert files_under(depot.uploads) == []


def test_a_chunked_upload_without_a_length_is_refused(depot: Depot, car: httpx.Client) -> None:
    data = b"c" * 4096
    response = car.post("/uploads", params={"filename": "clip.mp4"}, content=iter([data[:2048], data[2048:]]),
                        headers={"X-Content-SHA256": sha(data)})
    assert response.status_code == 411, response.text
    assert files_under(depot.uploads) == []
