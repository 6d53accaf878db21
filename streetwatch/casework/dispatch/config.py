"""Dispatch settings (``STREETWATCH_DISPATCH_*``) and the destinations file.

The destinations file (YAML) lists where events go; secrets come from the environment, never
from the file. Example::

    destinations:
      - name: city-webhook              # unique, <= 64 chars; deliveries are tracked per name
        kind: webhook
        url: https://ops.example.gov/hooks/streetwatch
        secret_env: STREETWATCH_WEBHOOK_SECRET
        events: ["case.*"]              # exact types or "prefix.*"; default: every event
      - name: city-311
        kind: open311
        endpoint: https://311.example.gov/open311/v2
        api_key_env: STREETWATCH_OPEN311_KEY
        jurisdiction_id: example.gov    # optional
        event_id_attribute: streetwatch_event_id   # optional, see open311_client
        events: ["case.filed"]
        since: 2026-12-01T00:00:00Z     # optional: older events are never sent here

A destination added later receives every past event of its types unless ``since`` says otherwise.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from streetwatch.core.errors import ConfigurationError
from streetwatch.core.settings import DispatchSettings as DispatchSettings  # a section of Settings
from streetwatch.store.column_types import as_utc

_EVENT_PATTERN = re.compile(r"^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$")


class DispatchConfigError(ConfigurationError, ValueError):
    """The destinations file is missing, malformed, or names a secret that is not set."""


class _DestinationBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    events: tuple[str, ...] = Field(("*",), min_length=1, description='Event types: exact, "prefix.*" or "*".')
    since: datetime | None = Field(None, description="Events older than this are not sent to this destination.")
    timeout_s: float = Field(10.0, gt=0, le=120, description="Connect/read timeout of one attempt.")

    @model_validator(mode="after")
    def _check_events(self) -> _DestinationBase:
        bad = [pattern for pattern in self.events if not _EVENT_PATTERN.match(pattern)]
        if bad:
            raise ValueError(f"events must be exact types, 'prefix.*' or '*', got {bad}")
        if self.since is not None:  # a naive time in the config is UTC
            object.__setattr__(self, "since", as_utc(self.since))
        return self


def _secret(inline: str | None, env: str | None, what: str) -> str:
    if inline:
        return inline
    if env:
        value = os.environ.get(env)
        if not value:
            raise DispatchConfigError(f"{what}: environment variable {env} is not set or empty")
        return value
    raise DispatchConfigError(f"{what}: give either an inline value or the name of an environment variable")


class WebhookDestination(_DestinationBase):
    """POST each event as signed JSON (see :mod:`streetwatch.casework.dispatch.webhook`)."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    secret: str | None = Field(None, description="Prefer secret_env: files get copied around.")
    secret_env: str | None = None

    def resolved_secret(self) -> str:
        return _secret(self.secret, self.secret_env, f"destination {self.name!r} secret")


class Open311Destination(_DestinationBase):
    """POST each event as a GeoReport v2 service request (see :mod:`streetwatch.casework.dispatch.open311_client`)."""

    kind: Literal["open311"]
    endpoint: str = Field(pattern=r"^https?://", description="GeoReport v2 base URL (…/open311/v2).")
    api_key: str | None = None
    api_key_env: str | None = None
    jurisdiction_id: str | None = None
    event_id_attribute: str | None = None
    media_base_url: str | None = Field(None, description="Our public URL, for media_url of evidence frames.")
    # Only filings by default: "*" would also push back requests that came from a 311 system.
    events: tuple[str, ...] = Field(("case.filed",), min_length=1)

    def resolved_api_key(self) -> str:
        return _secret(self.api_key, self.api_key_env, f"destination {self.name!r} api_key")


Destination = Annotated[WebhookDestination | Open311Destination, Field(discriminator="kind")]


class DestinationsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    destinations: list[Destination] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> DestinationsFile:
        names = [d.name for d in self.destinations]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"destination names must be unique, repeated: {duplicated}")
        return self


def load_destinations(path: Path | str) -> list[WebhookDestination | Open311Destination]:
    """Read and validate a destinations file; secrets are checked to be present.

    Raises:
        DispatchConfigError: Naming the file and what is wrong in it.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise DispatchConfigError(f"destinations file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise DispatchConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        parsed = DestinationsFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise DispatchConfigError(f"{path}: {problems}") from None
    for destination in parsed.destinations:
        try:
            if isinstance(destination, WebhookDestination):
                destination.resolved_secret()
            else:
                destination.resolved_api_key()
        except DispatchConfigError as exc:
            raise DispatchConfigError(f"{path}: {exc}") from None
    return list(parsed.destinations)
