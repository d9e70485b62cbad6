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

PropertyType = Literal["string", "number", "bool", "enumeration", "date", "datetime"]
PROPERTY_TYPES: tuple[PropertyType, ...] = get_args(PropertyType)


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
    """A declared property of an object type, used to validate written values.

    ``options`` lists the allowed values of an ``enumeration`` (a value may name several,
    separated by ``;``, as HubSpot's multiple-checkbox properties do).
    """

    name: str
    type: PropertyType = attrs.field(
        default="string", validator=attrs.validators.in_(PROPERTY_TYPES)
    )
    options: tuple[str, ...] = attrs.field(default=(), converter=_to_options)


def _freeze_properties(
    value: Mapping[str, Sequence[PropertyDef]],
) -> Mapping[str, tuple[PropertyDef, ...]]:
    return {k: tuple(v) for k, v in value.items()}


@attrs.frozen(kw_only=True)
class EmulatorConfig:
    """Everything that shapes the emulator's behaviour.

    Attributes:
        token: the one accepted bearer token; ``None`` accepts any non-empty token.
        rate_limit_requests, rate_limit_window_seconds: the rolling window, per token.
        daily_limit: a daily request cap per token (``None``: not enforced).
        latency_seconds, jitter_seconds: added before each batch answer (jitter is uniform).
        faults: random fault injection.
        properties: declared properties per object type (name or type id).
        strict_properties: on object types with declared properties, reject unknown ones.
        validation_errors_as_207: when every input of a request carries an
            ``objectWriteTraceId``, answer invalid property values with a 207 (one error per bad
            input, the good ones written) instead of failing the whole request with a 400.
        shuffle_results: return results in a seeded random order (HubSpot guarantees none).
        include_requested_at: add ``requestedAt`` to batch answers.
        seed: seed of the result shuffling and latency jitter.
    """

    token: str | None = None
    rate_limit_requests: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    rate_limit_window_seconds: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    daily_limit: int | None = None
    latency_seconds: float = 0.0
    jitter_seconds: float = 0.0
    faults: FaultConfig = attrs.field(factory=FaultConfig)
    properties: Mapping[str, tuple[PropertyDef, ...]] = attrs.field(
        factory=dict, converter=_freeze_properties
    )
    strict_properties: bool = False
    validation_errors_as_207: bool = False
    shuffle_results: bool = True
    include_requested_at: bool = False
    seed: int = 0
