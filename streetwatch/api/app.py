"""The FastAPI application factory.

``create_app(settings)`` only builds the app: the database is migrated, the engine made and
the taxonomy loaded when the app starts (its lifespan), so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI

from streetwatch.api import web_coverage, web_labelling
from streetwatch.api.auth import resolve_auth_secret
from streetwatch.api.errors import COMMON_RESPONSES, SIGNED_IN_RESPONSES, install_error_handlers
from streetwatch.api.middleware import BodySizeLimit
from streetwatch.api.routes import (
    auth,
    cases,
    coverage,
    evidence,
    exports,
    health,
    hotspots,
    labelling,
    labels,
    metrics,
    observations,
    review,
    uploads,
    videos,
    violations,
    workflow,
)
from streetwatch.api.routes import notices as notice_routes
from streetwatch.api.routes import open311 as open311_routes
from streetwatch.api.sign_in import make_throttle
from streetwatch.api.web import mount_web
from streetwatch.core.settings import Settings
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.store.audit_anchor import anchor_from_settings
from streetwatch.store.db import DbTimeouts, make_engine, make_session_factory, upgrade

DESCRIPTION = """\
Geolocated city-management violations found in patrol-car dashcam footage, for review.

* **violations**: what a rule filed (stalls, garbage, parking, ads), with evidence and position;
  reviewers approve, reject or relabel them.
* **cases**: one per real-world problem; repeated sightings of the same stall, pile, car or sign
  (same family, a few metres apart) are violations of one case, with first/last seen and recurrences.
* **observations**: every tracked object, violation or not.
* **labels**: reviewers' corrections of the detector on an observation's evidence frame (confirm,
  adjust the box, relabel, add a missed object, mark the frame empty): the training data of the next model.
* **videos**: the footage processed and how processing went.
* **evidence**: the JPEG frames and crops, addressed by the sha256 of their bytes.

Lists are newest first and paginated with an opaque `cursor`: pass a page's `next_cursor` to get
the next page; `next_cursor` is null on the last page.
"""

TAGS = [
    {"name": "violations", "description": "Violations filed by the rules, and their review."},
    {"name": "cases", "description": "Real-world problems, each gathering its sightings (violations)."},
    {"name": "observations", "description": "Every tracked, geolocated object."},
    {"name": "labels", "description": "Reviewers' corrections of the detector on evidence frames: training labels."},
    {"name": "videos", "description": "Processed footage and its processing status."},
    {"name": "evidence", "description": "Evidence images, addressed by content hash."},
    {"name": "uploads", "description": "Cars send footage and GPS sidecars (uploader role): stored for the watcher."},
    {"name": "health", "description": "Liveness of the API and its database."},
    {"name": "auth", "description": "Sign in (a login token) and who am I; machines use an API key."},
    {"name": "review", "description": "The review queue: lease pending violations, release them."},
    {"name": "labelling", "description": "The labelling queue: frames where a label teaches the detector most."},
    {"name": "workflow", "description": "Case workflow (dispatch, handle, check, close), KPIs, monthly report."},
    {"name": "exports", "description": "Violations and cases as GeoJSON or CSV."},
    {"name": "coverage", "description": "Patrol coverage per road segment and grid cell: last patrolled, gaps."},
    {"name": "open311", "description": "Open311 GeoReport v2 (JSON and XML): services, requests, for 311 systems."},
]


def create_app(settings: Settings) -> FastAPI:
    """Build the API for ``settings``; the database is migrated to the newest schema at startup.

    Args:
        settings: Where the database, evidence folder and taxonomy are.

    Returns:
        The app. Serve it with uvicorn, or use it with ``with TestClient(app)`` (which runs
        the startup).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Alembic and the YAML parser block: keep them off the event loop.
        await anyio.to_thread.run_sync(upgrade, settings.db_url)
        app.state.taxonomy = await anyio.to_thread.run_sync(load_taxonomy, settings.taxonomy_path)
        from streetwatch.store.evidence_backends import evidence_store_for

        app.state.evidence_store = evidence_store_for(settings)  # a folder or s3://bucket/prefix
        engine = make_engine(settings.db_url, busy_timeout_s=settings.db_busy_timeout_s, timeouts=DbTimeouts(
            connect_s=settings.db_connect_timeout_s, statement_s=settings.db_statement_timeout_s,
            pool_s=settings.db_pool_timeout_s))  # no unbounded wait on a database that is down or frozen
        app.state.session_factory = make_session_factory(engine, audit_anchor=anchor_from_settings(settings))
        try:
            yield
        finally:
            app.state.session_factory = None
            engine.dispose()

    app = FastAPI(
        title="streetwatch",
        summary="Dashcam footage in, reviewed and geolocated city-management violations out.",
        description=DESCRIPTION,
        version="0.1.0",
        license_info={"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Refuses a missing or default secret here, so `serve` never starts with one.
    app.state.auth_secret = resolve_auth_secret(settings)
    app.state.sign_in_throttle = make_throttle(settings)  # failed sign-ins per user and address, in this process

    # Outermost but for Starlette's own error handler: a body over the limit is refused before it is read.
    # POST /uploads streams to disk under its own, larger limit (upload_max_bytes): left to the route.
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes, exempt_paths=frozenset({"/uploads"}))
    install_error_handlers(app)  # 422 in one shape, errors of ours with their status, a right Allow on 405

    app.include_router(auth.router, responses=COMMON_RESPONSES)
    for module in (violations, cases, observations, labels, videos, evidence):
        app.include_router(module.router, responses=SIGNED_IN_RESPONSES)
    app.include_router(health.router)
    app.include_router(uploads.router, responses=SIGNED_IN_RESPONSES)
    app.include_router(metrics.router)   # GET /metrics: the backlog for Prometheus (no sign-in, like /health)
    app.include_router(open311_routes.router, responses=COMMON_RESPONSES)  # its own errors, in the spec's format
    for workflow_module in (review, labelling, workflow, exports, notice_routes, hotspots, coverage):
        app.include_router(workflow_module.router, responses=SIGNED_IN_RESPONSES)
    mount_web(app)  # the review page under /ui/
    app.include_router(web_labelling.router)  # its labelling queue, /ui/labelling
    app.include_router(web_coverage.router)  # the coverage page, /ui/coverage
    _document_vocabulary(app)
    return app


def _document_vocabulary(app: FastAPI) -> None:
    """List the taxonomy's families and event codes as enums in the OpenAPI document.

    They come from the taxonomy the app loaded at startup (a city may add its own), so the routes
    check them rather than a Literal; the document still says which ones this server knows: every
    ``family`` query parameter, Open311's ``service_code`` in a path and in the POST's form.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        taxonomy = getattr(app.state, "taxonomy", None)
        if taxonomy is None:  # not started yet: build it again once the taxonomy is loaded
            app.openapi_schema = None
            return schema
        families, codes = sorted(taxonomy.families), sorted(taxonomy.events)
        for path, item in schema.get("paths", {}).items():
            for operation in item.values():
                for parameter in operation.get("parameters", []):
                    if parameter["name"] == "family" and parameter["in"] == "query":
                        parameter["schema"] = {"type": "string", "enum": families, "title": "Family"}
                    elif parameter["name"] == "service_code" and parameter["in"] == "path":
                        parameter["schema"] = {"type": "string", "enum": codes, "title": "Service Code"}
                form = (operation.get("requestBody", {}).get("content", {})
                        .get("application/x-www-form-urlencoded", {}).get("schema", {}))
                if path.startswith("/open311/") and "service_code" in form.get("properties", {}):
                    properties = form["properties"] = dict(form["properties"])  # not the route's own dict
                    properties["service_code"] = {**properties["service_code"], "enum": codes}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
