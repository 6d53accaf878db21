"""The class taxonomy: detector classes -> violation families -> case event codes, and what the
code needs to know about each class (its typical size, how it is mounted, which classes one
licence covers, which count as the same kind of vehicle, which class a full bin is filed as).

Loaded from ``models/taxonomy.yaml``; see the comments in that file for its shape. Every name the
file uses is checked against the classes it defines, with an error that says where.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from streetwatch.core.errors import ConfigurationError

Role = Literal["violation", "evidence"]
Mounting = Literal["ground", "wall"]
MOUNTINGS: tuple[Mounting, ...] = ("ground", "wall")


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
    size: tuple[float, float, float] | None = None   # typical length, width, height in metres
    mounting: Mounting = "ground"                     # wall: a sign, its box bottom is not on the ground


@dataclass(frozen=True, slots=True)
class Taxonomy:
    version: int
    families: dict[str, FamilySpec]
    events: dict[str, EventSpec]
    classes: dict[str, ClassSpec]
    by_key: dict[str, ClassSpec]   # normalised name or alias -> class
    # group name -> the classes one licence of any of them covers (detectors confuse them)
    licence_groups: dict[str, frozenset[str]] = field(default_factory=dict)
    # group name -> classes a sighting of one of which may be the same vehicle as of another
    vehicle_groups: dict[str, frozenset[str]] = field(default_factory=dict)
    full_bin_class: str | None = None   # a bin judged full is filed under this class's event

    def lookup(self, name: str) -> ClassSpec | None:
        """Find a class by its name or one of its aliases (case- and separator-insensitive)."""
        return self.by_key.get(_key(name))

    def event_for(self, spec: ClassSpec) -> EventSpec | None:
        return self.events.get(spec.event_code) if spec.event_code else None

    def typical_size(self, class_name: str) -> tuple[float, float, float] | None:
        """Length, width, height (metres) of a class, or None when the file gives none."""
        spec = self.classes.get(class_name)
        return None if spec is None else spec.size

    def on_ground(self, class_name: str) -> bool:
        """Whether objects of the class stand on the ground (unknown classes: yes)."""
        spec = self.classes.get(class_name)
        return spec is None or spec.mounting == "ground"

    def licence_group(self, class_name: str) -> tuple[str | None, frozenset[str]]:
        """The licence group of a class (its name, or None) and the classes one licence covers (itself included)."""
        for name, members in self.licence_groups.items():
            if class_name in members:
                return name, members
        return None, frozenset({class_name})

    def same_vehicle_kind(self, a: str, b: str) -> bool:
        """Whether a sighting of class ``a`` may be the same vehicle as one of class ``b``."""
        return a == b or any(a in group and b in group for group in self.vehicle_groups.values())


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
        classes[str(name)] = ClassSpec(str(name), role, family, event, tuple(v.get("aliases", ()) or ()),
                                       _size(v.get("size"), where), _mounting(v.get("mounting", "ground"), where))
    by_key: dict[str, ClassSpec] = {}
    for spec in classes.values():
        for alias in (spec.name, *spec.aliases):
            if (other := by_key.setdefault(_key(alias), spec)) is not spec:
                raise TaxonomyError(f"{source}: name '{alias}' is used by both '{other.name}' and '{spec.name}'")
    full_bin = raw.get("full_bin_class")
    if full_bin is not None:
        full_bin = str(full_bin)
        if full_bin not in classes or classes[full_bin].event_code is None:
            raise TaxonomyError(f"{source}: full_bin_class '{full_bin}' must name a class with an event code "
                                f"(known classes: {', '.join(sorted(classes))})")
    return Taxonomy(int(raw.get("version", 1)), families, events, classes, by_key,
                    licence_groups=_groups(raw.get("licence_groups"), "licence_groups", classes, source),
                    vehicle_groups=_groups(raw.get("same_vehicle_groups"), "same_vehicle_groups", classes, source),
                    full_bin_class=full_bin)


def _size(value: Any, where: str) -> tuple[float, float, float] | None:
    if value is None:
        return None
    numbers: list[float] = []
    if isinstance(value, list | tuple) and len(value) == 3:
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item) or item <= 0:
                break
            numbers.append(float(item))
    if len(numbers) != 3:
        raise TaxonomyError(f"{where}: size must be [length, width, height] in metres, three numbers > 0; "
                            f"got {value!r}")
    return numbers[0], numbers[1], numbers[2]


def _mounting(value: Any, where: str) -> Mounting:
    if value not in MOUNTINGS:
        raise TaxonomyError(f"{where}: mounting must be one of {', '.join(MOUNTINGS)}; got {value!r}")
    mounting: Mounting = value
    return mounting


def _groups(raw: Any, key: str, classes: dict[str, ClassSpec], source: str) -> dict[str, frozenset[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{source}: {key} must map a group name to a list of classes, "
                            f"got {type(raw).__name__}")
    groups: dict[str, frozenset[str]] = {}
    seen: dict[str, str] = {}
    for name, members in raw.items():
        where = f"{source}: {key} '{name}'"
        if not isinstance(members, list) or len(members) < 2:
            raise TaxonomyError(f"{where}: expected a list of at least two classes, got {members!r}")
        for member in members:
            if member not in classes:
                raise TaxonomyError(f"{where}: unknown class '{member}' (known: {', '.join(sorted(classes))})")
            if (other := seen.setdefault(str(member), str(name))) != str(name):
                raise TaxonomyError(f"{where}: class '{member}' is already in group '{other}'")
        groups[str(name)] = frozenset(str(m) for m in members)
    return groups


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
