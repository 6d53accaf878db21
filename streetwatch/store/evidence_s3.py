"""Evidence images in S3-compatible object storage (AWS S3, MinIO, Ceph RGW, moto), through boto3.

The layout is the local folder's: the image with sha256 ``abcd...`` is the object
``<prefix>/ab/cd/abcd....jpg`` of the bucket, so a folder synced to a bucket (``aws s3 sync evidence
s3://bucket/evidence``) is a valid store and the other way round. The checks are the folder's too:

* :meth:`S3EvidenceStore.put` refuses bytes that do not hash to their name, and writes the object in
  one PUT (an S3 object appears whole or not at all, so there is no temporary name to rename). It
  always writes: a PUT of the same bytes under the same key is harmless, and it repairs an object
  that was damaged or replaced, as writing a file again does.
* :meth:`S3EvidenceStore.read_verified` and :meth:`S3EvidenceStore.check` hash the bytes they read;
  :meth:`S3EvidenceStore.scan` lists every object under the prefix and hashes each one.

Credentials and the region come the standard way (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, a profile or an instance role); the endpoint of a server that is not AWS
from ``STREETWATCH_S3_ENDPOINT_URL`` (see :func:`streetwatch.store.evidence_backends.evidence_store_for`).
boto3 is the ``s3`` extra: ``pip install "streetwatch[s3]"``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from streetwatch.core.errors import ConfigurationError
from streetwatch.core.types import EvidenceImage
from streetwatch.core.vocab import EvidenceFault
from streetwatch.store.evidence import (
    JPEG_MEDIA_TYPE,
    EvidenceMismatchError,
    EvidenceProblem,
    check_image_data,
    evidence_key,
    is_evidence_key,
    scan_store,
    sha256_hex,
)

S3_SCHEME = "s3://"
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class S3ConfigError(ConfigurationError, ValueError):
    """An ``s3://`` location that names no bucket, or boto3 missing."""


def parse_s3_location(location: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` as ``("bucket", "some/prefix/")`` (the prefix empty or ending in ``/``).

    Raises:
        S3ConfigError: If it is not an ``s3://`` URL with a bucket.
    """
    if not location.startswith(S3_SCHEME):
        raise S3ConfigError(f"expected an S3 location like s3://bucket/prefix, got {location!r}")
    bucket, _, prefix = location[len(S3_SCHEME):].partition("/")
    if not bucket:
        raise S3ConfigError(f"the S3 location {location!r} names no bucket: use s3://bucket or s3://bucket/prefix")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def make_s3_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A boto3 S3 client; ``endpoint_url`` for a server that is not AWS (MinIO, moto, Ceph).

    Raises:
        S3ConfigError: If boto3 is not installed.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise S3ConfigError('evidence in S3 needs boto3: pip install "streetwatch[s3]"') from None
    # Path-style addressing: what MinIO-like servers on a plain host:port understand.
    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"})
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


class S3EvidenceStore:
    """Evidence JPEGs as objects ``<prefix>ab/cd/<sha256>.jpg`` in one bucket.

    Args:
        location: ``s3://bucket`` or ``s3://bucket/prefix``.
        client: A boto3 S3 client (:func:`make_s3_client`).
    """

    def __init__(self, location: str, client: Any) -> None:
        self.bucket, self.prefix = parse_s3_location(location)
        self.client = client

    @property
    def location(self) -> str:
        """``s3://bucket/prefix``, for messages."""
        return f"{S3_SCHEME}{self.bucket}/{self.prefix}".rstrip("/")

    def key_for(self, sha256: str) -> str:
        """The object key of the image with this sha256.

        Raises:
            ValueError: If ``sha256`` is not 64 lowercase hex digits.
        """
        return self.prefix + evidence_key(sha256)

    def where(self, sha256: str) -> str:
        """The image's ``s3://`` URL, whether or not it exists."""
        return f"{S3_SCHEME}{self.bucket}/{self.key_for(sha256)}"

    def exists(self, sha256: str) -> bool:
        """Whether an object is stored under this sha256 (its bytes are not checked)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def put(self, image: EvidenceImage) -> str:
        """Store an image in one PUT; see the module docstring.

        Returns:
            The object's ``s3://`` URL.

        Raises:
            EvidenceIntegrityError: If the bytes do not hash to ``image.sha256``.
            ValueError: If the image is not a JPEG.
        """
        check_image_data(image)
        self.client.put_object(Bucket=self.bucket, Key=self.key_for(image.sha256), Body=image.data,
                               ContentType=JPEG_MEDIA_TYPE, Metadata={"sha256": image.sha256})
        return self.where(image.sha256)

    def open(self, sha256: str) -> bytes:
        """The bytes of a stored image.

        Raises:
            FileNotFoundError: If no object is stored under this sha256.
        """
        from botocore.exceptions import ClientError

        key = self.key_for(sha256)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(f"no evidence image {sha256} in {self.location} "
                                        f"(looked for {self.where(sha256)})") from None
            raise
        data: bytes = response["Body"].read()
        return data

    def read_verified(self, sha256: str) -> bytes:
        """The bytes of a stored image, after checking that they still hash to ``sha256``.

        Raises:
            FileNotFoundError: If no object is stored under this sha256.
            EvidenceMismatchError: If its bytes hash to something else.
        """
        data = self.open(sha256)
        actual = sha256_hex(data)
        if actual != sha256:
            raise EvidenceMismatchError(sha256, actual, self.where(sha256))
        return data

    def check(self, sha256: str) -> EvidenceProblem | None:
        """What is wrong with the stored image of this sha256, or None when it is present and intact."""
        try:
            actual = sha256_hex(self.open(sha256))
        except FileNotFoundError:
            return EvidenceProblem(sha256, EvidenceFault.MISSING, self.where(sha256))
        if actual != sha256:
            return EvidenceProblem(sha256, EvidenceFault.MISMATCH, self.where(sha256), actual)
        return None

    def files(self) -> Iterator[tuple[str, str]]:
        """Every evidence object under the prefix as ``(name's sha256, s3:// URL)``, in key order.

        Only objects at the key their name gives are evidence; anything else in the bucket is left out.
        """
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:  # S3 lists keys in UTF-8 byte order
            for item in page.get("Contents", ()):
                relative = item["Key"][len(self.prefix):]
                if is_evidence_key(relative):
                    yield relative.rsplit("/", 1)[-1].removesuffix(".jpg"), f"{S3_SCHEME}{self.bucket}/{item['Key']}"

    def scan(self, recorded: Iterable[str]) -> list[EvidenceProblem]:
        """Check every recorded image and every object under the prefix (see :meth:`EvidenceStore.scan`)."""
        return scan_store(self, recorded, self._hash_url)

    def _hash_url(self, url: object) -> str:
        key = str(url)[len(S3_SCHEME) + len(self.bucket) + 1:]
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        digest = hashlib.sha256()
        for chunk in body.iter_chunks(1 << 20):
            digest.update(chunk)
        return digest.hexdigest()


def _is_missing(exc: Exception) -> bool:
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code")) in _MISSING_CODES
