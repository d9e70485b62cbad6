"""The package's version, read from its installed metadata (pyproject's ``version``).

One source: ``pyproject.toml`` says the version, the installer writes it into the package's
metadata, and this module reads it back once at import (a local file read, no network). A
source tree used without being installed reports ``0+unknown`` rather than a stale copy.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__: str = version("asyncbatch")
except PackageNotFoundError:  # pragma: no cover - only when run from an uninstalled tree
    __version__ = "0+unknown"
