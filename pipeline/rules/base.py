"""The rule interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pipeline.taxonomy import Taxonomy
from pipeline.types import Observation, Violation


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule may consult besides the observation itself."""

    taxonomy: Taxonomy


class Rule(Protocol):
    """Judges one observation."""

    name: str
    version: str

    def evaluate(self, observation: Observation, context: RuleContext) -> list[Violation]:
        """Return the violations this observation shows under this rule (often none)."""
        ...
