"""The app served by uvicorn for real on 127.0.0.1, queried with httpx over TCP."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from streetwatch.api.app import create_app
from streetwatch.core.settings import Settings
from tests.api.auth_support import login
from tests.api.seed import SeedData
from tests.live_server import serve_on_loopback


@pytest.fixture
def live_url(settings: Settings) -> Iterator[str]:
    # Bind the socket ourselves (port 0: the OS picks a free one) so there is no race for the port.
    with serve_on_loopback(create_app(settings)) as url:
        yield url


def test_real_server_answers(live_url: str, seed: SeedData) -> None:
    with httpx.Client(base_url=live_url, timeout=10) as http:
        assert http.get("/health").json() == {"status": "ok", "db": "ok"}
        assert http.get("/violations").status_code == 401
        http.headers.update(login(http, "reviewer"))  # a real password sign-in over TCP

        ids: list[int] = []
        cursor: str | None = None
        while True:
            page = http.get(
                "/violations", params={"limit": 10} | ({"cursor": cursor} if cursor else {})
            ).json()
            ids += [item["id"] for item in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert ids == sorted((v.id for v in seed.violations), reverse=True)

        detail = http.get(f"/violations/{ids[0]}").json()
        image = http.get(detail["crop_url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        assert hashlib.sha256(image.content).hexdigest() == detail["crop_url"].rsplit("/", 1)[1]
        assert image.headers["etag"] == f'"{hashlib.sha256(image.content).hexdigest()}"'

        claimed = http.post("/review/claim", json={"n": 1, "lease_minutes": 5})  # a reviewer decides on a lease
        assert claimed.status_code == 200, claimed.text
        (item,) = claimed.json()["items"]
        pending = next(v for v in seed.violations if v.id == item["id"])
        assert pending.status == "pending"
        decided = http.post(f"/violations/{pending.id}/decision", json={"action": "approve"})
        assert decided.status_code == 200 and decided.json()["status"] == "approved"
        assert decided.json()["decisions"][-1]["reviewer"] == "reviewer"  # the signed-in user
        assert http.post(f"/violations/{pending.id}/decision", json={"action": "approve"}).status_code == 409

        assert http.get("/evidence/..%2f..%2fstreetwatch.db").status_code == 404
        assert "/violations" in http.get("/openapi.json").json()["paths"]
