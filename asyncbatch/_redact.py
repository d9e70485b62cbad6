"""Keeping secrets out of text: ``redact_url`` for URLs shown in reprs, logs and errors, and
``mask`` for any other text that may hold them. Pure: no I/O.

A URL with a secret in it may not be well formed: a password can hold an unescaped ``@``,
``/``, ``?`` or ``#`` (``redis://:p@ss/word@host/0``), so no single reading of it is safe.
``redact_url`` reads it both ways, as a standard parser (RFC 3986, as redis-py does) and as
"the userinfo runs to the last ``@``", and hides what either reading calls a secret: the
password, every query value and any fragment. It hides too much rather than too little.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

__all__ = ["MASK", "mask", "redact_url", "url_secrets"]

#: What a hidden secret is replaced with.
MASK = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")

Span = tuple[int, int]


def _userinfo_span(rest: str, at: int, *, whole: bool) -> Span | None:
    """The secret part of the userinfo ``rest[:at]``: after the first ``:``, or all of it
    when there is no ``:`` (a lone user name may be a token) or ``whole`` is set."""
    if at < 0:
        return None
    colon = rest.find(":", 0, at)
    return (colon + 1, at) if colon >= 0 and not whole else (0, at)


def _tail_spans(rest: str, start: int) -> list[Span]:
    """The secret parts of the query and fragment that begin at or after ``start``: the query
    from its first ``=`` on (an unescaped ``&`` or ``=`` in a value makes later names
    untrustworthy), all of a query without ``=``, and all of the fragment."""
    spans = []
    query, hash_ = rest.find("?", start), rest.find("#", start)
    end = hash_ if hash_ >= 0 else len(rest)
    if 0 <= query < end:
        equals = rest.find("=", query + 1, end)
        spans.append((equals + 1 if equals >= 0 else query + 1, end))
    if hash_ >= 0:
        spans.append((hash_ + 1, len(rest)))
    return spans


def _raw_spans(rest: str, *, whole: bool) -> tuple[list[Span], list[Span]]:
    """The userinfo spans and the query/fragment spans of ``rest`` (a URL after its
    ``scheme://``) that either reading calls secret; they may overlap. ``whole``: hide the
    user name too (the URL has no scheme, so what precedes the ``:`` is anyone's guess)."""
    last_at = rest.rfind("@")
    netloc_end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
    userinfo = [
        _userinfo_span(rest, last_at, whole=whole),
        _userinfo_span(rest, rest.rfind("@", 0, netloc_end), whole=whole),
    ]
    tails = [*_tail_spans(rest, 0), *_tail_spans(rest, last_at + 1)]
    found = [span for span in userinfo if span is not None]
    return [s for s in found if s[0] < s[1]], [s for s in tails if s[0] < s[1]]


def _secret_spans(rest: str, *, whole: bool) -> list[Span]:
    """Every secret span of ``rest``, merged and in order."""
    userinfo, tails = _raw_spans(rest, whole=whole)
    merged: list[Span] = []
    for lo, hi in sorted(userinfo + tails):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _split_scheme(url: str) -> tuple[str, str]:
    match = _SCHEME.match(url)
    return (url[: match.end()], url[match.end() :]) if match else ("", url)


def redact_url(url: str) -> str:
    """``url`` with its password, query values and fragment replaced by ``***``.

    ``redis://user:pw@host:6379/0?password=pw`` becomes
    ``redis://user:***@host:6379/0?password=***``; without a ``scheme://`` the user name is
    hidden too (``***@host``). A URL without secrets comes back unchanged. Never raises,
    whatever the URL holds.
    """
    prefix, rest = _split_scheme(url)
    shown, done = [prefix], 0
    for lo, hi in _secret_spans(rest, whole=not prefix):
        shown += [rest[done:lo], MASK]
        done = hi
    shown.append(rest[done:])
    return "".join(shown)


def url_secrets(url: str) -> list[str]:
    """The secrets ``redact_url`` hides in ``url``, as written and percent-decoded, longest
    first, for ``mask``-ing messages that may quote them (a Redis client's error, say): the
    password, and the query's values one by one as well as together.

    Query values of at most four digits (``db=0``, timeouts) are left out: masking every
    ``0`` in a message would garble it, and a number that short is a setting, not a
    credential.
    """
    prefix, rest = _split_scheme(url)
    userinfo, tails = _raw_spans(rest, whole=not prefix)
    found = [rest[lo:hi] for lo, hi in userinfo]
    for lo, hi in tails:
        text = rest[lo:hi]
        pieces = [text, *(piece.partition("=")[2] or piece for piece in text.split("&"))]
        found += [piece for piece in pieces if not (piece.isdigit() and len(piece) <= 4)]
    secrets = {s for text in found for s in (text, unquote(text)) if s}
    # A password with an unescaped "@", "/" or ":" is read by a Redis client as a host, a
    # port or a path, and its errors quote those pieces ("connecting to ss:6379" for
    # redis://:p@ss/w@h): each piece between delimiters is a secret too, bar pieces too short
    # to tell anything (masking every "p" would garble the message, not protect the secret).
    fragments = {
        p for text in secrets for p in _DELIMITERS.split(text) if len(p) >= 2 and not p.isdigit()
    }
    return sorted(secrets | fragments, key=len, reverse=True)


_DELIMITERS = re.compile(r"[@/:?#&=]")


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each non-empty secret replaced by ``***``, the
    longest first (so a secret that contains another is hidden whole)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
