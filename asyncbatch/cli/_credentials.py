"""Which credentials a job authenticates with. Reads ``--token-file`` and the environment; no
network I/O (the OAuth provider it builds refreshes only once a client uses it).

In this order, the first that is given wins:

1. ``--token-file PATH``: a static access token (the OAuth variables are then not read);
2. ``HUBSPOT_CLIENT_ID``, ``HUBSPOT_CLIENT_SECRET`` and ``HUBSPOT_REFRESH_TOKEN``, all three:
   a public app's credentials, given to the client as ``asyncbatch.OAuthRefresh``, which gets
   an access token before the first request and a new one before each expires (HubSpot's are
   30 minutes), so a long run survives them; ``HUBSPOT_ACCESS_TOKEN``, if set too, is not used;
3. ``HUBSPOT_ACCESS_TOKEN``: a static access token (a private app's).

A variable set to nothing but blanks counts as unset. One or two of the three OAuth variables
is a usage error naming the missing ones (never a value). No message, repr or description
here holds a secret; ``environment_secrets`` lists the values to mask in anything printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import attrs

from .._oauth import OAuthRefresh

__all__ = [
    "ACCESS_TOKEN",
    "OAUTH_VARIABLES",
    "Credentials",
    "CredentialsError",
    "NoCredentialsError",
    "choose_credentials",
    "environment_secrets",
    "read_token_file",
]

ACCESS_TOKEN = "HUBSPOT_ACCESS_TOKEN"
OAUTH_VARIABLES = ("HUBSPOT_CLIENT_ID", "HUBSPOT_CLIENT_SECRET", "HUBSPOT_REFRESH_TOKEN")
#: The OAuth variables as messages name them.
OAUTH_NAMES = "HUBSPOT_CLIENT_ID, HUBSPOT_CLIENT_SECRET and HUBSPOT_REFRESH_TOKEN"


class CredentialsError(Exception):
    """Credentials given that cannot be used (one line, naming no secret)."""


class NoCredentialsError(CredentialsError):
    """No credentials given at all."""


@attrs.frozen
class Credentials:
    """What the client is given: a static ``token``, or an ``oauth`` provider.

    Attributes:
        source: where they came from, for messages (``HUBSPOT_ACCESS_TOKEN``...).
        unused: a credential also given and not used, for a note (None: none).
    """

    token: str = attrs.field(default="", repr=False)
    oauth: OAuthRefresh | None = attrs.field(default=None, repr=False)
    source: str = ""
    unused: str | None = None


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _value(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def read_token_file(path: Path) -> str:
    """The token in ``path``: one line, not empty.

    Raises:
        CredentialsError: it cannot be read, is empty or holds more than one line.
    """
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise CredentialsError(f"cannot read --token-file {path}: {reason}") from None
    if not token:
        raise CredentialsError(f"--token-file {path} is empty")
    if "\n" in token or "\r" in token:
        raise CredentialsError(f"--token-file {path} must hold the token on one line")
    return token


def _oauth(environ: Mapping[str, str]) -> OAuthRefresh | None:
    """The OAuth app the environment names, or None when it names none.

    Raises:
        CredentialsError: one or two of the three variables set, naming the missing ones.
    """
    given = [name for name in OAUTH_VARIABLES if _value(environ, name)]
    if not given:
        return None
    missing = [name for name in OAUTH_VARIABLES if name not in given]
    if missing:
        raise CredentialsError(
            f"incomplete OAuth credentials: {_listed(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set ({_listed(given)} "
            f"{'is' if len(given) == 1 else 'are'}); an OAuth app needs all three of "
            f"{OAUTH_NAMES} (or none, to use {ACCESS_TOKEN} or --token-file)"
        )
    client_id, secret, refresh = (_value(environ, name) for name in OAUTH_VARIABLES)
    return OAuthRefresh(client_id, secret, refresh)


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def choose_credentials(
    token_file: Path | None, environ: Mapping[str, str] | None = None
) -> Credentials:
    """The job's credentials, by the order in the module's docstring.

    Raises:
        NoCredentialsError: none given.
        CredentialsError: a token file that cannot be used, or an incomplete OAuth set.
    """
    env = _environ(environ)
    if token_file is not None:
        return Credentials(token=read_token_file(token_file), source=f"--token-file {token_file}")
    oauth = _oauth(env)
    if oauth is not None:
        unused = f"{ACCESS_TOKEN} is set too and not used" if _value(env, ACCESS_TOKEN) else None
        source = f"the OAuth app of {OAUTH_NAMES} (its access token refreshed as it expires)"
        return Credentials(oauth=oauth, source=source, unused=unused)
    token = _value(env, ACCESS_TOKEN)
    if not token:
        raise NoCredentialsError(
            f"no access token: set {ACCESS_TOKEN} (or {OAUTH_NAMES}, a public app's "
            "credentials) or pass --token-file PATH (or try --sandbox)"
        )
    return Credentials(token=token, source=ACCESS_TOKEN)


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The credential values in the environment (the access token, the client secret, the
    refresh token), to mask in anything printed."""
    env = _environ(environ)
    names = (ACCESS_TOKEN, *OAUTH_VARIABLES[1:])
    return [value for name in names if (value := _value(env, name))]
