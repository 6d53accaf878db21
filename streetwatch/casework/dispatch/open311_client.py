"""Push cases to an external Open311 GeoReport v2 endpoint (``POST requests.json``).

The request is form-encoded as the spec says: ``api_key``, ``jurisdiction_id`` (when the city
uses one), ``service_code``, ``lat``, ``long``, ``address_string``, ``description``, ``media_url``
and ``attribute[...]``. The event payload (see :func:`streetwatch.casework.dispatch.payloads.case_payload`)
supplies the fields; the answer's ``service_request_id`` (or ``token``, for servers that create
requests later) is kept as the delivery's ``remote_ref``.

GeoReport v2 has no idempotency key, so a retry after a lost answer can create a second request
on the city's side. We send the event id as ``attribute[<event_id_attribute>]`` (when configured)
so the city's system can recognise a repeat.
"""

from __future__ import annotations

from typing import Any

import httpx

from streetwatch.casework.dispatch.webhook import USER_AGENT, DeliveryError, SendResult, check_status

# Payload keys -> Open311 POST arguments (the payload's own names are ours, the spec's are theirs).
_FIELDS = (
    ("service_code", "service_code"),
    ("lat", "lat"),
    ("lon", "long"),
    ("address", "address_string"),
    ("description", "description"),
    ("media_url", "media_url"),
)


def request_form(
    payload: dict[str, Any],
    *,
    api_key: str,
    jurisdiction_id: str | None = None,
    event_id: str | None = None,
    event_id_attribute: str | None = None,
    media_base_url: str | None = None,
) -> dict[str, str]:
    """The form fields of one GeoReport v2 ``POST requests`` for an event payload.

    ``media_url`` is the payload's, or else built from ``media_base_url`` and the payload's
    ``evidence_sha256`` (our ``/evidence/{sha256}`` route).

    Raises:
        DeliveryError: (permanent) If the payload has no service code or no position: such a
            request can never succeed, retrying would only delay the dead letter.
    """
    # The workflow nests the case under "case" (streetwatch.casework.case_workflow); top-level keys win.
    nested = payload.get("case")
    if isinstance(nested, dict):
        payload = {**nested, **{k: v for k, v in payload.items() if k != "case"}}
    form: dict[str, str] = {"api_key": api_key}
    if jurisdiction_id:
        form["jurisdiction_id"] = jurisdiction_id
    service_code = payload.get("service_code") or payload.get("event_code")
    if not service_code:
        raise DeliveryError("event payload has no service_code/event_code for Open311", permanent=True)
    values = {**payload, "service_code": service_code}
    if not values.get("media_url") and media_base_url and payload.get("evidence_sha256"):
        values["media_url"] = f"{media_base_url.rstrip('/')}/evidence/{payload['evidence_sha256']}/blurred"
    for ours, theirs in _FIELDS:
        value = values.get(ours)
        if value is not None and value != "":
            form[theirs] = str(value)
    if "lat" not in form or "long" not in form:
        raise DeliveryError("event payload has no lat/lon: Open311 needs a location", permanent=True)
    for code, value in (payload.get("attributes") or {}).items():
        form[f"attribute[{code}]"] = str(value)
    if event_id and event_id_attribute:
        form[f"attribute[{event_id_attribute}]"] = event_id
    return form


def _remote_ref(answer: Any) -> str | None:
    # The spec answers a list of one object: service_request_id, or token when created later.
    first = answer[0] if isinstance(answer, list) and answer else answer
    if not isinstance(first, dict):
        return None
    ref = first.get("service_request_id") or first.get("token")
    return None if ref is None else str(ref)


def post_service_request(
    client: httpx.Client,
    endpoint: str,
    payload: dict[str, Any],
    *,
    api_key: str,
    jurisdiction_id: str | None = None,
    event_id: str | None = None,
    event_id_attribute: str | None = None,
    media_base_url: str | None = None,
) -> SendResult:
    """POST one service request to ``{endpoint}/requests.json``.

    Args:
        client: An httpx client (with timeouts).
        endpoint: The GeoReport v2 base URL, e.g. ``https://311.example.gov/open311/v2``.
        payload: The event payload (a case).
        api_key: The key the city issued to us.
        jurisdiction_id: The city's jurisdiction id, when its server serves several.
        event_id: Our stable event id, sent as an attribute when ``event_id_attribute`` is set.
        event_id_attribute: The attribute code the city's server accepts our event id in.
        media_base_url: Our public URL, to point ``media_url`` at the evidence frame.

    Returns:
        The HTTP status and the city's id for the request (``service_request_id`` or ``token``).

    Raises:
        DeliveryError: On a connection problem, a timeout or a non-2xx answer.
    """
    form = request_form(payload, api_key=api_key, jurisdiction_id=jurisdiction_id, event_id=event_id,
                        event_id_attribute=event_id_attribute, media_base_url=media_base_url)
    url = endpoint.rstrip("/") + "/requests.json"
    try:
        response = client.post(url, data=form, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise DeliveryError(f"Open311 POST {url} failed: {type(exc).__name__}: {exc}") from exc
    check_status(response, f"Open311 {url}")
    try:
        answer = response.json()
    except ValueError:
        answer = None
    return SendResult(response.status_code, _remote_ref(answer))
