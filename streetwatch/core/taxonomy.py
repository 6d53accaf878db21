"""The class taxonomy: detector classes -> violation families -> case event codes.

Loaded from ``models/taxonomy.yaml``; see the comments in that file for its shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from streetwatch.core.errors import ConfigurationError

Role = Literal["violation", "evidence"]


class TaxonomyError(ConfigurationError, ValueError):
    """The taxonomy file is missing or malformed."""


@dataclass(frozen=True, slots=True)
class FamilySpec:
    name: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class EventSpec:
    code: str
    family: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class ClassSpec:
    name: str
    role: Role
    family: str
    event_code: str | None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Taxonomy:
    version: int
    families: dict[str, FamilySpec]
    events: dict[str, EventSpec]
    classes: dict[str, ClassSpec]
    by_key: dict[str, ClassSpec]   # normalised name or alias -> class

    def lookup(self, name: str) -> ClassSpec | None:
        """Find a class by its name or one of its aliases (case- and separator-insensitive)."""
        return self.by_key.get(_key(name))

    def event_for(self, spec: ClassSpec) -> EventSpec | None:
        return self.events.get(spec.event_code) if spec.event_code else None


def _key(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _require(mapping: dict[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise TaxonomyError(f"{where}: missing required key '{key}'")
    return mapping[key]


def parse_taxonomy(raw: Any, source: str = "taxonomy") -> Taxonomy:
    """Validate a loaded YAML document and build a :class:`Taxonomy`."""
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    families = {
        name: FamilySpec(name, str(_require(v, "name_zh", f"{source}: family '{name}'")),
                         str(_require(v, "name_en", f"{source}: family '{name}'")))
        for name, v in (_require(raw, "families", source) or {}).items()
    }
    events: dict[str, EventSpec] = {}
    for code, v in (_require(raw, "events", source) or {}).items():
        where = f"{source}: event '{code}'"
        family = str(_require(v, "family", where))
        if family not in families:
            raise TaxonomyError(f"{where}: unknown family '{family}' (known: {', '.join(sorted(families))})")
        events[str(code)] = EventSpec(str(code), family, str(_require(v, "name_zh", where)),
                                      str(_require(v, "name_en", where)))
    classes: dict[str, ClassSpec] = {}
    for name, v in (_require(raw, "classes", source) or {}).items():
        where = f"{source}: class '{name}'"
        role = _require(v, "role", where)
        if role not in ("violation", "evidence"):
            raise TaxonomyError(f"{where}: role must be 'violation' or 'evidence', got '{role}'")
        family = str(_require(v, "family", where))
        if family not in families:
            raise TaxonomyError(f"{where}: unknown family '{family}' (known: {', '.join(sorted(families))})")
        event = v.get("event")
        if role == "violation" and event is None:
            raise TaxonomyError(f"{where}: a violation class needs an 'event' code")
        if event is not None:
            event = str(event)
            if event not in events:
                raise TaxonomyError(f"{where}: unknown event code '{event}'")
            if events[event].family != family:
                raise TaxonomyError(f"{where}: event '{event}' belongs to family "
                                    f"'{events[event].family}', not '{family}'")
        classes[str(name)] = ClassSpec(str(name), role, family, event, tuple(v.get("aliases", ()) or ()))
    by_key: dict[str, ClassSpec] = {}
    for spec in classes.values():
        for alias in (spec.name, *spec.aliases):
            if (other := by_key.setdefault(_key(alias), spec)) is not spec:
                raise TaxonomyError(f"{source}: name '{alias}' is used by both '{other.name}' and '{spec.name}'")
    return Taxonomy(int(raw.get("version", 1)), families, events, classes, by_key)


def load_taxonomy(path: Path | str) -> Taxonomy:
    """Read and validate a taxonomy YAML file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaxonomyError(f"taxonomy file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: not valid YAML: {exc}") from None
    return parse_taxonomy(raw, str(path))
