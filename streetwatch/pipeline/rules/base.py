"""The rule interface, what rules may consult, and their tunable parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from streetwatch.core.history import SightingHistory
from streetwatch.core.permits import PermitRegistry
from streetwatch.core.rule_params import RuleParams
from streetwatch.core.taxonomy import Taxonomy
from streetwatch.core.types import Observation, Violation
from streetwatch.core.zones import ZoneIndex


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule may consult besides the observation itself.

    Attributes:
        taxonomy: Classes, families and event codes.
        zones: The city's zones, or None when none are configured.
        permits: The licensed-advertising registry, or None when none is configured.
        history: Earlier sightings (other passes), or None when unavailable.
        params: Tunable numbers.
        nearby: Other observations of the same video (e.g. all of them); rules pick what is close.
    """

    taxonomy: Taxonomy
    zones: ZoneIndex | None = None
    permits: PermitRegistry | None = None
    history: SightingHistory | None = None
    params: RuleParams = field(default_factory=RuleParams)
    nearby: tuple[Observation, ...] = ()


class Rule(Protocol):
    """Judges one observation."""

    name: str
    version: str

    def evaluate(self, observation: Observation, context: RuleContext) -> list[Violation]:
        """Return the violations this observation shows under this rule (often none)."""
        ...
