"""The one operator every integration stream runs through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class SyncStreamOperator(BaseOperator):
    """Run one stream of one integration for one tenant through the sync engine.

    :param tenant_id: tenant id from the tenant YAML.
    :param integration_id: integration id (``fusion_stripe``…).
    :param stream: stream name inside the integration.
    :param connections: Airflow connection id per role of the integration.
    :param settings: the tenant's validated integration settings (plain JSON data, no secrets).
    :param sync_options: window and batching options (overlap, lag, initial start, batch size…).
    :param ledger_conn_id: Airflow connection naming the ledger database.
    """

    template_fields: Sequence[str] = ()
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        tenant_id: str,
        integration_id: str,
        stream: str,
        connections: Mapping[str, str],
        settings: Mapping[str, Any],
        sync_options: Mapping[str, Any] | None = None,
        ledger_conn_id: str = "ml_connector_ledger",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tenant_id = tenant_id
        self.integration_id = integration_id
        self.stream = stream
        self.connections = dict(connections)
        self.settings = dict(settings)
        self.sync_options = dict(sync_options or {})
        self.ledger_conn_id = ledger_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        raise NotImplementedError("wired to the sync engine in the next change")
