"""The Oracle NetSuite stand-in (SuiteTalk REST web services, contract part B)."""

from __future__ import annotations

from ml_connector_sandbox.systems.netsuite.settings import DEFAULT_ACCOUNT_ID, NetSuiteSandboxSettings
from ml_connector_sandbox.systems.netsuite.system import (
    CONNECTION_EXTRA_FIELDS,
    SEED_CERTIFICATE_ID,
    SEED_CLIENT_ID,
    NetSuiteSandbox,
)

__all__ = [
    "CONNECTION_EXTRA_FIELDS",
    "DEFAULT_ACCOUNT_ID",
    "SEED_CERTIFICATE_ID",
    "SEED_CLIENT_ID",
    "NetSuiteSandbox",
    "NetSuiteSandboxSettings",
]
