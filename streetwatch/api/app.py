"""The FastAPI application factory.

``create_app(settings)`` only builds the app: the database is migrated, the engine made and
the taxonomy loaded when the app starts (its lifespan), so importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from streetwatch.api.auth import resolve_auth_secret
from streetwatch.api.routes import (
    auth,
    cases,
    evidence,
    exports,
    health,
    labels,
    observations,
    review,
    videos,
    violations,
    workflow,
)
from streetwatch.api.routes import open311 as open311_routes
from streetwatch.api.web import mount_web
from streetwatch.core.errors import StreetwatchError
from streetwatch.core.settings import Settings
from streetwatch.core.taxonomy import load_taxonomy
from streetwatch.store.audit_anchor import anchor_from_settings
from streetwatch.store.db import make_engine, make_session_factory, upgrade

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
    {"name": "health", "description": "Liveness of the API and its database."},
    {"name": "auth", "description": "Sign in (a login token) and who am I; machines use an API key."},
    {"name": "review", "description": "The review queue: lease pending violations, release them."},
    {"name": "workflow", "description": "Case workflow (dispatch, handle, check, close), KPIs, monthly report."},
    {"name": "exports", "description": "Violations and cases as GeoJSON or CSV."},
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
        from streetwatch.store.evidence import EvidenceStore

        app.state.evidence_store = EvidenceStore(settings.evidence_dir)
        engine = make_engine(settings.db_url, busy_timeout_s=settings.db_busy_timeout_s)
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

    @app.exception_handler(StreetwatchError)
    async def _streetwatch_error(_request: Request, exc: StreetwatchError) -> JSONResponse:
        # Every error of ours says its own status (streetwatch.core.errors): a bad cursor or filter
        # 400, a malformed decision 422, an unknown id 404, a lost race 409, a refused role 403.
        return JSONResponse({"detail": str(exc)}, status_code=exc.http_status)

    for module in (auth, violations, cases, observations, labels, videos, evidence, health):
        app.include_router(module.router)
    app.include_router(open311_routes.router)
    for workflow_module in (review, workflow, exports):
        app.include_router(workflow_module.router)
    mount_web(app)  # the review page under /ui/
    return app
