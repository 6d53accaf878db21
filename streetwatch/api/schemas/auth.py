"""Response models of signing in: the login token, and who am I."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from streetwatch.api.auth import AuthenticatedUser, Role


class TokenPublic(BaseModel):
    """A login token: send it as `Authorization: Bearer <access_token>`."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime = Field(description="When the token stops working (UTC).")


class MePublic(BaseModel):
    """The signed-in user."""

    id: int
    username: str
    roles: list[Role]
    unit: str | None = Field(description="责任单位: the unit a dispatcher or field inspector works for.")
    sees_all_units: bool = Field(description="Whether the user sees every unit's cases and violations.")
    via: Literal["token", "api_key"] = Field(description="How this request authenticated.")

    @classmethod
    def from_user(cls, user: AuthenticatedUser) -> MePublic:
        return cls(id=user.id, username=user.username, roles=sorted(user.roles), unit=user.unit,
                   sees_all_units=user.sees_all_units, via="token" if user.api_key_id is None else "api_key")
