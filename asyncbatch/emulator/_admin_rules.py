"""Admin-configured validation rules, checked on writes from API ``2026-09`` on. No I/O.

HubSpot's developer changelog ("Breaking Change: CRM API Write Validation Enforcement Starting
with the 2026-09 API Version"): "If an admin has configured a rule that makes a property
required when another property has a specific value (for example, close_date becomes required
when dealstage is set to closedwon), the API will return a 400 validation error if that
property is missing on write."

Nothing public says whether "missing on write" means missing from the request or from the
record after it; the stricter reading is taken:

- a write that sets ``when_property`` to ``when_value`` must itself carry a value for each
  required property (a value already stored on the record does not do);
- a write to a record that already has ``when_value`` may not clear a required property.

A write touching neither the condition nor a required property is not checked, so a record
stored before the rule stays writable.

The refusal has the shape of HubSpot's property-validation 400 ("Property values were not
valid: [...]", changelog "Property Validations Rules will be enforced for APIs and
Integrations"): it names the property, never the record. Its code is not public:
``MISSING_REQUIRED_PROPERTY`` is ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ._config import ValidationRule
from ._validation import Issue

__all__ = ["MISSING_REQUIRED", "rule_issues"]

MISSING_REQUIRED = "MISSING_REQUIRED_PROPERTY"


def rule_issues(
    rules: Sequence[ValidationRule],
    written: Mapping[str, str],
    stored: Mapping[str, str] | None,
) -> list[Issue]:
    """The required properties one write leaves without a value, one issue per property.

    ``written`` are the values the input writes, ``stored`` the record's current values
    (``None`` for a record the write creates).
    """
    issues: dict[str, Issue] = {}
    for rule in rules:
        for name in _missing(rule, written, stored):
            message = f"{name} is required when {rule.when_property} is {rule.when_value}"
            issues.setdefault(name, (name, MISSING_REQUIRED, message))
    return list(issues.values())


def _missing(
    rule: ValidationRule, written: Mapping[str, str], stored: Mapping[str, str] | None
) -> list[str]:
    if written.get(rule.when_property) == rule.when_value:
        return [name for name in rule.requires if not written.get(name)]
    already = stored is not None and stored.get(rule.when_property) == rule.when_value
    if already and rule.when_property not in written:
        return [name for name in rule.requires if name in written and not written[name]]
    return []
