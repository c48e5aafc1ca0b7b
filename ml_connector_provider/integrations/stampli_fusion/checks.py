"""``ml-connector check`` for ``stampli_fusion``: the tenant's Stampli SFTP server (read-only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ml_connector_provider.checks import CheckResult


def run_checks(connections: Mapping[str, str], settings: BaseModel) -> list[CheckResult]:
    """Probe the tenant's systems read-only (see :mod:`ml_connector_provider.checks.sftp`).

    :param connections: Airflow connection id per role.
    :param settings: the tenant's validated ``stampli_fusion`` settings.
    """
    from ml_connector_provider.checks.sftp import check_sftp
    from ml_connector_provider.hooks.stampli import StampliHook

    if not isinstance(settings, StampliFusionSettings):
        raise TypeError(f"expected StampliFusionSettings, got {type(settings).__name__}")
    return check_sftp(StampliHook(connections["stampli"], conn_retry_attempts=1), settings)
