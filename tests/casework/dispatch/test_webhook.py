"""Webhook signatures: what we sign, and every way a receiver's check can fail."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from streetwatch.casework.dispatch.webhook import SignatureError, sign, signed_headers, verify_signature

SECRET = "s3cret-for-tests"
EVENT = "7c9e6679-7425-5de0-9d52-8a1b3c4d5e6f"
BODY = b'{"id":"7c9e6679","payload":{"case_id":1}}'
NOW = 1_800_000_000


def test_signature_is_hmac_sha256_of_id_timestamp_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{EVENT}.{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, EVENT, NOW, BODY) == "sha256=" + expected
    headers = signed_headers(SECRET, EVENT, BODY, timestamp=NOW)
    assert headers["X-Streetwatch-Event-Id"] == EVENT
    assert headers["X-Streetwatch-Timestamp"] == str(NOW)
    assert headers["X-Streetwatch-Signature"] == "sha256=" + expected


GOOD = {"event_id": EVENT, "timestamp": str(NOW), "signature": sign(SECRET, EVENT, NOW, BODY), "body": BODY}


@pytest.mark.parametrize(
    ("change", "now", "message"),
    [
        ({}, NOW, None),
        ({}, NOW + 299, None),                                                   # inside the window
        ({}, NOW + 301, "from now; the tolerance is"),                           # too old: a replay
        ({}, NOW - 301, "from now; the tolerance is"),                           # from the future
        ({"body": BODY + b" "}, NOW, "does not match"),                          # body changed
        ({"event_id": EVENT.replace("7", "8")}, NOW, "does not match"),          # relabelled
        ({"timestamp": str(NOW + 1)}, NOW, "does not match"),                    # timestamp changed
        ({"signature": sign("other", EVENT, NOW, BODY)}, NOW, "does not match"),  # wrong secret
        ({"signature": "md5=abc"}, NOW, "must start with 'sha256='"),
        ({"signature": None}, NOW, "missing header.*Signature"),
        ({"event_id": ""}, NOW, "missing header.*Event-Id"),
        ({"timestamp": "yesterday"}, NOW, "integer Unix seconds"),
    ],
)
def test_verify_signature(change: dict[str, object], now: int, message: str | None) -> None:
    arguments = {**GOOD, **change}
    if message is None:
        verify_signature(SECRET, now=now, **arguments)  # type: ignore[arg-type]
        return
    with pytest.raises(SignatureError, match=message):
        verify_signature(SECRET, now=now, **arguments)  # type: ignore[arg-type]
