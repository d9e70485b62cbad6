"""The proxy the environment names for a URL, as aiohttp's ``trust_env`` reads it, and the
secrets of every proxy it names. Reads the environment and ``.netrc``; no network I/O.

What ``env_proxy`` honours, like aiohttp's ``trust_env`` (``aiohttp.helpers.proxies_from_env``
and ``get_env_proxy_for_url``): the proxy named for the URL's scheme, ``HTTPS_PROXY`` (or
``https_proxy``) for an ``https://`` URL and ``HTTP_PROXY`` for an ``http://`` one, unless
``NO_PROXY`` names the host; an ``https://`` proxy is ignored (aiohttp cannot use one); a proxy
named without credentials takes them from ``.netrc`` (``$NETRC``, else ``~/.netrc``) if it has
the proxy's host. "proxy.corp:3128", without a scheme, is read as ``http://`` (as curl does).

What it does not do, unlike aiohttp's ``trust_env``: apply ``.netrc`` to the URL's own host.
The client authorizes every request with its Bearer token; aiohttp would add the ``.netrc``
login of HubSpot's host beside it and refuse every request ("Cannot combine AUTHORIZATION
header with AUTH argument"), and would send that login to the OAuth token endpoint.
"""

from __future__ import annotations

import netrc
import os
import urllib.request
from urllib.parse import quote, urlsplit, urlunsplit

from ._redact import url_secrets

__all__ = ["env_proxy", "env_proxy_secrets"]


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url``, with ``.netrc`` credentials when it
    names none, or None: none named (or one aiohttp would ignore, an ``https://`` one), or
    ``NO_PROXY`` covers the host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy:
        return None
    if "://" not in proxy:  # "proxy.corp:3128", as curl takes it
        proxy = f"http://{proxy}"
    if urlsplit(proxy).scheme != "http":
        return None
    return _with_netrc(proxy)


def _with_netrc(proxy: str) -> str:
    """``proxy`` with the ``.netrc`` login of its host, if it has no credentials of its own."""
    try:
        parts = urlsplit(proxy)
        if parts.username is not None or not parts.hostname:
            return proxy
        found = netrc.netrc(os.environ.get("NETRC") or None).authenticators(parts.hostname)
    except (OSError, ValueError, netrc.NetrcParseError):
        return proxy
    if not found:
        return proxy
    login, _, password = found
    userinfo = quote(login, safe="") + (f":{quote(password, safe='')}" if password else "")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def env_proxy_secrets(url: str) -> list[str]:
    """What text must not show of the proxies the environment names: the passwords (and
    query values) of each, and of the one named for ``url`` with its ``.netrc`` login, in
    every spelling ``url_secrets`` knows; longest first."""
    found = [proxy] if (proxy := env_proxy(url)) else []
    found += [value for scheme, value in urllib.request.getproxies().items() if scheme != "no"]
    return sorted({s for value in found for s in url_secrets(value)}, key=len, reverse=True)
