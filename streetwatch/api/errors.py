"""How the API answers errors: one shape per status, whatever raised it.

* 422: FastAPI's list shape everywhere, ``{"detail": [{"type", "loc", "msg", ...}]}``, for pydantic's
  own errors and for the checks the routes and the store make after validation
  (:func:`unprocessable`, and every :class:`~streetwatch.core.errors.StreetwatchError` whose
  status is 422). A client parses one shape.
* Other errors of ours: ``{"detail": "<message>"}`` with the status their class names.
* 405: ``Allow`` lists every method of the path (Starlette names only the first route's).
* 503 with ``Retry-After``: the database cannot be reached or did not answer in time
  (``streetwatch.store.db.UNAVAILABLE_ERRORS``); the cause is logged, not sent.

The statuses any route may answer besides its own are documented once here (:data:`COMMON_RESPONSES`,
:data:`SIGNED_IN_RESPONSES`, :data:`BAD_BODY`) and added to the routers where the app includes them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Final

import fastapi.routing
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path, get_route_path

from streetwatch.api.schemas import ErrorPublic
from streetwatch.core.errors import StreetwatchError
from streetwatch.store.db import UNAVAILABLE_ERRORS

log = logging.getLogger(__name__)

Responses = dict[int | str, dict[str, Any]]
# Seconds a client is told to wait before it tries again when the database is unavailable.
RETRY_AFTER_S: Final = 5
# Any route: a body over the limit (api/middleware.py), checked before routing; the database away.
COMMON_RESPONSES: Responses = {
    413: {"model": ErrorPublic, "description": "The request body is larger than the limit "
                                               "(`STREETWATCH_API_MAX_BODY_BYTES`, 1 MiB by default)."},
    503: {"model": ErrorPublic, "description": "The database is unavailable (down, frozen, or every connection "
                                               "busy): try again after `Retry-After` seconds.",
          "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}},
}
# Routes that need a login token or an API key.
SIGNED_IN_RESPONSES: Responses = {
    **COMMON_RESPONSES,
    401: {"model": ErrorPublic, "description": "No valid credentials: send `Authorization: Bearer <token>` from "
                                               "POST /auth/token, or `X-API-Key`."},
    403: {"model": ErrorPublic, "description": "Your role may not do this, or not for this object's unit."},
}
# Routes that read a body: one that cannot be decoded (not UTF-8, a broken form) is a 400.
BAD_BODY: Responses = {400: {"model": ErrorPublic, "description": "The body could not be read: not UTF-8 JSON, "
                                                                   "or a malformed form."}}

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def validation_item(message: str, loc: tuple[str | int, ...], value: Any = None) -> dict[str, Any]:
    """One item of a 422's ``detail`` list, as pydantic writes them."""
    return {"type": "value_error", "loc": list(loc), "msg": message, "input": value}


def unprocessable(message: str, *loc: str | int, value: Any = None) -> RequestValidationError:
    """A 422 in FastAPI's shape for a check made after validation; raise it.

    Args:
        message: What is wrong, for people.
        loc: Where: ``"query", "family"``, ``"body", "action"``, ...
        value: The value that was refused.
    """
    return RequestValidationError([validation_item(message, loc, value)])


async def _streetwatch_error(request: Request, exc: Exception) -> JSONResponse:
    # Every error of ours says its own status (streetwatch.core.errors): a bad cursor or filter 400,
    # a malformed decision 422, an unknown id 404, a lost race 409, a refused role 403.
    assert isinstance(exc, StreetwatchError)
    if exc.http_status == 422:
        where = "body" if request.method in _BODY_METHODS else "query"
        return JSONResponse({"detail": [validation_item(str(exc), (where,))]}, status_code=422)
    return JSONResponse({"detail": str(exc)}, status_code=exc.http_status)


def _routes(app: FastAPI) -> Iterator[Any]:
    # Newer FastAPI keeps included routers as branches (fastapi.routing.iter_route_contexts walks
    # them); older versions copy every route into app.router.routes.
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    return iter(app.router.routes) if walk is None else walk(app.router.routes)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on the request's path."""
    path = get_route_path(request.scope)
    methods: set[str] = set()
    for route in _routes(request.app):
        route_path, route_methods = getattr(route, "path", None), getattr(route, "methods", None)
        if route_path and route_methods and compile_path(route_path)[0].match(path):
            methods |= set(route_methods)
    return sorted(methods)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        # Starlette's 405 names the methods of the first route that matched the path only: a path
        # with a GET route and a POST route (/open311/v2/requests.json, /ui/login) said "GET".
        exc = StarletteHTTPException(405, exc.detail, headers={**(exc.headers or {}),
                                                               "Allow": ", ".join(allowed_methods(request))})
    return await http_exception_handler(request, exc)


def database_unavailable() -> JSONResponse:
    """The 503 of a database that cannot be reached or did not answer in time."""
    return JSONResponse({"detail": f"the database is unavailable: try again in {RETRY_AFTER_S} s"},
                        status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # Logged here with its cause (the driver's message names hosts and statements: not for clients).
    log.warning("%s %s: database unavailable: %s", request.method, request.url.path,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return database_unavailable()


def install_error_handlers(app: FastAPI) -> None:
    """Answer errors as the module docstring says."""
    app.add_exception_handler(StreetwatchError, _streetwatch_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, _database_error)
