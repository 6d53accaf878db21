"""City rules: each judges an observation and returns the violations it finds.

One small class per rule, one verb: ``Rule.evaluate(observation, context) -> list[Violation]``.
"""

from pipeline.rules.base import Rule, RuleContext
from pipeline.rules.taxonomy_rule import TaxonomyRule

__all__ = ["Rule", "RuleContext", "TaxonomyRule"]
