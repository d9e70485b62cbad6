"""How a job reaches HubSpot: ``--proxy`` or the environment's proxy, said with its credentials
masked, and the secrets of either for masking messages. Reads the environment and ``.netrc``;
no network I/O.

Precedence: ``--proxy URL`` carries every request and the environment's proxy settings are not
read. Without it the environment is honoured as aiohttp's ``trust_env`` reads it: the proxy
named for the base URL's scheme, that is ``HTTPS_PROXY`` (or ``https_proxy``) for HubSpot's
``https://`` and ``HTTP_PROXY`` for a loopback ``http://`` base URL, unless ``NO_PROXY`` names
the host; a proxy named without credentials takes them from ``.netrc`` (``$NETRC``) if it has
the proxy's host. ``--sandbox`` talks to its own emulator on 127.0.0.1 through no proxy.

The command line reads the environment itself and hands the client an explicit ``proxy=``
(``trust_env`` stays off) because aiohttp's ``trust_env`` also applies ``.netrc`` to the API
host: a ``.netrc`` entry for it makes aiohttp refuse every request ("Cannot combine
AUTHORIZATION header with AUTH argument"), the Bearer token being the authorization.
"""

from __future__ import annotations

import netrc
import os
import urllib.request
from urllib.parse import quote, urlsplit, urlunsplit

from .._redact import redact_url, url_secrets

__all__ = ["check_proxy", "env_proxy", "job_proxy", "proxy_secrets", "route"]


def check_proxy(url: str) -> None:
    """Refuse a ``--proxy`` the client cannot use.

    Raises:
        ValueError: not an ``http://`` or ``https://`` URL with a host (the message shows the
            URL with its credentials masked).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise ValueError(
            f"--proxy must be an http:// or https:// URL with a host, e.g. "
            f"http://user:password@proxy.example:3128, got {redact_url(url)!r}"
        )


def env_proxy(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url``, with ``.netrc`` credentials when it
    names none, or None: none named (or one aiohttp would ignore, an ``https://`` one), or
    ``NO_PROXY`` covers the host."""
    try:
        parts = urlsplit(base_url)
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


def job_proxy(base_url: str, proxy: str | None, *, sandbox: bool = False) -> str | None:
    """The proxy a job's client is given: ``--proxy``, else the environment's (none for the
    sandbox)."""
    if sandbox:
        return None
    return proxy if proxy is not None else env_proxy(base_url)


def proxy_secrets(proxy: str | None, base_url: str) -> list[str]:
    """What messages must not show of ``--proxy``, of every proxy the environment names and of
    the one it names for ``base_url`` (with ``.netrc`` credentials): their passwords (and
    query values), in every spelling ``url_secrets`` knows."""
    found = [url for url in (proxy, env_proxy(base_url)) if url]
    found += [url for scheme, url in urllib.request.getproxies().items() if scheme != "no"]
    return sorted({s for url in found for s in url_secrets(url)}, key=len, reverse=True)


def route(base_url: str, proxy: str | None, *, sandbox: bool = False) -> str:
    """How requests reach ``base_url``, for messages: ``directly``, or ``through the proxy
    http://user:***@host:3128 (--proxy)``."""
    if sandbox:
        return "directly (the sandbox's emulator on 127.0.0.1)"
    if proxy is not None:
        return f"through the proxy {redact_url(proxy)} (--proxy)"
    found = env_proxy(base_url)
    if found is None:
        return "directly"
    scheme = urlsplit(base_url).scheme.upper()
    return f"through the proxy {redact_url(found)} (${scheme}_PROXY)"
