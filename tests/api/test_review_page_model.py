"""The review page says which detector found the item (the video's model_name), so a reviewer can tell a
candidate's output from the active model's."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from streetwatch.api.auth import SESSION_COOKIE
from streetwatch.store.models import Observation, Video, Violation
from tests.api.auth_support import TestUser


def test_the_review_page_names_the_model(client: TestClient, session: Session, users: dict[str, TestUser]) -> None:
    cookie = {"Cookie": f"{SESSION_COOKIE}={users['admin'].token()}"}
    first = client.get("/ui/queue/item", headers=cookie)
    assert first.status_code == 200, first.text
    (held,) = set(re.findall(r"/ui/queue/(\d+)/decision", first.text))
    violation = session.get(Violation, int(held))
    assert violation is not None
    observation = session.get(Observation, violation.observation_id)
    assert observation is not None
    video = session.get(Video, observation.video_id)
    assert video is not None and video.model_name
    assert f'<span class="model-name">{video.model_name}</span>' in first.text

    video.model_name = "city-2026-11@v2"
    session.commit()
    page = client.get("/ui/queue/item", params={"id": held}, headers=cookie).text
    assert '<span class="model-name">city-2026-11@v2</span>' in page
