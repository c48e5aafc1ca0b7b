"""Registry of the sandbox systems: name → ``"module.path:ClassName"``, imported lazily.

Each integration adds its stand-ins here, e.g.
``"fusion": "ml_connector_sandbox.systems.fusion:FusionSandbox"``. Nothing is imported
until a system is asked for, so listing names stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml_connector_sandbox.base import SandboxSystem

__all__ = ["SYSTEMS", "UnknownSystemError", "available_systems", "create_system", "load_system_class"]

SYSTEMS: dict[str, str] = {
    "fusion": "ml_connector_sandbox.systems.fusion:FusionSandbox",
    "stripe": "ml_connector_sandbox.systems.stripe:StripeSandbox",
    "netsuite": "ml_connector_sandbox.systems.netsuite:NetSuiteSandbox",
}
"""Registered systems: name → dotted path of the :class:`SandboxSystem` subclass."""


class UnknownSystemError(KeyError):
    """No system is registered under the requested name."""

    def __init__(self, name: str) -> None:
        known = ", ".join(sorted(SYSTEMS)) or "none"
        super().__init__(f"unknown sandbox system {name!r} (registered: {known})")
        self.name = name

    def __str__(self) -> str:
        return str(self.args[0])


def available_systems() -> list[str]:
    """Names of the registered systems, sorted."""
    return sorted(SYSTEMS)


def _import(target: str) -> Any:
    module_name, sep, attr = target.partition(":")
    if not sep:
        module_name, _, attr = target.rpartition(".")
    if not module_name or not attr:
        raise ImportError(f"not a 'module:Class' path: {target!r}")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def load_system_class(name: str) -> type[SandboxSystem]:
    """Import and return the class registered under ``name``."""
    from ml_connector_sandbox.base import SandboxSystem

    try:
        target = SYSTEMS[name]
    except KeyError:
        raise UnknownSystemError(name) from None
    cls = _import(target)
    if not (isinstance(cls, type) and issubclass(cls, SandboxSystem)):
        raise TypeError(f"{target!r} (sandbox system {name!r}) is not a SandboxSystem subclass")
    return cls


def create_system(name: str, **kwargs: Any) -> SandboxSystem:
    """Instantiate the system registered under ``name``."""
    return load_system_class(name)(**kwargs)
