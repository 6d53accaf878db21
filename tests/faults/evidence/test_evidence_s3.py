"""Dispatch with evidence in S3: a case is dispatched only when every image is in the bucket and hashes to its name.

The seeded evidence folder is copied into a bucket of moto's S3 server on 127.0.0.1 under the same
relative keys (as ``aws s3 sync`` would), and the app reads evidence from the bucket only.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from streetwatch.api.app import create_app
from streetwatch.core.settings import Settings
from tests.api.auth_support import TestUser
from tests.api.seed import SeedData
from tests.faults.evidence.test_evidence_integrity import audit_actions, filed_case
from tests.s3_fixtures import S3Server

PREFIX = "city/evidence/"


@pytest.fixture
def s3_app(settings: Settings, seed: SeedData, users: dict[str, TestUser], s3_server: S3Server,
           s3_bucket: str) -> Iterator[tuple[TestClient, Any, str]]:
    """A client (signed in as the admin) of an app whose evidence is in the bucket; the folder is gone."""
    client = s3_server.client()
    for path in sorted(seed.evidence_dir.rglob("*.jpg")):
        client.put_object(Bucket=s3_bucket, Key=PREFIX + path.relative_to(seed.evidence_dir).as_posix(),
                          Body=path.read_bytes())
    shutil.rmtree(seed.evidence_dir)  # so that nothing can be read from it by mistake
    on_s3 = settings.model_copy(update={"evidence_dir": f"s3://{s3_bucket}/{PREFIX}",
                                        "s3_endpoint_url": s3_server.endpoint_url})
    with TestClient(create_app(on_s3)) as test_client:
        test_client.headers.update(users["admin"].headers())
        yield test_client, client, s3_bucket


def key_of(sha: str) -> str:
    return f"{PREFIX}{sha[:2]}/{sha[2:4]}/{sha}.jpg"


def test_dispatch_reads_the_bucket_and_refuses_a_tampered_object(
    s3_app: tuple[TestClient, Any, str], seed: SeedData, session: Session,
) -> None:
    client, s3, bucket = s3_app
    case_id, violation_id = filed_case(client, session)
    frame = next(o.frame_sha256 for o in seed.observations if o.violation_id == violation_id)
    original = s3.get_object(Bucket=bucket, Key=key_of(frame))["Body"].read()
    s3.put_object(Bucket=bucket, Key=key_of(frame), Body=original[:-1] + bytes([original[-1] ^ 1]))

    refused = client.post(f"/cases/{case_id}/transition", json={"action": "dispatch"})

    assert refused.status_code == 409, refused.text
    assert f"s3://{bucket}/{key_of(frame)}" in refused.json()["detail"]
    assert audit_actions(session)[-2:] == [("case.dispatch_refused", str(case_id)), ("evidence.mismatch", frame)]
    assert client.get(f"/evidence/{frame}").status_code == 409

    s3.put_object(Bucket=bucket, Key=key_of(frame), Body=original)  # restored: the dispatch goes ahead
    sent = client.post(f"/cases/{case_id}/transition", json={"action": "dispatch"})
    assert sent.status_code == 200 and sent.json()["case"]["status"] == "dispatched", sent.text
    assert client.get(f"/evidence/{frame}").content == original


def test_dispatch_refuses_a_case_whose_object_is_missing(
    s3_app: tuple[TestClient, Any, str], seed: SeedData, session: Session,
) -> None:
    client, s3, bucket = s3_app
    case_id, violation_id = filed_case(client, session)
    crop = next(o.crop_sha256 for o in seed.observations if o.violation_id == violation_id)
    s3.delete_object(Bucket=bucket, Key=key_of(crop))

    refused = client.post(f"/cases/{case_id}/transition", json={"action": "dispatch"})

    assert refused.status_code == 409 and f"evidence {crop} is missing" in refused.json()["detail"], refused.text
    assert audit_actions(session)[-2:] == [("case.dispatch_refused", str(case_id)), ("evidence.missing", crop)]
    assert client.get(f"/evidence/{crop}").status_code == 404
