"""A real S3-compatible server for tests: moto's server mode on 127.0.0.1, one per session.

``s3_server`` starts it (an HTTP server on a free port, threaded, in this process) and sets the
AWS variables boto3 reads (fake credentials, a region) for the session; ``s3_bucket`` makes a
fresh bucket per test, so tests never see one another's objects. Nothing leaves the machine.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from streetwatch.store.evidence_s3 import make_s3_client

__all__ = ["S3Server", "s3_bucket", "s3_server"]

_FAKE_AWS = {"AWS_ACCESS_KEY_ID": "streetwatch-test", "AWS_SECRET_ACCESS_KEY": "streetwatch-test-secret",
             "AWS_DEFAULT_REGION": "us-east-1"}


@dataclass(frozen=True, slots=True)
class S3Server:
    """A running S3-compatible server."""

    endpoint_url: str

    def client(self) -> Any:
        return make_s3_client(self.endpoint_url)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    saved = {name: os.environ.get(name) for name in _FAKE_AWS}
    os.environ.update(_FAKE_AWS)  # boto3 and every `streetwatch` a test runs read these
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(f"http://{host}:{port}")
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A new, empty bucket's name."""
    name = f"evidence-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name
