"""``ml-connector check`` for ``stampli_fusion``: read-only probes of each system the tenant's
enabled streams use, one call per system: the Stampli SFTP server
(:mod:`~ml_connector_provider.checks.sftp`) and the Fusion pod (:mod:`~.fusion_needs`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ml_connector_provider.integrations.stampli_fusion.settings import StampliFusionSettings

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ml_connector_provider.checks import CheckResult

_ALL_STREAMS = ("invoices", "reference_data")


def run_checks(
    connections: Mapping[str, str], settings: BaseModel, streams: Sequence[str] | None = None
) -> list[CheckResult]:
    """Probe the tenant's systems read-only.

    :param connections: Airflow connection id per role.
    :param settings: the tenant's validated ``stampli_fusion`` settings.
    :param streams: the tenant's enabled streams (default: all of them).
    """
    if not isinstance(settings, StampliFusionSettings):
        raise TypeError(f"expected StampliFusionSettings, got {type(settings).__name__}")
    enabled = tuple(_ALL_STREAMS if streams is None else streams)
    results: list[CheckResult] = []
    results += _sftp(connections["stampli"], settings)
    results += _fusion(connections["fusion"], settings, enabled)
    return results


def _sftp(conn_id: str, settings: StampliFusionSettings) -> list[CheckResult]:
    """The Stampli SFTP server: host key, login, directories (:mod:`~ml_connector_provider.checks.sftp`)."""
    from ml_connector_provider.checks import unusable_connection
    from ml_connector_provider.checks.sftp import check_sftp
    from ml_connector_provider.hooks.stampli import StampliHook

    try:
        hook = StampliHook(conn_id, conn_retry_attempts=1)
    except Exception as error:  # noqa: BLE001 - a missing connection is one finding; Fusion's stay
        return [unusable_connection("sftp.reachable", conn_id, StampliHook.conn_type, error)]
    return check_sftp(hook, settings)


def _fusion(conn_id: str, settings: StampliFusionSettings, streams: Sequence[str]) -> list[CheckResult]:
    """Oracle Fusion: what the streams read and write (:mod:`~ml_connector_provider.checks.fusion`)."""
    from ml_connector_provider.checks.fusion import check_fusion
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
    from ml_connector_provider.integrations.stampli_fusion.fusion_needs import fusion_needs

    hook = OracleFusionHook(conn_id)
    try:
        return check_fusion(hook, fusion_needs(streams, settings))
    finally:
        hook.close()
