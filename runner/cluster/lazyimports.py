"""Defer what the ``kubernetes`` client imports eagerly but the operator process rarely uses.

* ``import kubernetes`` runs the package's ``__init__``, which imports every subpackage: ``stream``
  (``websocket``, ``requests``), ``dynamic``, ``watch``, ``utils``, ``leaderelection``, ``informer``.
  The operator uses ``client`` and ``config`` only.
* ``kubernetes.config.kube_config`` imports ``oauthlib`` and ``requests_oauthlib`` at import time,
  only to refresh an OIDC ``auth-provider`` token.

Together that is about 300 modules and 5 MiB of the operator's memory for good. ``install()``,
called before anything imports the client, puts stand-ins in their place that import the real
modules on first use (an OIDC refresh, ``kubernetes.watch`` read as an attribute, ...), so
behaviour is the same, only later. Used in the operator process only (``ansible-operator run``).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from typing import Any

NAMES = ("oauthlib", "oauthlib.oauth2", "requests_oauthlib")


class _Deferred(types.ModuleType):
    """A stand-in module: any attribute read imports the real modules and reads it there."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(_load()[self.__name__], attr)


class _OAuth2Session:
    """Stands in for ``requests_oauthlib.OAuth2Session`` (imported by name): builds the real one."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        return _load()["requests_oauthlib"].OAuth2Session(*args, **kwargs)


def _load() -> dict[str, types.ModuleType]:
    for name in NAMES:
        if isinstance(sys.modules.get(name), _Deferred):
            del sys.modules[name]
    return {name: importlib.import_module(name) for name in NAMES}


K8S_SUBPACKAGES = ("client", "config", "dynamic", "watch", "stream", "utils", "leaderelection", "informer")


def install() -> bool:
    """Put the stand-ins in place; False (and nothing done) when the client is imported already or
    the libraries are not installed."""
    if "kubernetes" in sys.modules or any(name in sys.modules for name in NAMES):
        return False
    if not _defer_kubernetes_subpackages():
        return False
    if importlib.util.find_spec("oauthlib") is None or importlib.util.find_spec("requests_oauthlib") is None:
        return False
    stubs = {name: _Deferred(name) for name in NAMES}
    stubs["oauthlib"].oauth2 = stubs["oauthlib.oauth2"]  # type: ignore[attr-defined]
    stubs["requests_oauthlib"].OAuth2Session = _OAuth2Session  # type: ignore[attr-defined]
    sys.modules.update(stubs)
    return True


def _defer_kubernetes_subpackages() -> bool:
    """Register the ``kubernetes`` package without running its ``__init__``: its subpackages are
    imported when first named (``import kubernetes.client`` or ``kubernetes.watch``)."""
    spec = importlib.util.find_spec("kubernetes")
    if spec is None or spec.origin is None or not spec.submodule_search_locations:
        return False
    try:
        with open(spec.origin, encoding="utf-8") as fh:
            source = fh.read()
    except OSError:
        return False
    version = re.search(r"^__version__ = [\"']([^\"']+)[\"']", source, re.M)
    if version is None:
        return False
    package = importlib.util.module_from_spec(spec)
    package.__project__ = "kubernetes"  # type: ignore[attr-defined]
    package.__version__ = version.group(1)  # type: ignore[attr-defined]

    def __getattr__(name: str) -> Any:
        if name in K8S_SUBPACKAGES:
            return importlib.import_module(f"kubernetes.{name}")
        raise AttributeError(f"module 'kubernetes' has no attribute {name!r}")

    package.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules["kubernetes"] = package
    return True
