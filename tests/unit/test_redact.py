"""``redact_url``, ``url_secrets`` and ``mask``: no secret of a URL survives into text shown,
however the URL is malformed (issue 12 item 14)."""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from asyncbatch._redact import mask, redact_url, url_secrets


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://h:1/0", "redis://h:1/0"),
        ("redis://:s3cret@h:1/0", "redis://:***@h:1/0"),
        ("redis://worker:s3cret@cache.internal:6379/0", "redis://worker:***@cache.internal:6379/0"),
        # An unescaped '@' and '/' in the password: a standard parser takes "ss" for the host.
        ("redis://:p@ss/word@host/0", "redis://:***@host/0"),
        ("redis://host/0?password=secret", "redis://host/0?password=***"),
        # An unescaped '&' in a query value: the names after it are not trusted either.
        ("redis://host/0?password=se&cr=et", "redis://host/0?password=***"),
        ("redis://:pa?ss@host/0?db=1", "redis://:***@host/0?db=***"),
        ("unix:///run/redis.sock?password=x&db=0", "unix:///run/redis.sock?password=***"),
        ("redis://token@host:6379", "redis://***@host:6379"),  # a lone user may be a token
        ("rediss://u:p%40ss@host", "rediss://u:***@host"),
        ("redis://[::1", "redis://[::1"),  # malformed, but nothing to hide
        ("redis//:s3cret@h", "***@h"),  # no scheme: the user name is anyone's guess
        ("127.0.0.1:6379", "127.0.0.1:6379"),
        ("", ""),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("redis://:p@ss/word@host/0", "p@ss/word"),
        ("redis://host/0?password=secret", "secret"),
        ("redis://host/0?password=p@ss", "p@ss"),
        ("redis://:pa#ss@host/0", "pa#ss"),
        ("redis://:pa?ss@host/0", "pa?ss"),
    ],
)
def test_hostile_urls_leak_no_part_of_the_secret(url: str, secret: str) -> None:
    shown = redact_url(url)
    rest = url.replace(secret, " ")
    # No piece of the secret of 2 or more characters shows (unless the URL has it elsewhere).
    pieces = {secret[i:j] for i in range(len(secret)) for j in range(i + 2, len(secret) + 1)}
    assert not [piece for piece in pieces if piece in shown and piece not in rest], shown


PASSWORD_CHARS = string.ascii_letters + string.digits + "@/?#:%&=!$*+,;-._~"
passwords = st.text(PASSWORD_CHARS, min_size=6, max_size=30)


@given(password=passwords, user=st.sampled_from(["", "worker"]), query=st.booleans())
def test_a_random_password_never_shows(password: str, user: str, query: bool) -> None:
    if query:
        url = f"redis://cache.internal:6379/0?password={password}"
    else:
        url = f"redis://{user}:{password}@cache.internal:6379/0"
    assume(password not in url.replace(password, ""))  # not also part of the host or path
    assert password not in redact_url(url)
    assert password not in mask(f"failed: {url} / {password}", url_secrets(url))


def test_url_secrets_as_written_and_decoded() -> None:
    secrets = url_secrets("redis://u:p%40ss@h/0?password=t%26k&db=0")
    assert {"p%40ss", "p@ss", "t%26k", "t&k"} <= set(secrets)
    assert "0" not in secrets  # a number in the query is not masked everywhere
    assert secrets == sorted(secrets, key=len, reverse=True)
    assert url_secrets("redis://h:6379/0") == []


def test_mask_replaces_every_occurrence_longest_first() -> None:
    assert mask("a secret, a secretive one", ["secret", "secretive"]) == "a ***, a *** one"
    assert mask("pw pw", ["pw"]) == "*** ***"
    assert mask("nothing here", ["", "absent"]) == "nothing here"


def test_pieces_of_a_malformed_password_are_secrets_too() -> None:
    # A Redis client reads redis://:p@ss/word@h as host "ss" and quotes it in its errors
    # ("connecting to ss:6379"); the limiter's messages must not show it.
    from asyncbatch._redact import url_secrets

    secrets = url_secrets("redis://:p@ssw/word@h/0")
    assert {"p@ssw/word", "ssw", "word"} <= set(secrets)
    assert mask("Error connecting to ssw:6379", secrets) == "Error connecting to ***:6379"
