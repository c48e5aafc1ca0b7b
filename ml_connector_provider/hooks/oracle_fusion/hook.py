"""The Airflow hook for Oracle Fusion: the connection, the transport, and the parts composed.

:class:`OracleFusionHook` is one class with every method callers use; each concern is a mixin of
its own module, all built on :class:`~ml_connector_provider.hooks.oracle_fusion.rest.FusionRestClient`:

* :class:`~ml_connector_provider.hooks.oracle_fusion.rest.FusionRestClient` — any REST resource:
  paging, items, actions, look-ups by attribute;
* :class:`~ml_connector_provider.hooks.oracle_fusion.changes.FusionChangeReads` — the rows that
  changed in a time window;
* :class:`~ml_connector_provider.hooks.oracle_fusion.ess.FusionEssJobs` — ESS request status,
  wait and log;
* :class:`~ml_connector_provider.hooks.oracle_fusion.bulk_import.FusionBulkImports` — FBDI
  imports (``importBulkData``, GL journals).

The hook itself only supplies what they share: the settings read from the Airflow connection and
the one pooled transport.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from functools import cached_property
from typing import ClassVar

from airflow.sdk import BaseHook

from ml_connector_provider.hooks.oracle_fusion.bulk_import import FusionBulkImports
from ml_connector_provider.hooks.oracle_fusion.changes import FusionChangeReads
from ml_connector_provider.hooks.oracle_fusion.connection import FusionConnectionSettings
from ml_connector_provider.hooks.oracle_fusion.ess import DescendantSource, FusionEssJobs
from ml_connector_provider.hooks.oracle_fusion.query import parse_timestamp
from ml_connector_provider.transport import (
    AdaptivePacer,
    HttpTransport,
    OAuth2ClientCredentials,
    RetryPolicy,
    redact_text,
)

__all__ = ["OracleFusionHook"]


class OracleFusionHook(FusionBulkImports, FusionEssJobs, FusionChangeReads, BaseHook):
    """Read and write Oracle Fusion Cloud ERP resources over its REST API.

    Nothing happens on construction; the connection is read and the HTTP client built on first use
    (and cached). The HTTP client is thread-safe once built.

    :param oracle_fusion_conn_id: the Airflow connection id (type ``oracle_fusion``).
    :param rest_framework_version: overrides the connection's ``rest_framework_version``.
    :param retry: overrides the retry policy built from the connection's ``retry_*`` extras.
    :param logger_name: name of the hook's logger (Airflow's default when ``None``).
    :param pacer: an adaptive pacer shared by every request of this hook (see
        :class:`~ml_connector_provider.transport.pacing.AdaptivePacer`): overload answers (429, 503)
        then slow down all later requests, not only the retries of the one that got them.
    :param retry_attempts: overrides only the number of attempts of the retry policy (the
        connection's backoff settings stay).
    """

    conn_name_attr: ClassVar[str] = "oracle_fusion_conn_id"
    default_conn_name: ClassVar[str] = "oracle_fusion_default"
    conn_type: ClassVar[str] = "oracle_fusion"
    hook_name: ClassVar[str] = "Oracle Fusion Cloud ERP"

    def __init__(
        self,
        oracle_fusion_conn_id: str = default_conn_name,
        *,
        rest_framework_version: int | None = None,
        retry: RetryPolicy | None = None,
        logger_name: str | None = None,
        pacer: AdaptivePacer | None = None,
        retry_attempts: int | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.oracle_fusion_conn_id = oracle_fusion_conn_id
        self.pacer = pacer
        self._retry_attempts = retry_attempts
        self._framework_override = rest_framework_version
        self._retry_override = retry

    @cached_property
    def settings(self) -> FusionConnectionSettings:
        """The connection's settings (read once; secrets registered with the secret masker)."""
        settings = FusionConnectionSettings.from_airflow(self.get_connection(self.oracle_fusion_conn_id))
        if self._framework_override is not None:
            if not 1 <= self._framework_override <= 9:
                raise ValueError(f"rest_framework_version must be 1 to 9, got {self._framework_override}")
            settings = replace(settings, rest_framework_version=self._framework_override)
        if self._retry_override is not None:
            settings = replace(settings, retry=self._retry_override)
        if self._retry_attempts is not None:
            settings = replace(settings, retry=replace(settings.retry, attempts=self._retry_attempts))
        return settings

    @property
    def rest_framework_version(self) -> int:
        """The ``REST-Framework-Version`` sent with every request (selects the ``q`` dialect)."""
        return self.settings.rest_framework_version

    @property
    def ess_descendant_source(self) -> DescendantSource:
        """How descendants of an ESS request are listed (the connection's ``ess_descendants``)."""
        return self.settings.ess_descendants

    @property
    def ess_scheduler_url(self) -> str:
        """``<pod>/ess/rest/scheduler/v1/requests``."""
        return self.settings.ess_scheduler_url

    @cached_property
    def transport(self) -> HttpTransport:
        """The pooled HTTP client for the pod's REST API (built on first use)."""
        settings = self.settings
        auth = settings.auth_provider()
        self.log.info(
            "Oracle Fusion connection %s: %s, %s auth, REST framework version %d",
            self.oracle_fusion_conn_id,
            settings.base_url,
            settings.auth_type,
            settings.rest_framework_version,
        )
        return HttpTransport(
            settings.base_url,
            auth=auth,
            headers={"REST-Framework-Version": str(settings.rest_framework_version)},
            timeout=settings.timeouts,
            retry=settings.retry,
            secrets=settings.secrets,
            pacer=self.pacer,
        )

    def get_conn(self) -> HttpTransport:
        """The cached :class:`~ml_connector_provider.transport.HttpTransport`."""
        return self.transport

    def close(self) -> None:
        """Close pooled connections (the hook can be used again afterwards)."""
        transport = self.__dict__.pop("transport", None)
        if transport is not None:
            transport.close()
            auth = transport.auth
            if isinstance(auth, OAuth2ClientCredentials):
                auth.close()

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection with one cheap read: ``GET <test_resource>?limit=1&onlyData=true``.

        Never raises; the message never contains a secret.

        :returns: ``(True, message)`` when Fusion answered with a collection, else ``(False, reason)``.
        """
        secrets: tuple[str, ...] = ()
        try:
            settings = self.settings
            secrets = settings.secrets
            resource = settings.test_resource
            body = self._get_collection(resource, {"limit": 1, "onlyData": "true"})
            return (
                True,
                f"Connection successfully tested: {resource} answered with {len(body['items'])} row(s)",
            )
        except Exception as exc:  # noqa: BLE001 - the UI contract: report, never raise
            transport = self.__dict__.get("transport")
            if transport is not None and transport.auth is not None:
                secrets += transport.auth.secret_values()
            return False, redact_text(f"{type(exc).__name__}: {exc}", secrets)

    @staticmethod
    def parse_timestamp(value: str | datetime | date) -> datetime:
        """See :func:`~ml_connector_provider.hooks.oracle_fusion.query.parse_timestamp`."""
        return parse_timestamp(value)
