"""Open311 GeoReport v2 under ``/open311/v2/``, in JSON and XML, so a city's 311 system can pull.

Endpoints (the format is the resource's extension, ``.json`` or ``.xml``):

- ``GET services.{fmt}``: one service per event code of the taxonomy.
- ``GET services/{service_code}.{fmt}``: its service definition (no extra attributes).
- ``GET requests.{fmt}``: cases as service requests; filters ``service_request_id`` (a comma list,
  which overrides the rest), ``service_code``, ``start_date``/``end_date`` (W3C datetimes, on the
  request time; the last 90 days by default), ``status`` (``open``, ``closed``). At most 1000.
- ``GET requests/{service_request_id}.{fmt}``: one case, as a list of one (as the spec says).
- ``POST requests.{fmt}``: a 311 system files a request (form-encoded, ``api_key`` in the form as
  the spec says, or the ``X-API-Key`` header). It becomes a new ``open`` case of that service at
  ``lat``/``long``; the answer is ``[{"service_request_id", "service_notice", "account_id"}]``.
  The key's user needs the dispatcher or supervisor role (or admin).

Reading needs a signed-in user or an API key (``X-API-Key``), like every other route: the
requests carry positions and evidence photos. A unit-scoped user (dispatcher, field inspector)
sees only their unit's cases. Errors use the spec's format, ``[{"code", "description"}]`` or
``<errors><error><code/><description/></error></errors>``. ``jurisdiction_id`` is accepted and
ignored: this server serves one jurisdiction.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from fastapi.responses import Response
from fastapi.security import OAuth2PasswordBearer

from streetwatch.api.auth import AuthenticatedUser, Role, get_current_user
from streetwatch.api.deps import SessionDep, TaxonomyDep
from streetwatch.casework.dispatch import open311
from streetwatch.casework.dispatch.open311 import Open311Error
from streetwatch.store import queries
from streetwatch.store import users as user_store
from streetwatch.store.models import parse_row_id

router = APIRouter(prefix="/open311/v2", tags=["open311"])

FORMATS: Final = ("json", "xml")
POST_ROLES: Final = (Role.DISPATCHER, Role.SUPERVISOR)
MAX_DESCRIPTION: Final = 4000  # the spec's limit on description
# XML element names of list items, by the list's element name.
_XML_ITEMS: Final = {"services": "service", "service_requests": "request", "attributes": "attribute",
                     "values": "value", "errors": "error"}
_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)
# Listed as an enum in the schema; any other value is answered with the spec's 404 (in JSON).
Format = Annotated[str, Path(description="The response format: `json` or `xml`.",
                             json_schema_extra={"enum": list(FORMATS)})]
# Every answer comes in the format the path asks for: JSON (application/json) or XML (text/xml).
_EITHER: Final[dict[str, dict[str, Any]]] = {"application/json": {}, "text/xml": {}}


def _responses(success: int) -> dict[int | str, dict[str, Any]]:
    return {
        success: {"description": "The resource in the format asked for.", "content": _EITHER},
        400: {"description": "Bad arguments, in the spec's error format.", "content": _EITHER},
        401: {"description": "No valid credentials.", "content": _EITHER},
        403: {"description": "The user lacks the role.", "content": _EITHER},
        404: {"description": "Unknown format, service or request.", "content": _EITHER},
    }


ERROR_RESPONSES: Final = _responses(200)
# The POST's form, as the spec has it (read by hand in _form: the spec's names are not Python's).
REQUEST_FORM: Final[dict[str, Any]] = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["service_code", "lat", "long"],
        "additionalProperties": {"type": "string"},  # attribute[<code>] fields, as the spec has them
        "properties": {
            "service_code": {"type": "string", "description": "A service of GET services (an event code)."},
            "lat": {"type": "number", "minimum": -90, "maximum": 90, "description": "WGS84 latitude."},
            "long": {"type": "number", "minimum": -180, "maximum": 180, "description": "WGS84 longitude."},
            "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
            "media_url": {"type": "string"},
            "address_string": {"type": "string"},
            "jurisdiction_id": {"type": "string", "description": "Accepted and ignored: one jurisdiction."},
            "api_key": {"type": "string", "description": "An API key, as the spec has it (or send X-API-Key)."},
        },
    }},
}}}


def _xml_value(parent: ET.Element, tag: str, value: Any) -> None:
    element = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, item in value.items():
            _xml_value(element, key, item)
    elif isinstance(value, list):
        for item in value:
            _xml_value(element, _XML_ITEMS.get(tag, "item"), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


def to_xml(root: str, items: list[dict[str, Any]] | dict[str, Any]) -> bytes:
    """The spec's XML: a root element of items (``services/service``, ...) or one object."""
    element = ET.Element(root)
    if isinstance(items, dict):
        for key, value in items.items():
            _xml_value(element, key, value)
    else:
        for item in items:
            _xml_value(element, _XML_ITEMS[root], item)
    # The spec asks for this exact declaration (double quotes, UTF-8 in capitals).
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding="unicode").encode()


def render(fmt: str, root: str, data: list[dict[str, Any]] | dict[str, Any], status_code: int = 200) -> Response:
    """Answer ``data`` as JSON or as XML under ``root``."""
    if fmt == "xml":
        return Response(to_xml(root, data), status_code=status_code, media_type="text/xml; charset=utf-8")
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status_code, media_type="application/json; charset=utf-8")


def error(fmt: str, code: int, description: str) -> Response:
    """An error in the spec's format (JSON when the format itself was not understood)."""
    return render(fmt if fmt in FORMATS else "json", "errors", [{"code": code, "description": description}],
                  status_code=code)


def _answer(fmt: str, produce: Callable[[], Response]) -> Response:
    if fmt not in FORMATS:
        return error("json", 404, f"unknown format {fmt!r}: use .json or .xml")
    try:
        return produce()
    except Open311Error as exc:
        return error(fmt, exc.code, exc.description)
    except HTTPException as exc:  # from authentication: same status, the spec's format
        return error(fmt, exc.status_code, str(exc.detail))


async def _form(request: Request) -> dict[str, str]:
    if request.method != "POST":
        return {}
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _authenticate(request: Request, session: SessionDep, token: str | None,
                  form_api_key: str | None = None) -> AuthenticatedUser:
    """The caller, from the form's ``api_key`` (the spec's way) or the usual headers."""
    if form_api_key:
        key = user_store.authenticate_api_key(session, form_api_key)
        if key is None:
            raise Open311Error(401, "invalid or revoked api_key")
        user = AuthenticatedUser.from_user(key.user, api_key_id=key.id)
        session.commit()  # keeps the key's last_used_at
        return user
    return get_current_user(request, session, token, request.headers.get("X-API-Key"))


def _media_base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/services.{fmt}", summary="List services (one per event code)", responses=ERROR_RESPONSES)
def list_services(request: Request, fmt: Format, session: SessionDep, taxonomy: TaxonomyDep,
                  token: Annotated[str | None, Depends(_bearer)]) -> Response:
    """Every event code of the taxonomy as a GeoReport v2 service, grouped by family."""
    def produce() -> Response:
        _authenticate(request, session, token)
        return render(fmt, "services", open311.services(taxonomy))
    return _answer(fmt, produce)


@router.get("/services/{service_code}.{fmt}", summary="Read a service definition", responses=ERROR_RESPONSES)
def get_service_definition(request: Request, service_code: str, fmt: Format, session: SessionDep,
                           taxonomy: TaxonomyDep, token: Annotated[str | None, Depends(_bearer)]) -> Response:
    """The service's definition; our services have no attributes to fill in."""
    def produce() -> Response:
        _authenticate(request, session, token)
        return render(fmt, "service_definition", open311.service_definition(taxonomy, service_code))
    return _answer(fmt, produce)


@router.get("/requests.{fmt}", summary="List service requests (cases)", responses=ERROR_RESPONSES)
def list_requests(
    request: Request, fmt: Format, session: SessionDep, taxonomy: TaxonomyDep,
    token: Annotated[str | None, Depends(_bearer)],
    service_request_id: str | None = None, service_code: str | None = None, start_date: str | None = None,
    end_date: str | None = None, status: str | None = None, jurisdiction_id: str | None = None,
) -> Response:
    """Cases as service requests, newest first, filtered as the spec says (see the module docstring)."""
    def produce() -> Response:
        user = _authenticate(request, session, token)
        query = open311.RequestQuery.parse(service_request_id=service_request_id, service_code=service_code,
                                           start_date=start_date, end_date=end_date, status=status)
        cases = open311.find_cases(session, query, unit_scope=user.unit_scope)
        items = open311.service_requests(session, cases, taxonomy, media_base_url=_media_base(request))
        return render(fmt, "service_requests", items)
    return _answer(fmt, produce)


@router.get("/requests/{service_request_id}.{fmt}", summary="Read one service request", responses=ERROR_RESPONSES)
def get_request(request: Request, service_request_id: str, fmt: Format, session: SessionDep, taxonomy: TaxonomyDep,
                token: Annotated[str | None, Depends(_bearer)], jurisdiction_id: str | None = None) -> Response:
    """One case as a service request (a list of one, as the spec has it)."""
    def produce() -> Response:
        user = _authenticate(request, session, token)
        case_id = parse_row_id(service_request_id)  # "²" or 2^63 names no case: 404 like any unknown id
        case = None if case_id is None else queries.find_case(session, case_id)
        # A case of another unit is "not found": its existence is not the caller's business.
        if case is None or not user.can_see_unit(case.unit):
            raise Open311Error(404, f"service_request_id {service_request_id!r} not found")
        items = open311.service_requests(session, [case], taxonomy, media_base_url=_media_base(request))
        return render(fmt, "service_requests", items)
    return _answer(fmt, produce)


@router.post("/requests.{fmt}", summary="Create a service request (from a 311 system)", status_code=201,
             responses={**_responses(201), 400: {"description": "Bad arguments, in the spec's error format; or a "
                                                 "malformed form (JSON).", "content": _EITHER}},
             openapi_extra=REQUEST_FORM)
def create_request(request: Request, fmt: Format, session: SessionDep, taxonomy: TaxonomyDep,
                   form: Annotated[dict[str, str], Depends(_form)],
                   token: Annotated[str | None, Depends(_bearer)]) -> Response:
    """File a request from a 311 system as a new open case (form-encoded arguments, as the spec says)."""
    def produce() -> Response:
        user = _authenticate(request, session, token, form.get("api_key"))
        if not user.has_any_role(*POST_ROLES):
            raise Open311Error(403, f"creating requests needs role {' or '.join(POST_ROLES)} (or admin); "
                                    f"{user.username!r} has {', '.join(sorted(user.roles)) or 'none'}")
        if len(form.get("description") or "") > MAX_DESCRIPTION:
            raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
        case = open311.report_request(session, taxonomy, form, submitted_by=user.username,
                                      media_base_url=_media_base(request))
        session.commit()
        notice = "Received; a supervisor confirms and files it (立案) before dispatch."
        return render(fmt, "service_requests", [{"service_request_id": str(case.id), "service_notice": notice,
                                                 "account_id": None}], status_code=201)
    return _answer(fmt, produce)
