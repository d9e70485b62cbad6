"""How a job reaches HubSpot: ``--proxy`` or the environment's proxy, said with its credentials
masked, and the secrets of either for masking messages. Reads the environment and ``.netrc``;
no network I/O.

Precedence: ``--proxy URL`` carries every request and the environment's proxy settings are not
read. Without it the environment is honoured as aiohttp's ``trust_env`` reads it: the proxy
named for the base URL's scheme, that is ``HTTPS_PROXY`` (or ``https_proxy``) for HubSpot's
``https://`` and ``HTTP_PROXY`` for a loopback ``http://`` base URL, unless ``NO_PROXY`` names
the host; a proxy named without credentials takes them from ``.netrc`` (``$NETRC``) if it has
the proxy's host. ``--sandbox`` talks to its own emulator on 127.0.0.1 through no proxy.

The environment is read by the library's ``asyncbatch._proxies`` (the one reading of it, which
``BatchClient(trust_env=True)`` uses too); the command line hands the client the proxy it
found as an explicit ``proxy=`` so that the route its messages and the dry run name
(``route``) is the one the client takes, resolved once before anything is sent.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .._proxies import env_proxy, env_proxy_secrets
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
    found = {*(url_secrets(proxy) if proxy else []), *env_proxy_secrets(base_url)}
    return sorted(found, key=len, reverse=True)


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
