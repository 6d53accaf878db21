"""Who may use streetwatch: users with roles, and API keys for machines.

Passwords are stored as argon2 hashes (pwdlib); API keys as the sha256 of the secret, which
is shown once when the key is made and never stored. Roles are a JSON list of :class:`Role`
values on the user: a person usually holds one or two, and the list is read on every request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from streetwatch.core.vocab import Role
from streetwatch.store.column_types import UtcDateTime
from streetwatch.store.models import Base, utcnow

# Roles that see every unit's cases and violations; the others see only their own unit's.
ALL_UNITS_ROLES = frozenset({Role.REVIEWER, Role.SUPERVISOR, Role.ADMIN})
UNIT_SCOPED_ROLES = frozenset({Role.DISPATCHER, Role.FIELD_INSPECTOR})


class User(Base):
    """A person (or the owner of machine API keys) who signs in to streetwatch."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # A JSON list of Role values, e.g. ["reviewer"].
    roles: Mapped[list[Any]] = mapped_column(JSON)
    # 责任单位: the unit a dispatcher or field inspector works for; None for city-wide roles.
    unit: Mapped[str | None] = mapped_column(String(255), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # Every login token carries the version it was issued under; signing out and deactivation raise
    # it, which revokes every token issued before (migration 0010).
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="user", order_by="ApiKey.id")

    @property
    def role_set(self) -> frozenset[Role]:
        """The user's roles as :class:`Role` values (unknown strings are ignored, never trusted)."""
        known = {role.value for role in Role}
        return frozenset(Role(name) for name in self.roles or [] if name in known)


class ApiKey(Base):
    """A secret a machine sends as ``X-API-Key``; it acts as its user, with the user's roles."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    # The secret's first characters, shown in listings so people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    # sha256 (hex) of the whole secret: high-entropy secrets need no slow hash, and a lookup
    # by hash never compares secrets character by character.
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    user: Mapped[User] = relationship(back_populates="api_keys")
