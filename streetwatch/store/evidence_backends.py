"""The one place evidence stores are built: a local folder or an ``s3://bucket/prefix``.

Every command and the API build their store here (:func:`evidence_store_for` from the settings,
:func:`open_evidence_store` from a location), so all of them accept both kinds of location:
``--evidence /srv/evidence`` or ``--evidence s3://city-evidence/streetwatch`` (or
``STREETWATCH_EVIDENCE_DIR``). For S3, ``STREETWATCH_S3_ENDPOINT_URL`` names a server that is not
AWS (MinIO, Ceph, moto) and ``STREETWATCH_S3_REGION`` the region; credentials come from the
standard AWS variables, profile or instance role.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streetwatch.core.settings import Settings
from streetwatch.store.evidence import EvidenceBackend, EvidenceStore
from streetwatch.store.evidence_s3 import S3_SCHEME, S3EvidenceStore, make_s3_client

__all__ = ["evidence_store_for", "is_s3_location", "open_evidence_store"]


def is_s3_location(location: Path | str) -> bool:
    """Whether an evidence location is an ``s3://`` URL (the settings normalise the ``s3:/`` a Path leaves)."""
    return str(location).startswith(S3_SCHEME)


def open_evidence_store(
    location: Path | str, *, endpoint_url: str | None = None, region: str | None = None, client: Any = None,
) -> EvidenceBackend:
    """The evidence store at ``location``.

    Args:
        location: A folder, or ``s3://bucket[/prefix]``.
        endpoint_url: For S3: the server's URL when it is not AWS.
        region: For S3: the region (else the AWS default chain's).
        client: For S3: a boto3 client to use instead of making one.

    Raises:
        S3ConfigError: An ``s3://`` location without a bucket, or boto3 not installed.
    """
    if is_s3_location(location):
        return S3EvidenceStore(str(location), client or make_s3_client(endpoint_url, region))
    return EvidenceStore(Path(location))


def evidence_store_for(settings: Settings) -> EvidenceBackend:
    """The evidence store the settings name (``evidence_dir``, ``s3_endpoint_url``, ``s3_region``)."""
    return open_evidence_store(settings.evidence_dir, endpoint_url=settings.s3_endpoint_url,
                               region=settings.s3_region)
