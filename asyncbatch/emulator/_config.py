"""Configuration values of the emulator: plain frozen attrs classes. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, get_args

import attrs

FaultKind = Literal[
    "500",
    "502",
    "503",
    "504",
    "423",
    "477",
    "429_secondly",
    "reset",
    "slow",
    "html",
    "html200",
    "lost",
]
"""A kind of injected fault.

- ``"500"``, ``"502"``, ``"503"``, ``"504"``: a JSON HubSpot error with that status.
- ``"423"``: HubSpot's ``423 Locked`` answer.
- ``"477"``: ``477 Migration in Progress`` with a ``Retry-After`` header (seconds).
- ``"429_secondly"``: a burst 429 whose ``policyName`` is ``SECONDLY``.
- ``"reset"``: the connection is dropped before the request is processed.
- ``"slow"``: the answer comes after ``FaultConfig.slow_seconds`` (the write is then applied).
- ``"html"``: a 502 with an HTML body; ``"html200"``: a 200 with an HTML body.
- ``"lost"``: the write is applied, then the connection is dropped without an answer.
"""

ALL_FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)

PropertyType = Literal[
    "string", "number", "bool", "enumeration", "date", "datetime", "phone_number"
]
PROPERTY_TYPES: tuple[PropertyType, ...] = get_args(PropertyType)

ValueFormat = Literal["email", "owner_id"]
"""A check beyond the property's type: ``"email"`` (an e-mail address, compared without case or
surrounding spaces on contacts) or ``"owner_id"`` (an integer, as ``hubspot_owner_id`` takes)."""


def _to_kinds(kinds: Iterable[FaultKind]) -> tuple[FaultKind, ...]:
    return tuple(kinds)


def _to_options(options: Iterable[str]) -> tuple[str, ...]:
    return tuple(options)


def _check_fault_kinds(_inst: object, _attr: object, kinds: tuple[str, ...]) -> None:
    unknown = [k for k in kinds if k not in ALL_FAULT_KINDS]
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}; known: {list(ALL_FAULT_KINDS)}")


@attrs.frozen(kw_only=True)
class FaultConfig:
    """Seeded random fault injection on the batch endpoints.

    Each batch request gets a fault with probability ``rate``; the kind is drawn uniformly from
    ``kinds``. Faults forced with ``Emulator.inject`` take precedence over random ones.
    """

    rate: float = attrs.field(default=0.0, validator=[attrs.validators.ge(0.0)])
    kinds: tuple[FaultKind, ...] = attrs.field(
        default=ALL_FAULT_KINDS, converter=_to_kinds, validator=_check_fault_kinds
    )
    seed: int = 0
    slow_seconds: float = 30.0
    retry_after_seconds: float = 1.0

    @rate.validator
    def _check_rate(self, _attr: object, value: float) -> None:
        if value > 1.0:
            raise ValueError(f"fault rate must be in [0, 1], got {value}")


@attrs.frozen
class PropertyDef:
    """A property of an object type, in the terms of HubSpot's property definitions.

    ``options`` lists the allowed values of an ``enumeration``; a ``checkbox`` enumeration (the
    default ``field_type`` of a declared one) takes several, separated by ``;``, while ``select``
    and ``radio`` take one. ``option_labels``, when given, are the options' labels in order.
    ``has_unique_value`` makes the property usable as an ``idProperty``; ``calculated`` and
    ``read_only_value`` make it refuse writes, as HubSpot's ``hs_object_id`` does.
    """

    name: str
    type: PropertyType = attrs.field(
        default="string", validator=attrs.validators.in_(PROPERTY_TYPES)
    )
    options: tuple[str, ...] = attrs.field(default=(), converter=_to_options)
    label: str | None = attrs.field(default=None, kw_only=True)
    field_type: str | None = attrs.field(default=None, kw_only=True)
    option_labels: tuple[str, ...] = attrs.field(default=(), kw_only=True, converter=_to_options)
    has_unique_value: bool = attrs.field(default=False, kw_only=True)
    calculated: bool = attrs.field(default=False, kw_only=True)
    read_only_value: bool = attrs.field(default=False, kw_only=True)
    value_format: ValueFormat | None = attrs.field(default=None, kw_only=True)
    group_name: str | None = attrs.field(default=None, kw_only=True)
    description: str = attrs.field(default="", kw_only=True)
    hubspot_defined: bool = attrs.field(default=False, kw_only=True)

    @option_labels.validator
    def _check_labels(self, _attr: object, labels: tuple[str, ...]) -> None:
        if labels and len(labels) != len(self.options):
            raise ValueError(f"{self.name}: {len(labels)} option labels for {len(self.options)}")

    @property
    def shown_field_type(self) -> str:
        """``fieldType`` as HubSpot shows it: the given one, else the type's usual one."""
        return self.field_type or _FIELD_TYPES[self.type]

    @property
    def takes_several(self) -> bool:
        """Whether a value may name several options (``a;b``): checkbox enumerations."""
        return self.type == "enumeration" and self.shown_field_type == "checkbox"


_FIELD_TYPES: Mapping[str, str] = {
    "string": "text",
    "number": "number",
    "bool": "booleancheckbox",
    "enumeration": "checkbox",
    "date": "date",
    "datetime": "date",
    "phone_number": "phonenumber",
}


def _freeze_properties(
    value: Mapping[str, Sequence[PropertyDef]],
) -> Mapping[str, tuple[PropertyDef, ...]]:
    return {k: tuple(v) for k, v in value.items()}


def _to_names(names: str | Iterable[str]) -> tuple[str, ...]:
    return (names,) if isinstance(names, str) else tuple(names)


def _check_names(_inst: object, _attr: object, names: tuple[str, ...]) -> None:
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"a rule requires one or more property names, got {names!r}")


@attrs.frozen
class ValidationRule:
    """An admin-configured conditional requirement, checked on writes from API ``2026-09`` on.

    When a write sets ``when_property`` to ``when_value``, each property of ``requires`` must
    have a value, e.g. ``ValidationRule("dealstage", "closedwon", requires="closedate")`` (the
    example of HubSpot's changelog, "CRM API Write Validation Enforcement Starting with the
    2026-09 API Version"). ``requires`` takes one name or several.
    """

    when_property: str
    when_value: str
    requires: tuple[str, ...] = attrs.field(converter=_to_names, validator=_check_names)


def _freeze_rules(
    value: Mapping[str, Sequence[ValidationRule]],
) -> Mapping[str, tuple[ValidationRule, ...]]:
    return {k: tuple(v) for k, v in value.items()}


def _check_secret(_inst: object, attr: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attr.name} must be a non-empty string")


@attrs.frozen(kw_only=True)
class OAuthApp:
    """A public app whose tokens the emulator issues at ``POST /oauth/v1/token`` (HubSpot's
    refresh grant: ``grant_type=refresh_token`` with ``client_id``, ``client_secret`` and
    ``refresh_token``, form-encoded).

    Each access token it issues is accepted for ``token_lifetime_seconds`` (HubSpot's
    ``expires_in``: 1800) on the emulator's clock, then refused with a 401
    ``EXPIRED_AUTHENTICATION``. ``rotate_refresh_tokens``: each refresh answers a new refresh
    token and the old one stops working (HubSpot keeps it; a stricter server may not). The
    secrets are left out of the repr.
    """

    client_id: str = attrs.field(validator=_check_secret)
    client_secret: str = attrs.field(validator=_check_secret, repr=False)
    refresh_token: str = attrs.field(validator=_check_secret, repr=False)
    token_lifetime_seconds: int = attrs.field(default=1800, validator=attrs.validators.ge(1))
    rotate_refresh_tokens: bool = False


@attrs.frozen(kw_only=True)
class EmulatorConfig:
    """Everything that shapes the emulator's behaviour.

    Attributes:
        token: the one accepted bearer token; ``None`` accepts any non-empty token.
        rate_limit_requests, rate_limit_window_seconds: the rolling window, per token.
        daily_limit: a daily request cap per token (``None``: not enforced).
        daily_headers: send ``X-HubSpot-RateLimit-Daily`` and ``-Daily-Remaining`` (the
            default, as HubSpot does for private apps); ``False`` leaves them out of every
            answer. Answers to a request authorized with an access token that ``oauth``'s
            token endpoint issued never carry them, as HubSpot's answers to OAuth-authorized
            requests do not (its API usage guidelines,
            https://developers.hubspot.com/docs/api/usage-details).
        latency_seconds, jitter_seconds: added before each batch answer (jitter is uniform).
        faults: random fault injection.
        strict: behave as HubSpot does (the default): every object type has property
            definitions (HubSpot's defaults for the known types, plus ``properties``), served
            at ``GET /crm/v3/properties/{objectType}``; unknown object types, undefined,
            read-only and invalid properties, a non-unique ``idProperty`` and unique-value
            conflicts are refused with HubSpot's bodies, which name no record. ``False`` is the
            lenient mode: any object type and undeclared property is accepted, only
            ``properties`` are checked, and validation 400s name the inputs (``context.ids``).
        properties: declared properties per object type (name or type id); in strict mode
            they add to (and, by name, replace) HubSpot's defaults.
        strict_properties: lenient mode only: on object types with declared properties,
            reject unknown ones.
        portal_id: the account id HubSpot's messages name ("... in portal ID 12345678").
        token_expires_after_seconds: each token is refused with a 401
            ``EXPIRED_AUTHENTICATION`` this long (on the emulator's clock) after its first
            request, as a HubSpot OAuth access token expires; ``None``: tokens never expire.
        oauth: a public app whose access tokens the emulator issues at ``POST
            /oauth/v1/token`` (refresh grant), each for its ``token_lifetime_seconds``. With
            one, the API accepts only the tokens it issued (and ``token``, if set).
        validation_errors_as_207: when every input of an update or upsert carries a distinct
            ``objectWriteTraceId``, answer invalid property values with a 207 (one error per bad
            input, the good ones written) instead of failing the whole request with a 400.
            A create always does so (HubSpot's multi-status create, see ``_batch``). In API
            ``2026-09`` the same errors come inside the 200 (201 for create).
        validation_rules: admin-configured rules per object type (name or type id), enforced
            on writes through API ``2026-09`` only, as HubSpot does: a write that breaks one is
            refused whole with a 400 ``VALIDATION_ERROR`` naming the property, not the record.
        shuffle_results: return results in a seeded random order (HubSpot guarantees none).
        include_requested_at: add ``requestedAt`` to batch answers.
        seed: seed of the result shuffling and latency jitter.
    """

    token: str | None = None
    rate_limit_requests: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    rate_limit_window_seconds: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    daily_limit: int | None = None
    daily_headers: bool = True
    latency_seconds: float = 0.0
    jitter_seconds: float = 0.0
    faults: FaultConfig = attrs.field(factory=FaultConfig)
    properties: Mapping[str, tuple[PropertyDef, ...]] = attrs.field(
        factory=dict, converter=_freeze_properties
    )
    strict: bool = True
    strict_properties: bool = False
    portal_id: int = 12345678
    token_expires_after_seconds: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
    oauth: OAuthApp | None = None
    validation_errors_as_207: bool = False
    validation_rules: Mapping[str, tuple[ValidationRule, ...]] = attrs.field(
        factory=dict, converter=_freeze_rules
    )
    shuffle_results: bool = True
    include_requested_at: bool = False
    seed: int = 0
