"""The one operator every integration stream runs through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, ParamValidationError
from airflow.sdk import BaseOperator, Param

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ml_connector_provider.engine.core import RunRequest, Summary
    from ml_connector_provider.engine.spec import IntegrationSpec


class SyncStreamOperator(BaseOperator):
    """Run one stream of one integration for one tenant through the sync engine.

    The window processed is the next one after the stream's cursor; when the task is cleared it is
    the window this run processed the first time. DAG-run params switch to a replay:
    ``replay_from``/``replay_to`` (a date range) or ``record_ids`` (source ids), optionally limited
    to one ``stream``. The summary of the run is returned (and so pushed to XCom): the window and
    the counts read, created, updated, skipped, unchanged, dead-lettered and files rejected.

    The task log ends with a short table of what moved and what was rejected, with the first
    dead-letter reasons. Under the tenant's ``on_dead_letters`` policy (``fail``, or a threshold),
    a run with rejections fails with :class:`AirflowFailException` (no retry: a retry would not
    change the data) once everything good is committed.

    :param tenant_id: tenant id from the tenant YAML.
    :param integration_id: integration id (``fusion_stripe``…).
    :param stream: stream name inside the integration.
    :param connections: Airflow connection id per role of the integration.
    :param settings: the tenant's validated integration settings (plain JSON data, no secrets).
    :param sync_options: window and batching options (see :class:`~ml_connector_provider.engine.core.SyncOptions`;
        durations in seconds).
    :param ledger_conn_id: Airflow connection naming the ledger database.
    :param on_dead_letters: ``succeed``, ``fail`` or ``{max_count: N, max_ratio: R}`` (see
        :class:`~ml_connector_provider.engine.report.DeadLetterPolicy`); ``None`` takes
        ``sync_options["on_dead_letters"]``, where the tenant file's resolved value comes in, else
        ``succeed``.
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
        on_dead_letters: str | Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        from ml_connector_provider.engine.report import DeadLetterPolicy

        super().__init__(**kwargs)
        self.tenant_id = tenant_id
        self.integration_id = integration_id
        self.stream = stream
        self.connections = dict(connections)
        self.settings = dict(settings)
        self.sync_options = dict(sync_options or {})
        self.ledger_conn_id = ledger_conn_id
        policy = on_dead_letters if on_dead_letters is not None else self.sync_options.get("on_dead_letters")
        try:
            self.on_dead_letters = DeadLetterPolicy.from_value(policy).as_value()
        except ValueError as error:
            raise ValueError(f"{tenant_id}/{integration_id}/{stream}: on_dead_letters: {error}") from None

    @cached_property
    def integration(self) -> IntegrationSpec:
        from ml_connector_provider.integrations import get_integration

        return get_integration(self.integration_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from ml_connector_provider.engine.context import StreamContext, build_stream
        from ml_connector_provider.engine.core import SyncEngine, SyncOptions, lease_owner
        from ml_connector_provider.engine.types import RunRef, StreamKey
        from ml_connector_provider.ledger import Ledger

        params: Mapping[str, Any] = context.get("params") or {}
        request = self._run_request(params)
        selected = params.get("stream")
        if selected and selected != self.stream:
            self.log.info("Replay limited to stream %r: nothing to do for %r.", selected, self.stream)
            return {"stream": self.stream, "mode": "not_selected"}

        ledger = Ledger.from_airflow(self.ledger_conn_id)
        ledger.migrate()
        settings = self.integration.settings_model.model_validate(self.settings)
        stream = build_stream(
            StreamContext(
                tenant_id=self.tenant_id,
                integration=self.integration,
                stream=self.stream,
                connections=self.connections,
                settings=settings,
                ledger=ledger,
                params=dict(params),
            )
        )
        ti = context["ti"]
        run = RunRef(
            run_id=str(context["run_id"]),
            try_number=int(getattr(ti, "try_number", 1) or 1),
            dag_id=self.dag_id,
            task_id=self.task_id,
        )
        key = StreamKey(self.tenant_id, self.integration_id, self.stream)
        try:
            plan = stream.dry_run()
            if plan is not None:
                self.log.info("%s: dry run; nothing was written and the cursor did not move.", key)
                return {"stream": self.stream, "mode": "dry_run", **plan}
            # Every try of this task instance holds the lease as the same owner, so a retry after
            # a killed worker takes its lease back at once instead of waiting for it to expire.
            map_index = getattr(ti, "map_index", None)
            owner = lease_owner(run, map_index=-1 if map_index is None else int(map_index))
            summary = SyncEngine(ledger, SyncOptions.from_mapping(self.sync_options)).run(
                key, stream, run, request, owner=owner
            )
        finally:
            stream.close()
        return self._end(summary)

    def _end(self, summary: Summary) -> dict[str, Any]:
        """Log the end-of-task table and apply the ``on_dead_letters`` policy: everything good is
        committed by now, so a failure here only makes the rejections visible."""
        from ml_connector_provider.engine.report import DeadLetterPolicy, failure_message, run_table

        self.log.info("\n%s", run_table(summary))
        why = DeadLetterPolicy.from_value(self.on_dead_letters).breach(summary)
        if why is not None:
            raise AirflowFailException(failure_message(summary, why))
        return summary.as_dict()

    def _run_request(self, params: Mapping[str, Any]) -> RunRequest:
        """The run's request, or :class:`AirflowFailException` (no retries: a retry reads the same
        params) saying which param to fix."""
        from ml_connector_provider.engine.core import RunRequest

        problems: list[str] = []
        request = None
        streams = (
            [t.stream for t in self.dag.tasks if isinstance(t, SyncStreamOperator)]
            if self.has_dag()
            else None
        )
        try:
            request = RunRequest.from_params(params, streams=streams)
        except ValueError as error:
            problems.append(str(error))
        for spec in self.integration.params:
            value = params.get(spec.name)
            try:
                Param(schema=dict(spec.schema)).resolve(value)
            except ParamValidationError as error:
                cause = error.args[0] if error.args else error
                problems.append(f"{spec.name} {value!r}: {getattr(cause, 'message', cause)}")
        if request is None or problems:
            raise AirflowFailException(
                "Invalid run params, fix them and trigger a new run: " + "; ".join(problems)
            )
        return request
