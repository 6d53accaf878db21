"""``streetwatch process --evidence s3://...``: evidence in a real S3-compatible server, served and verified.

A small generated patrol clip is processed into a SQLite database with its evidence in a bucket of
moto's S3 server on 127.0.0.1 (``tests/s3_fixtures.py``); every evidence row must be an object with
matching sha256, the API must serve it from the bucket, and ``audit verify`` must check the bucket.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from streetwatch.api.app import create_app
from streetwatch.cli.main import app
from streetwatch.core.settings import Settings
from streetwatch.store.db import make_engine
from streetwatch.store.models import Evidence
from tests.api.auth_support import STANDARD_USERS, TEST_AUTH_SECRET, add_users_at, login
from tests.s3_fixtures import S3Server

runner = CliRunner()


def bucket_objects(server: S3Server, bucket: str, prefix: str) -> dict[str, str]:
    """The bucket's objects under ``prefix`` as {key: sha256 of its bytes}."""
    client = server.client()
    found: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found[item["Key"]] = hashlib.sha256(body).hexdigest()
    return found


@pytest.mark.slow
def test_process_puts_every_evidence_image_in_the_bucket_and_the_api_serves_it(
    patrol_clip: Path, tmp_path: Path, s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREETWATCH_S3_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.chdir(tmp_path)  # so that a stray local ./evidence folder would show
    url = f"sqlite:///{tmp_path / 'city.db'}"
    location = f"s3://{s3_bucket}/city/evidence"

    result = runner.invoke(app, ["process", str(patrol_clip), "--db", url, "--evidence", location,
                                 "--sample-fps", "2", "--no-progress"])
    assert result.exit_code == 0, result.output

    engine = make_engine(url)
    with engine.connect() as connection:
        recorded = sorted(connection.scalars(select(Evidence.sha256)))
    engine.dispose()
    assert recorded, "the clip should give at least one evidence image"
    stored = bucket_objects(s3_server, s3_bucket, "city/evidence/")
    assert stored == {f"city/evidence/{sha[:2]}/{sha[2:4]}/{sha}.jpg": sha for sha in recorded}
    assert not (tmp_path / "evidence").exists() and not list(tmp_path.glob("s3*"))

    add_users_at(url, STANDARD_USERS[:1])
    settings = Settings(db_url=url, evidence_dir=location, s3_endpoint_url=s3_server.endpoint_url,
                        auth_secret=TEST_AUTH_SECRET)
    with TestClient(create_app(settings)) as client:
        client.headers.update(login(client, "admin"))
        served = client.get(f"/evidence/{recorded[0]}")
        assert served.status_code == 200, served.text
        assert hashlib.sha256(served.content).hexdigest() == recorded[0]

        # Tampered with in the bucket: refused (409), as a damaged file is.
        key = f"city/evidence/{recorded[0][:2]}/{recorded[0][2:4]}/{recorded[0]}.jpg"
        s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=served.content[:-7])
        assert client.get(f"/evidence/{recorded[0]}").status_code == 409

    verified = runner.invoke(app, ["audit", "verify", "--db", url, "--evidence", location])
    assert verified.exit_code == 1, verified.output
    assert f"s3://{s3_bucket}/{key}" in "".join(verified.output.split()), verified.output  # rich wraps it

    # An object gone from the bucket is reported missing.
    s3_server.client().delete_object(Bucket=s3_bucket, Key=key)
    verified = runner.invoke(app, ["audit", "verify", "--db", url, "--evidence", location])
    assert verified.exit_code == 1 and "missing" in verified.output, verified.output
