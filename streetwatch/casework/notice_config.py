"""What a rectification notice (整改通知单) says besides the case: issuing unit, demand, legal basis per event code.

Read from ``models/workflow/notices.yaml`` (or ``STREETWATCH_WORKFLOW_NOTICES_PATH``), like the units and
deadlines tables: a city replaces the sample texts with its own regulations and articles. The loaded
values are part of what a notice prints, so changing them changes the next notice of a case (its
fingerprint, see :mod:`streetwatch.casework.notice_content`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from streetwatch.core.errors import ConfigurationError
from streetwatch.core.resources import ASSETS_DIR

DEFAULT_NOTICES_PATH: Final = ASSETS_DIR / "workflow" / "notices.yaml"
_MAX_TEXT: Final = 400  # characters of one printed line of the config; a notice is one page


class NoticeConfigError(ConfigurationError, ValueError):
    """A notices file that cannot be used (missing, not YAML, a required text absent or too long)."""


@dataclass(frozen=True, slots=True)
class LegalBasis:
    """The legal basis (法律依据) a notice cites, in Chinese and (optionally) English."""

    text_zh: str
    text_en: str = ""


@dataclass(frozen=True, slots=True)
class NoticeConfig:
    """The notice's fixed texts.

    Attributes:
        issuing_unit: The issuing unit (签发单位), Chinese.
        issuing_unit_en: Its English name (may be empty).
        demand: What the party is told to do (Chinese), printed above the deadline.
        demand_en: The same in English (may be empty).
        contact: A contact line printed at the foot (may be empty).
        default: The legal basis of event codes not listed.
        events: The legal basis per event code.
    """

    issuing_unit: str
    issuing_unit_en: str
    demand: str
    demand_en: str
    contact: str
    default: LegalBasis
    events: Mapping[str, LegalBasis] = field(default_factory=dict)

    def basis_for(self, event_code: str) -> LegalBasis:
        """The legal basis configured for ``event_code``, or the default one."""
        return self.events.get(event_code, self.default)


def _text(raw: Mapping[str, Any], key: str, where: str, *, required: bool) -> str:
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise NoticeConfigError(f"{where}: '{key}' is required (a non-empty text)")
        return ""
    if not isinstance(value, str):
        raise NoticeConfigError(f"{where}: '{key}' must be a text, got {type(value).__name__}")
    text = " ".join(value.split())
    if len(text) > _MAX_TEXT:
        raise NoticeConfigError(f"{where}: '{key}' has {len(text)} characters; a notice prints at most {_MAX_TEXT}")
    return text


def _basis(raw: object, where: str) -> LegalBasis:
    if not isinstance(raw, Mapping):
        raise NoticeConfigError(f"{where}: expected a mapping with 'basis' (and 'basis_en'), got {raw!r}")
    return LegalBasis(_text(raw, "basis", where, required=True), _text(raw, "basis_en", where, required=False))


def parse_notices(raw: object, source: str = "notices") -> NoticeConfig:
    """Check and convert a parsed notices file.

    Raises:
        NoticeConfigError: A missing issuing unit, demand or default basis, or a malformed entry.
    """
    if not isinstance(raw, Mapping):
        raise NoticeConfigError(f"{source}: expected a mapping at the top, got {type(raw).__name__}")
    if raw.get("version") != 1:
        raise NoticeConfigError(f"{source}: unsupported version {raw.get('version')!r} (expected 1)")
    events_raw = raw.get("events") or {}
    if not isinstance(events_raw, Mapping):
        raise NoticeConfigError(f"{source}: 'events' must map event codes to their basis")
    events = {str(code): _basis(entry, f"{source}: event '{code}'") for code, entry in events_raw.items()}
    return NoticeConfig(
        issuing_unit=_text(raw, "issuing_unit", source, required=True),
        issuing_unit_en=_text(raw, "issuing_unit_en", source, required=False),
        demand=_text(raw, "demand", source, required=True),
        demand_en=_text(raw, "demand_en", source, required=False),
        contact=_text(raw, "contact", source, required=False),
        default=_basis(raw.get("default"), f"{source}: default"),
        events=events,
    )


def load_notices(path: Path | str = DEFAULT_NOTICES_PATH) -> NoticeConfig:
    """Read a notices file (see ``models/workflow/notices.yaml``).

    Raises:
        NoticeConfigError: The file is missing, not YAML, or not a valid notices file.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NoticeConfigError(f"cannot read notices file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise NoticeConfigError(f"notices file {path} is not valid YAML: {exc}") from None
    return parse_notices(raw, str(path))
