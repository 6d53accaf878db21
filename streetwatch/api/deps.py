"""Dependencies shared by the routes: ``SessionDep``, ``SessionFactoryDep``, ``SettingsDep``, ``TaxonomyDep``,
``EvidenceStoreDep``.

Everything lives on ``app.state``, set up by :func:`streetwatch.api.app.create_app`; nothing here is
global, so two apps with different settings can run in one process (as the tests do).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from streetwatch.api.errors import unprocessable
from streetwatch.core.settings import Settings
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.store.db import Session, SessionFactory

if TYPE_CHECKING:
    from streetwatch.store.evidence import EvidenceBackend


def get_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_taxonomy(request: Request) -> Taxonomy:
    """The class taxonomy, loaded once when the app started."""
    taxonomy: Taxonomy = request.app.state.taxonomy
    return taxonomy


def get_evidence_store(request: Request) -> EvidenceBackend:
    """The evidence store (``settings.evidence_dir``: a folder or an S3 bucket)."""
    store: EvidenceBackend = request.app.state.evidence_store
    return store


def get_session_factory(request: Request) -> SessionFactory:
    """The app's session factory, for work that needs its own transactions (leases, streamed exports)."""
    factory: SessionFactory | None = getattr(request.app.state, "session_factory", None)
    if factory is None:
        raise RuntimeError("the app has not started: run it with uvicorn or `with TestClient(app)`")
    return factory


def get_session(factory: Annotated[SessionFactory, Depends(get_session_factory)]) -> Iterator[Session]:
    """A session per request; rolled back if the request fails before committing."""
    with factory() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
TaxonomyDep = Annotated[Taxonomy, Depends(get_taxonomy)]
SessionDep = Annotated[Session, Depends(get_session)]
SessionFactoryDep = Annotated[SessionFactory, Depends(get_session_factory)]
EvidenceStoreDep = Annotated["EvidenceBackend", Depends(get_evidence_store)]


def check_family(taxonomy: Taxonomy, family: str | None) -> None:
    """Answer 422 for a family the taxonomy does not know (a typo would otherwise list nothing)."""
    if family is not None and family not in taxonomy.families:
        raise unprocessable(f"unknown family {family!r}; known: {', '.join(sorted(taxonomy.families))}",
                            "query", "family", value=family)
