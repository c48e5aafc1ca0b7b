"""Build one Airflow DAG per tenant × integration from the tenant configuration file.

The DAG file of the provider (``dags/ml_connector.py``) is a few lines calling
:func:`build_dags`. Building DAGs reads only the tenant file (cached by modification time) and the
integration catalogue: no hook, SDK client, network or database is touched at parse time.

Each DAG runs one :class:`~ml_connector_provider.operators.sync.SyncStreamOperator` per enabled
stream, chained in the integration's stream order.

One tenant's mistake stays that tenant's: :func:`build_dags` builds the DAGs of every valid tenant
and leaves out only the tenants with problems. Those problems become the import error of the
provider's second DAG file (``dags/ml_connector_tenant_errors.py``, calling
:func:`raise_for_skipped_tenants`), which is how the Airflow UI shows them. An import error of the
DAG file that builds the DAGs would not do: Airflow marks every DAG of a file with an import error
stale, which hides them all (see docs/configuration.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import conf
from airflow.sdk import DAG, Param, chain, get_parsing_context

from ml_connector_provider.config import (
    ConfigError,
    ConfigProblem,
    TenantIntegration,
    default_ledger_conn_id,
    effective_tenant_integrations,
    load_config_by_tenant,
)
from ml_connector_provider.operators.sync import SyncStreamOperator
from ml_connector_provider.version_compat import retry_exponential_backoff_arg

if TYPE_CHECKING:
    from airflow.sdk.bases.operator import BaseOperator

#: Environment variable naming the tenant file; it takes precedence over the Airflow option.
CONFIG_ENV_VAR = "ML_CONNECTOR_CONFIG"
#: Airflow configuration section and option naming the tenant file.
CONFIG_SECTION = "ml_connector"
CONFIG_OPTION = "tenant_config_path"
#: File name looked up next to the DAG file when nothing else names the tenant file.
DEFAULT_CONFIG_FILENAME = "tenants.yaml"

TAG = "ml-connector"

log = logging.getLogger(__name__)


def resolve_config_path(dag_file: str | os.PathLike[str]) -> Path:
    """Find the tenant file for a DAG file.

    In order: the ``ML_CONNECTOR_CONFIG`` environment variable, the Airflow option
    ``[ml_connector] tenant_config_path``, then ``tenants.yaml`` in the DAG file's directory.

    :param dag_file: path of the DAG file (``__file__``).
    :return: the path of the tenant file (not checked for existence).
    """
    from_env = os.environ.get(CONFIG_ENV_VAR, "").strip()
    if from_env:
        return Path(from_env)
    from_conf = (conf.get(CONFIG_SECTION, CONFIG_OPTION, fallback=None) or "").strip()
    if from_conf and from_conf != "None":
        return Path(from_conf)
    return Path(dag_file).resolve().parent / DEFAULT_CONFIG_FILENAME


# Airflow validates every Param default with ``jsonschema.validate`` when a scheduled DAG is
# created, which first checks the schema against its meta-schema. Without ``$schema`` that is the
# 2020-12 meta-schema, whose vocabulary look-ups cost ~0.5 ms per Param; naming draft-07 (every
# keyword used here exists there) makes it about five times cheaper, which matters with a
# thousand tenant DAGs in one file.
_SCHEMA_DIALECT: dict[str, Any] = {"$schema": "http://json-schema.org/draft-07/schema#"}


def _param(description: str, **schema: Any) -> Param:
    # An optional param: empty by default, so scheduled runs are normal incremental runs.
    return Param(None, description=description, schema={**_SCHEMA_DIALECT, **schema})


#: What ``replay_from`` / ``replay_to`` accept: an ISO 8601 date, or date and time with an optional
#: offset (none means UTC) — what ``datetime.fromisoformat`` reads. Airflow checks ``format`` only when
#: the optional ``rfc3339-validator`` is installed, so the pattern is what refuses a malformed date
#: in the trigger form; the task still parses the value (an impossible date such as 2026-02-30).
DATE_TIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,6})?)?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?)?$"
)
#: The ``values_display`` key of an enum's ``None`` option in the trigger form (JSON object keys are
#: strings; the form looks ``null`` up under this key).
NULL_DISPLAY_KEY = "null"
#: One source record id: not empty, no surrounding blanks, no comma (ids given as one string are
#: comma-separated).
RECORD_ID_PATTERN = r"^[^\s,]([^,]*[^\s,])?$"


def _params(item: TenantIntegration) -> dict[str, Param]:
    # A Param's schema sees only its own value: what ties two params together (both ends of a
    # range, a range after its start, ids or a range but not both) is checked by the task, which
    # fails at once without retries (see SyncStreamOperator and RunRequest.from_params).
    return {
        "replay_from": _param(
            "Re-sync source changes from this instant (ISO 8601, inclusive; no offset means UTC) "
            "instead of the stored cursor. Give replay_to too. Leave empty for a normal incremental run.",
            type=["null", "string"],
            format="date-time",
            pattern=DATE_TIME_PATTERN,
            title="Replay from",
        ),
        "replay_to": _param(
            "End of the replay window (ISO 8601, exclusive), after replay_from. Give both "
            "replay_from and replay_to, or neither.",
            type=["null", "string"],
            format="date-time",
            pattern=DATE_TIME_PATTERN,
            title="Replay to",
        ),
        "record_ids": _param(
            "Re-sync only these source record ids, whatever their change time. Leave replay_from "
            "and replay_to empty when giving ids.",
            type=["null", "array"],
            items={"type": "string", "minLength": 1, "pattern": RECORD_ID_PATTERN},
            title="Record ids",
        ),
        "stream": _param(
            "Limit a replay to one stream; the other tasks of the run do nothing.",
            type=["null", "string"],
            enum=[None, *item.streams],
            # The trigger form labels an enum's null option "null" unless values_display names it
            # (by the key "null", as the serialized schema is JSON); empty reads as "not limited".
            values_display={NULL_DISPLAY_KEY: ""},
            title="Stream",
        ),
        **{spec.name: _param(spec.description, title=spec.title, **spec.schema) for spec in item.spec.params},
    }


def _doc_md(item: TenantIntegration) -> str:
    spec = item.spec
    lines = [
        f"# {spec.title} · {item.tenant_name}",
        "",
        f"Tenant `{item.tenant_id}`, integration `{spec.id}`. Generated by the ml-connector provider "
        "from the tenant configuration file; edit that file rather than this DAG.",
        "",
        "## What it moves",
        "",
    ]
    for name in item.streams:
        stream = spec.stream(name)
        text = f"- **{name}** — {stream.title}"
        if stream.description:
            text += f": {stream.description}"
        lines.append(text)
    disabled = [s.name for s in spec.streams if s.name not in item.streams]
    if disabled:
        lines += ["", "Disabled streams: " + ", ".join(f"`{n}`" for n in disabled) + "."]
    lines += [
        "",
        "## Connections",
        "",
        *(
            f"- `{role}`: `{conn_id}` (type `{spec.connection_roles[role]}`)"
            for role, conn_id in sorted(item.connections.items())
        ),
        "",
        f"Schedule: `{item.schedule}` ({item.timezone})." if item.schedule else "Schedule: manual runs only.",
        "",
        "## Replay",
        "",
        "- **Clear a task** to re-process the window of that run; writes are idempotent, so nothing "
        "is duplicated.",
        "- **Trigger with config** to re-sync a time range: `replay_from` / `replay_to` (ISO 8601), "
        "optionally limited to one `stream`.",
        "- **Trigger with `record_ids`** to re-sync specific source records.",
        *(f"- **Trigger with `{p.name}`**: {p.description}" for p in spec.params),
        "",
        "Records that cannot be posted for a data reason are dead-lettered and retried on later runs.",
    ]
    if spec.docs:
        lines += ["", f"See `{spec.docs}` for the field mappings."]
    return "\n".join(lines)


def _build_dag(item: TenantIntegration) -> DAG:
    spec = item.spec
    default_args: dict[str, Any] = {
        "owner": item.owner,
        "retries": item.retries,
        "retry_delay": item.retry_delay,
        "retry_exponential_backoff": retry_exponential_backoff_arg(item.retry_exponential_backoff),
    }
    if item.max_retry_delay is not None:
        default_args["max_retry_delay"] = item.max_retry_delay

    with DAG(
        dag_id=item.dag_id,
        dag_display_name=f"{spec.title} · {item.tenant_name}",
        description=f"{spec.title} for {item.tenant_name}",
        schedule=item.schedule,
        start_date=item.start_date,
        catchup=False,
        max_active_runs=1,
        is_paused_upon_creation=item.paused_at_creation,
        tags=[TAG, f"tenant:{item.tenant_id}", f"integration:{spec.id}"],
        owner_links=dict(item.owner_links),
        default_args=default_args,
        params=_params(item),
        doc_md=_doc_md(item),
    ) as dag:
        tasks: list[BaseOperator] = []
        for name in item.streams:
            stream = spec.stream(name)
            tasks.append(
                SyncStreamOperator(
                    task_id=name,
                    task_display_name=stream.title,
                    doc_md=stream.description or None,
                    tenant_id=item.tenant_id,
                    integration_id=spec.id,
                    stream=name,
                    connections=item.connections,
                    settings=item.settings,
                    sync_options=item.sync,
                    ledger_conn_id=item.ledger_conn_id,
                )
            )
        if len(tasks) > 1:
            chain(*tasks)
    return dag


def build_dags(config_path: str | os.PathLike[str]) -> dict[str, DAG]:
    """Build the DAGs described by a tenant configuration file.

    One DAG per tenant × configured integration, whether enabled or not: ``enabled: false`` only
    makes the DAG start paused. When Airflow parses the file to run one DAG
    (``get_parsing_context().dag_id`` is set), only that DAG is built.

    A tenant with a problem of its own is left out, with an error logged per problem; every other
    tenant's DAGs are built. :func:`raise_for_skipped_tenants` (the second DAG file) turns those
    problems into an import error shown in the Airflow UI.

    DAGs created inside ``with DAG(...)`` register themselves with the DAG file being parsed, so
    the DAG file does not need to assign the result to module globals.

    :param config_path: the tenant YAML file.
    :return: the DAGs by DAG id, in tenant then integration order.
    :raises ~ml_connector_provider.config.ConfigError: when the file is missing, or has a problem of
        the file as a whole (YAML syntax, ``version``, ``defaults``, duplicate tenant ids); the
        message names the file, the tenant and the field of every problem of the file.
    """
    loaded = load_config_by_tenant(config_path)
    for message in _messages(config_path, loaded.problems):
        log.error("Tenant left out, its DAGs are not built: %s", message)
    wanted = get_parsing_context().dag_id
    dags: dict[str, DAG] = {}
    for item in effective_tenant_integrations(loaded.config, default_ledger_conn_id=default_ledger_conn_id()):
        if wanted is not None and item.dag_id != wanted:
            continue
        dags[item.dag_id] = _build_dag(item)
    return dags


def _messages(config_path: str | os.PathLike[str], problems: Sequence[ConfigProblem]) -> list[str]:
    return [problem.render(os.fspath(config_path)) for problem in problems]


class SkippedTenantsError(ConfigError):
    """Some tenants of the tenant file have problems of their own, so their DAGs are not built.

    The message starts with a line naming the file and the tenants left out, followed by one line
    per problem naming the file, the tenant and the field.

    :param source: the tenant file, as given.
    :param problems: the problems of the tenants left out.
    :param tenants: the tenants left out (``'acme'``, or ``#3`` for a tenant without a valid id).
    """

    def __init__(self, source: str, problems: Sequence[ConfigProblem], tenants: Sequence[str]) -> None:
        super().__init__(source, problems)
        self.tenants = tuple(tenants)
        header = (
            f"{source}: the DAGs of tenant {', '.join(self.tenants)} are not built until these problems "
            "are fixed (the other tenants' DAGs are built as usual):"
        )
        self.args = ("\n".join([header, *self.messages]),)


def raise_for_skipped_tenants(config_path: str | os.PathLike[str]) -> None:
    """Raise :class:`SkippedTenantsError` when tenants of the file are left out of the DAGs.

    Called by the provider's second DAG file, ``dags/ml_connector_tenant_errors.py``, which builds no
    DAG: its import error is how the Airflow UI lists the problems of the tenants that
    :func:`build_dags` leaves out, naming the file, the tenant and the field, while the other
    tenants' DAGs (built by ``dags/ml_connector.py``) load. When the file cannot be used at all,
    this does nothing: the import error of ``dags/ml_connector.py`` already lists every problem.

    :param config_path: the tenant YAML file.
    :raises SkippedTenantsError: naming every problem of the tenants left out.
    """
    try:
        loaded = load_config_by_tenant(config_path)
    except ConfigError:
        return
    if loaded.problems:
        raise SkippedTenantsError(os.fspath(config_path), loaded.problems, loaded.skipped_tenants)


__all__ = [
    "CONFIG_ENV_VAR",
    "SkippedTenantsError",
    "build_dags",
    "raise_for_skipped_tenants",
    "resolve_config_path",
]
