"""Policy rules as versioned configuration: checked SQL expressions over documented mart columns,
evaluated inside the warehouse, simulated on history, activated with an audit trail."""

from scoring.rules.expressions import ExpressionError, parse
from scoring.rules.policy import PolicyError, RuleSet, load_policy, parse_policy

__all__ = ["ExpressionError", "PolicyError", "RuleSet", "load_policy", "parse", "parse_policy"]
