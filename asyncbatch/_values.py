"""Python values to the text HubSpot stores: property values, ids and names. Pure: no I/O.

HubSpot's batch inputs carry every property value as a string. ``convert_value`` turns what a
caller is likely to hold (str, numbers, bool, None, date, aware datetime, a list of options, and
the scalars numpy and pandas hand out) into that string, or raises ``InvalidInputError`` naming
the record's position and the property. ``check_text`` refuses text that cannot be sent at all.

Numbers are converted by value, never by ``repr``: numpy 2 spells ``np.float64(1.5)`` as
``"np.float64(1.5)"``, which would be stored as that text. numpy and pandas are never imported
here; their types are recognised only when the caller's program has imported them already.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import operator
import re
import sys
from decimal import Decimal
from typing import SupportsIndex

from ._convert import format_datetime
from ._exceptions import InvalidInputError

__all__ = ["check_text", "convert_value", "has_surrogate", "integer_text"]

# A str holding a code point in U+D800..U+DFFF cannot be encoded as UTF-8, so the whole
# request's JSON body would fail to encode and every record in the chunk with it. Such text
# comes from decoding bytes with errors="surrogateescape" (os.fsdecode, sys.argv) or from
# JSON's "\ud800" escapes. A properly paired emoji is one code point in Python, never two.
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogate(text: str) -> bool:
    """True if ``text`` holds a surrogate code point (which UTF-8, so JSON, cannot carry)."""
    # isascii() reads a flag CPython keeps on every str: the usual case costs no scan.
    return not text.isascii() and _SURROGATE.search(text) is not None


def check_text(text: str, *, position: int, field: str | None, what: str) -> str:
    """Return ``text`` if it can be sent as UTF-8 JSON.

    Raises:
        InvalidInputError: ``text`` holds a lone surrogate; the message says where in ``text``.
    """
    if not text.isascii():
        found = _SURROGATE.search(text)
        if found is not None:
            raise InvalidInputError(
                f"{what} holds the lone surrogate U+{ord(found.group()):04X} at index "
                f"{found.start()}, which cannot be sent as UTF-8 (text decoded with "
                "errors='surrogateescape'?)",
                position=position,
                field=field,
            )
    return text


def integer_text(value: object, *, position: int, field: str | None) -> str | None:
    """The decimal digits of an integer value (int, numpy's integers, anything with
    ``__index__``), or None when ``value`` is not an integer. bool is not one here.

    Raises:
        InvalidInputError: more digits than Python will write (``sys.get_int_max_str_digits``,
            4,300 by default); no HubSpot property holds such a number anyway.
    """
    if isinstance(value, bool) or _is_numpy_bool(value):
        return None
    if isinstance(value, int):
        number = int(value)  # by value: an int subclass's __str__ may say anything
    elif isinstance(value, SupportsIndex):  # numbers.Integral (numpy's integers) and more
        try:
            number = operator.index(value)
        except TypeError:
            return None
    else:
        return None
    return _int_text(number, position=position, field=field)


def _int_text(number: int, *, position: int, field: str | None) -> str:
    try:
        return str(number)
    except ValueError:
        raise InvalidInputError(
            f"an integer of about {int(number.bit_length() * math.log10(2)) + 1} digits is "
            f"more than can be written as text (limit {sys.get_int_max_str_digits()} digits)",
            position=position,
            field=field,
        ) from None


def convert_value(value: object, *, position: int, name: str) -> str:
    """Convert one property value to the string HubSpot expects.

    - str as is; None to ``""`` (clears the property);
    - bool and numpy's bool to ``"true"``/``"false"``;
    - integers (int, numpy's integers, anything with ``__index__``) to their digits;
    - real numbers (float, numpy's floats, Fraction: any ``numbers.Real``) by their float value,
      in plain decimal notation (``1e20`` as ``100000000000000000000``); Decimal exactly;
    - date to ``YYYY-MM-DD``; aware datetime (pandas' Timestamp too) to ISO 8601 UTC with
      milliseconds and ``Z``;
    - a list or tuple of strings to a ``;``-joined multiple-checkbox value.

    Missing values are refused, not written as ``""``: NaN (``numpy.nan``), ``pandas.NA`` and
    ``pandas.NaT`` mean "no data here", while ``""`` tells HubSpot to *clear* the stored value,
    so a sparse DataFrame column would silently wipe existing data. Pass None to clear a
    property, or leave the property out to keep it.

    Raises:
        InvalidInputError: naming ``position`` and ``name``, for anything else (nested dict,
            bytes, naive datetime, NaN and infinities, missing values, text with a lone
            surrogate, an integer too long to write...).
    """
    if isinstance(value, str):
        if type(value) is not str:
            value = str.__str__(value)  # numpy.str_ and other subclasses: a plain str
        return check_text(value, position=position, field=name, what="the value")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _int_text(int(value), position=position, field=name)
    if isinstance(value, float):
        return _real_text(float(value), position=position, name=name)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidInputError(
                f"{value!r} is not a number HubSpot can store", position=position, field=name
            )
        return format(value, "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            _refuse_missing(value, position=position, name=name)  # pandas.NaT is a datetime
            raise InvalidInputError(
                "naive datetime: give it a timezone so the instant is unambiguous",
                position=position,
                field=name,
            )
        try:
            return format_datetime(value)
        except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past year 9999 in UTC
            raise InvalidInputError(
                "datetime is out of range once moved to UTC", position=position, field=name
            ) from None
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return _options_text(value, position=position, name=name)
    if _is_numpy_bool(value):
        return "true" if value else "false"
    digits = integer_text(value, position=position, field=name)
    if digits is not None:
        return digits
    if isinstance(value, numbers.Real):
        return _real_text(float(value), position=position, name=name)
    _refuse_missing(value, position=position, name=name)
    raise InvalidInputError(
        f"unsupported value type {type(value).__name__}; use str, int, float, Decimal, bool, "
        "None, date, aware datetime or a list of str",
        position=position,
        field=name,
    )


def _real_text(value: float, *, position: int, name: str) -> str:
    if not math.isfinite(value):
        hint = " (a missing value?); pass None to clear the property" if value != value else ""
        raise InvalidInputError(
            f"{value!r} is not a number HubSpot can store{hint}", position=position, field=name
        )
    text = repr(value)
    # HubSpot reads plain decimals; 1e+20 would be stored as text, so spell it out.
    return format(Decimal(text), "f") if "e" in text or "E" in text else text


def _options_text(value: list[object] | tuple[object, ...], *, position: int, name: str) -> str:
    options: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise InvalidInputError(
                f"a multiple-checkbox value must be a list of strings, found {type(item).__name__}",
                position=position,
                field=name,
            )
        if ";" in item:
            raise InvalidInputError(
                f"multiple-checkbox option {item!r} contains ';', HubSpot's separator",
                position=position,
                field=name,
            )
        options.append(item)
    return check_text(";".join(options), position=position, field=name, what="the value")


def _is_numpy_bool(value: object) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.bool_)


def _refuse_missing(value: object, *, position: int, name: str) -> None:
    pandas = sys.modules.get("pandas")
    if pandas is not None and (value is pandas.NA or value is pandas.NaT):
        raise InvalidInputError(
            f"pandas.{'NA' if value is pandas.NA else 'NaT'} is a missing value, not one "
            "HubSpot can store; pass None to clear the property, or leave it out to keep it",
            position=position,
            field=name,
        )
