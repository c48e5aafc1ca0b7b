"""The declarative description of an integration: its streams, connection roles, settings and params.

The DAG factory and the config loader read only these descriptions, so parsing a DAG file stays
free of I/O and of the modules that talk to external systems; a stream's code is imported by
dotted path when its task runs (:func:`ml_connector_provider.engine.context.build_stream`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class StreamSpec:
    """One stream of an integration: a source object type moving to a target object type.

    :param name: stable identifier, used as the Airflow task id and in the ledger.
    :param title: human-readable name.
    :param source_system: system the records are read from (``fusion``, ``stripe``…).
    :param target_system: system the records are written to.
    :param stream_class: dotted path of the :class:`~ml_connector_provider.engine.stream.Stream`
        subclass that runs it; imported only when a task executes, and built with its
        ``from_context`` class method.
    :param description: one sentence for docs and the DAG's documentation.
    :param default_enabled: whether a tenant gets this stream unless it says otherwise.
    :param requires_settings: top-level settings fields that must be set (not null) when the
        stream is enabled; the config loader reports a missing one with the tenant and field.
    """

    name: str
    title: str
    source_system: str
    target_system: str
    stream_class: str
    description: str = ""
    default_enabled: bool = True
    requires_settings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParamSpec:
    """A DAG-run param an integration reads besides the generic replay params.

    :param name: the param's key in the run's conf.
    :param title: label in the Airflow trigger form.
    :param description: what it does, shown in the trigger form.
    :param schema: JSON schema of the value; include ``null``, as every such param is optional.
    """

    name: str
    title: str
    description: str
    schema: Mapping[str, Any]


@dataclass(frozen=True)
class IntegrationSpec:
    """An integration between two systems.

    :param id: identifier used in the tenant YAML and in DAG ids (``fusion_stripe``).
    :param title: display name (``Oracle Fusion ⇄ Stripe``).
    :param streams: the streams, in the order they run inside one DAG run.
    :param connection_roles: the Airflow connections a tenant must name, by role, with the
        connection type each role expects (``{"fusion": "oracle_fusion", "stripe": "stripe"}``).
    :param settings_model: pydantic model validating the tenant's ``settings`` block.
    :param default_schedule: cron expression used when the tenant gives none.
    :param docs: the integration's documentation page, relative to the repository.
    :param params: integration-specific DAG-run params (see :class:`ParamSpec`).
    :param checks: dotted path of a ``run_checks(connections, settings) -> list[CheckResult]``
        function that probes the tenant's real systems read-only (``ml-connector check``);
        imported only when the command runs.
    """

    id: str
    title: str
    streams: tuple[StreamSpec, ...]
    connection_roles: Mapping[str, str]
    settings_model: type[BaseModel]
    default_schedule: str = "*/15 * * * *"
    docs: str = ""
    tags: tuple[str, ...] = field(default=())
    params: tuple[ParamSpec, ...] = field(default=())
    checks: str | None = None

    def stream(self, name: str) -> StreamSpec:
        for spec in self.streams:
            if spec.name == name:
                return spec
        raise KeyError(f"integration {self.id!r} has no stream {name!r}")


def import_object(path: str) -> Any:
    """The object a spec names by dotted path (``package.module.Name``), imported now."""
    import importlib

    module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)
