"""How a job reaches HubSpot: ``--proxy`` or the environment's proxy, said with its credentials
masked, and the secrets of either for masking messages. Reads the environment; no network I/O.

Precedence: ``--proxy URL`` carries every request and the environment's proxy settings are
not read (the client's ``trust_env`` is off). Without it the client honours the environment as
aiohttp does (``trust_env=True``): the proxy named for the base URL's scheme, that is
``HTTPS_PROXY`` (or ``https_proxy``) for HubSpot's ``https://`` and ``HTTP_PROXY`` for a
loopback ``http://`` base URL, unless ``NO_PROXY`` names the host; credentials for that proxy
may come from ``.netrc``. ``--sandbox`` talks to its own emulator on 127.0.0.1 through no proxy.
"""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

from .._redact import redact_url, url_secrets

__all__ = ["check_proxy", "env_proxy", "proxy_secrets", "route"]


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
    """The proxy the environment names for ``base_url`` (as aiohttp reads it with
    ``trust_env``), or None: none named, or ``NO_PROXY`` covers the host."""
    try:
        parts = urlsplit(base_url)
    except ValueError:
        return None
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    proxy = urllib.request.getproxies().get(parts.scheme)
    # aiohttp ignores an https:// proxy from the environment (with a warning).
    if not proxy or urlsplit(proxy).scheme not in ("http", ""):
        return None
    return proxy


def proxy_secrets(proxy: str | None) -> list[str]:
    """What messages must not show of ``--proxy`` and of every proxy the environment names:
    their passwords (and query values), in every spelling ``url_secrets`` knows."""
    found = [proxy] if proxy else []
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
