"""Signed webhooks: how streetwatch signs what it POSTs, and how a receiver checks it.

Every webhook is a JSON POST with three headers:

- ``X-Streetwatch-Event-Id``: the event's stable id; the same event always has the same id, so a
  receiver that stores the ids it has handled never acts on one twice (deliveries are at least once).
- ``X-Streetwatch-Timestamp``: when this attempt was signed, Unix seconds.
- ``X-Streetwatch-Signature``: ``sha256=<hex HMAC-SHA256(secret, f"{event_id}.{timestamp}.{body}")>``,
  where ``body`` is the exact request body bytes.

Signing the id and time with the body stops a replayed or re-labelled request: a receiver calls
:func:`verify_signature`, which also refuses timestamps outside a tolerance window (default 5 min).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Final

import httpx

from streetwatch.core.errors import BadInputError, ProcessingError

EVENT_ID_HEADER: Final = "X-Streetwatch-Event-Id"
TIMESTAMP_HEADER: Final = "X-Streetwatch-Timestamp"
SIGNATURE_HEADER: Final = "X-Streetwatch-Signature"
SIGNATURE_SCHEME: Final = "sha256="
DEFAULT_TOLERANCE_S: Final = 300
USER_AGENT: Final = "streetwatch-dispatch/0.1"


class SignatureError(BadInputError, ValueError):
    """A webhook whose signature is missing, malformed, stale or wrong."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the receiver answered: its status code and (for Open311) its id for the request."""

    status_code: int
    remote_ref: str | None = None


class DeliveryError(ProcessingError):
    """A send that failed.

    Attributes:
        permanent: True when retrying cannot help (the receiver refused the request itself,
            e.g. 400/401/404), so the delivery goes straight to the dead letters.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


# Client errors worth retrying: timeouts at the receiver, rate limits, "too early".
RETRYABLE_4XX: Final = frozenset({408, 409, 425, 429})


def check_status(response: httpx.Response, what: str) -> None:
    """Raise :class:`DeliveryError` unless the receiver answered 2xx; 4xx (mostly) is permanent."""
    if response.is_success:
        return
    code = response.status_code
    permanent = 400 <= code < 500 and code not in RETRYABLE_4XX
    raise DeliveryError(f"{what} answered HTTP {code}: {response.text[:300]!r}", permanent=permanent)


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """The signature header value: ``sha256=`` and the hex HMAC-SHA256 of ``{id}.{timestamp}.{body}``."""
    message = f"{event_id}.{timestamp}.".encode() + body
    return SIGNATURE_SCHEME + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, event_id: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers of one signed webhook POST (content type, id, timestamp, signature)."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(secret, event_id, ts, body),
    }


def verify_signature(
    secret: str,
    *,
    event_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Check a received webhook; for receivers. Pass the three headers as received and the raw body.

    Args:
        secret: The shared secret of this destination.
        event_id: The ``X-Streetwatch-Event-Id`` header.
        timestamp: The ``X-Streetwatch-Timestamp`` header (Unix seconds).
        signature: The ``X-Streetwatch-Signature`` header.
        body: The request body bytes exactly as received (not re-serialised JSON).
        tolerance_s: How far the timestamp may be from ``now``, either way.
        now: The current Unix time (default: the clock).

    Raises:
        SignatureError: Saying which check failed: a missing header, a timestamp that is not an
            integer or is outside the window, a scheme other than ``sha256=``, or a wrong HMAC.
    """
    missing = [name for name, value in ((EVENT_ID_HEADER, event_id), (TIMESTAMP_HEADER, timestamp),
                                        (SIGNATURE_HEADER, signature)) if not value]
    if missing:
        raise SignatureError(f"missing header(s): {', '.join(missing)}")
    assert event_id is not None and timestamp is not None and signature is not None  # for mypy
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be integer Unix seconds, got {timestamp!r}") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_s:
        raise SignatureError(f"timestamp {ts} is {current - ts:+.0f} s from now; the tolerance is ±{tolerance_s} s")
    if not signature.startswith(SIGNATURE_SCHEME):
        raise SignatureError(f"{SIGNATURE_HEADER} must start with {SIGNATURE_SCHEME!r}, got {signature[:16]!r}")
    if not hmac.compare_digest(sign(secret, event_id, ts, body), signature):
        raise SignatureError("signature does not match the body, event id and timestamp (wrong secret?)")


def send_webhook(client: httpx.Client, url: str, secret: str, event_id: str, body: bytes) -> SendResult:
    """POST one signed webhook.

    Raises:
        DeliveryError: On a connection problem or timeout (retryable) or a non-2xx answer.
    """
    try:
        response = client.post(url, content=body, headers=signed_headers(secret, event_id, body))
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook POST {url} failed: {type(exc).__name__}: {exc}") from exc
    check_status(response, f"webhook {url}")
    return SendResult(response.status_code)
