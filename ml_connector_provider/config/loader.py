"""Read and validate the tenant configuration file, and resolve what each DAG needs.

:func:`load_config` reads one YAML file and returns a validated
:class:`~ml_connector_provider.config.schema.TenantsConfig`, or raises :class:`ConfigError` listing
*every* problem of the file, each naming the file, the tenant and the field::

    config/tenants.yaml: tenant 'acme': integrations.fusion_stripe.connections: missing role 'stripe' ...

:func:`load_config_by_tenant` is what the DAG file uses: a problem of one tenant leaves only that
tenant out (:class:`PartialConfig` keeps the valid tenants and the others' problems), while a
problem of the file as a whole (YAML syntax, ``version``, ``defaults``, duplicate tenant ids) still
refuses the file.

:func:`effective_tenant_integrations` then merges the defaults, tenant overrides and integration
overrides into one flat :class:`TenantIntegration` per DAG.

Nothing here touches the network or a database; the only I/O is reading the one file, and a
parsed file is cached by (path, modification time, size) so re-parsing the DAG file is cheap.
"""

from __future__ import annotations

import gc
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import yaml
from pydantic import ValidationError

from ml_connector_provider.config.schema import (
    IntegrationConfig,
    SyncOptions,
    TenantsConfig,
    is_valid_tenant_id,
)
from ml_connector_provider.engine.spec import IntegrationSpec, StreamSpec
from ml_connector_provider.integrations import registry
from ml_connector_provider.options import DEFAULT_LEDGER_CONN_ID

#: Every DAG id built from the configuration starts with this prefix.
DAG_ID_PREFIX = "mlc"

#: Substrings of a settings key that mark it as a secret (after lower-casing and turning
#: non-word characters into ``_``).
SECRET_KEY_MARKERS: tuple[str, ...] = (
    "password",
    "passwd",
    "secret",
    "api_key",
    "apikey",
    "token",
    "private_key",
    "passphrase",
)

_CACHE_SIZE = 8


def dag_id_for(tenant_id: str, integration_id: str) -> str:
    """Return the DAG id of one tenant's integration (``mlc__<tenant>__<integration>``).

    :param tenant_id: tenant id.
    :param integration_id: integration id.
    """
    return f"{DAG_ID_PREFIX}__{tenant_id}__{integration_id}"


# --------------------------------------------------------------------------------------------
# Problems and errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found in a tenant configuration file.

    :param message: what is wrong.
    :param path: dotted path of the offending field, relative to the tenant when ``tenant_index``
        is set, else relative to the file (``defaults.sync.overlap``); empty for the file itself.
    :param tenant_index: position of the tenant in ``tenants`` (0-based), when the problem is
        inside a tenant.
    :param tenant_id: the tenant's id, when it could be read.
    :param line: 1-based line number, when known (YAML syntax errors).
    """

    message: str
    path: str = ""
    tenant_index: int | None = None
    tenant_id: str | None = None
    line: int | None = None

    def render(self, source: str) -> str:
        """Format the problem as one line naming the file, the tenant and the field.

        :param source: the file name to show.
        """
        parts = [source]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.tenant_id is not None:
            parts.append(f"tenant {self.tenant_id!r}")
        elif self.tenant_index is not None:
            parts.append(f"tenant #{self.tenant_index + 1}")
        if self.path:
            parts.append(self.path)
        parts.append(self.message)
        return ": ".join(parts)


class ConfigError(ValueError):
    """The tenant configuration cannot be used.

    The message has one line per problem, each naming the file, the tenant and the field.

    :param source: the file (as given by the caller) the problems were found in.
    :param problems: every problem found.
    """

    def __init__(self, source: str, problems: Sequence[ConfigProblem]) -> None:
        self.source = source
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        self.messages: tuple[str, ...] = tuple(p.render(source) for p in self.problems)
        super().__init__("\n".join(self.messages))


# --------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeySafeLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe YAML loader that rejects duplicate mapping keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable key: let the base class report it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first defined on line {first})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeySafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        detail = exc.problem or exc.context or "invalid YAML"
        line = mark.line + 1 if mark is not None else None
        column = f" (column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(
            source, [ConfigProblem(f"YAML syntax error: {detail}{column}", line=line)]
        ) from None
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(source, [ConfigProblem(f"YAML syntax error: {exc}")]) from None


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern")
        return f"invalid value {error.get('input')!r} (must match {pattern})"
    message = str(error.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _raw_tenant_ids(data: Mapping[str, Any]) -> list[str | None]:
    tenants = data.get("tenants")
    if not isinstance(tenants, list):
        return []
    return [t.get("id") if isinstance(t, dict) and is_valid_tenant_id(t.get("id")) else None for t in tenants]


def _problems_from_validation_error(
    exc: ValidationError,
    *,
    raw_ids: Sequence[str | None],
    prefix: Sequence[int | str] = (),
    tenant_index: int | None = None,
    tenant_id: str | None = None,
    skip_paths: frozenset[str] = frozenset(),
) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors():
        loc: list[int | str] = [*prefix, *error["loc"]]
        index, tid = tenant_index, tenant_id
        if index is None and len(loc) >= 2 and loc[0] == "tenants" and isinstance(loc[1], int):
            index = loc[1]
            tid = raw_ids[index] if index < len(raw_ids) else None
            loc = loc[2:]
        path = _dotted(loc)
        if path in skip_paths:
            continue
        problems.append(ConfigProblem(_message(error), path=path, tenant_index=index, tenant_id=tid))
    return problems


def _looks_secret(key: str) -> bool:
    normalized = re.sub(r"\W+", "_", key.lower())
    return any(marker in normalized for marker in SECRET_KEY_MARKERS)


def _secret_key_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            item_path = f"{path}.{key}"
            if isinstance(key, str) and _looks_secret(key):
                yield item_path
            yield from _secret_key_paths(item, item_path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _secret_key_paths(item, f"{path}[{i}]")


def _default_enabled(stream: StreamSpec, settings: Any) -> bool:
    # A stream that needs settings is on by default only once they are given.
    if not stream.default_enabled:
        return False
    values = settings if isinstance(settings, Mapping) else {}
    return all(values.get(name) is not None for name in stream.requires_settings)


def _enabled_streams(spec: IntegrationSpec, integration: IntegrationConfig) -> tuple[str, ...]:
    enabled = []
    for stream in spec.streams:
        toggle = integration.streams.get(stream.name)
        default = _default_enabled(stream, integration.settings)
        if (toggle.enabled if toggle is not None else default) is True:
            enabled.append(stream.name)
    return tuple(enabled)


def _raw_enabled_streams(
    spec: IntegrationSpec, raw_streams: Mapping[str, Any], settings: Any = None
) -> tuple[str, ...] | None:
    # Same rule as _enabled_streams on unvalidated data; None when a toggle is malformed (the
    # schema pass reports that).
    enabled = []
    for stream in spec.streams:
        toggle = raw_streams.get(stream.name, _default_enabled(stream, settings))
        if isinstance(toggle, dict):
            toggle = toggle.get("enabled", True)
        if not isinstance(toggle, bool):
            return None
        if toggle:
            enabled.append(stream.name)
    return tuple(enabled)


def _check_integrations(
    raw_integrations: Mapping[Any, Any],
    *,
    index: int,
    tenant_id: str | None,
    specs: Mapping[str, IntegrationSpec],
) -> list[ConfigProblem]:
    """Checks of one tenant's integrations that need the integration catalogue.

    They run on the unvalidated data, defensively, so that they are reported together with the
    schema problems of the same file.
    """
    problems: list[ConfigProblem] = []

    def problem(path: str, message: str) -> None:
        problems.append(ConfigProblem(message, path=path, tenant_index=index, tenant_id=tenant_id))

    available = ", ".join(specs) or "none"
    for integration_id, raw in raw_integrations.items():
        base = f"integrations.{integration_id}"
        spec = specs.get(integration_id) if isinstance(integration_id, str) else None
        if spec is None:
            problem(base, f"unknown integration {integration_id!r} (available: {available})")
            continue
        if not isinstance(raw, dict):
            continue  # reported by the schema pass

        connections = raw.get("connections")
        if isinstance(connections, dict):
            roles = ", ".join(spec.connection_roles)
            for role, conn_type in spec.connection_roles.items():
                if role not in connections:
                    problem(
                        f"{base}.connections",
                        f"missing role {role!r} (the id of an Airflow connection of type {conn_type!r})",
                    )
            for role in connections:
                if role not in spec.connection_roles:
                    problem(
                        f"{base}.connections.{role}", f"unknown role {role!r} (roles of {spec.id}: {roles})"
                    )

        streams = raw.get("streams", {})
        if isinstance(streams, dict):
            names = [s.name for s in spec.streams]
            for name in streams:
                if name not in names:
                    problem(
                        f"{base}.streams.{name}",
                        f"unknown stream {name!r} (streams of {spec.id}: {', '.join(names)})",
                    )
            if _raw_enabled_streams(spec, streams, raw.get("settings")) == ():
                problem(
                    f"{base}.streams", "no stream is enabled; set 'enabled: false' on the integration instead"
                )

        settings = raw.get("settings", {})
        if isinstance(settings, dict):
            secret_paths = list(_secret_key_paths(settings, f"{base}.settings"))
            for path in secret_paths:
                problem(
                    path,
                    "looks like a secret; secrets never go in the tenant file: store them in the Airflow "
                    "connection named under 'connections' (see docs/connections.md)",
                )
            enabled = _raw_enabled_streams(spec, streams, settings) if isinstance(streams, dict) else None
            for stream in spec.streams:
                if enabled is None or stream.name not in enabled:
                    continue
                for name in stream.requires_settings:
                    if settings.get(name) is None:
                        problem(
                            f"{base}.settings.{name}",
                            f"required by the stream {stream.name!r}, which is enabled explicitly; "
                            f"set it or disable the stream",
                        )
            try:
                spec.settings_model.model_validate(settings)
            except ValidationError as exc:
                problems.extend(
                    _problems_from_validation_error(
                        exc,
                        raw_ids=(),
                        prefix=("integrations", integration_id, "settings"),
                        tenant_index=index,
                        tenant_id=tenant_id,
                        skip_paths=frozenset(secret_paths),
                    )
                )
    return problems


def _check_unique_ids(raw_ids: Sequence[str | None]) -> list[ConfigProblem]:
    problems = []
    first_seen: dict[str, int] = {}
    for index, tenant_id in enumerate(raw_ids):
        if tenant_id is None:
            continue
        if tenant_id in first_seen:
            problems.append(
                ConfigProblem(
                    f"duplicate tenant id (already used by tenant #{first_seen[tenant_id] + 1})",
                    path="id",
                    tenant_index=index,
                    tenant_id=tenant_id,
                )
            )
        else:
            first_seen[tenant_id] = index
    return problems


def _sort_problems(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    # Stable sort: file-level problems first, then tenant by tenant, each in discovery order.
    return sorted(problems, key=lambda p: -1 if p.tenant_index is None else p.tenant_index)


@dataclass(frozen=True)
class PartialConfig:
    """A tenant file whose valid tenants are usable although other tenants have problems.

    Returned by :func:`parse_config_by_tenant` and :func:`load_config_by_tenant`: one tenant's
    mistake keeps only that tenant's DAGs from being built.

    :param config: the file with only its valid tenants (in file order).
    :param problems: every problem of the tenants left out, each naming the tenant and the field;
        empty when every tenant is valid.
    """

    config: TenantsConfig
    problems: tuple[ConfigProblem, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every tenant of the file is valid."""
        return not self.problems

    @property
    def skipped_tenants(self) -> tuple[str, ...]:
        """The tenants left out, in file order: ``'acme'`` by id, ``#3`` by position when the
        tenant's id is missing or invalid."""
        seen: dict[int, str] = {}
        for problem in self.problems:
            if problem.tenant_index is not None and problem.tenant_index not in seen:
                seen[problem.tenant_index] = (
                    repr(problem.tenant_id)
                    if problem.tenant_id is not None
                    else f"#{problem.tenant_index + 1}"
                )
        return tuple(seen[index] for index in sorted(seen))

    def error(self, source: str) -> ConfigError | None:
        """The problems of the tenants left out as one :class:`ConfigError`, or ``None``.

        :param source: the file name to show in the messages.
        """
        return ConfigError(source, self.problems) if self.problems else None


def _validate(data: Any, source: str) -> tuple[TenantsConfig | None, list[ConfigProblem], set[int]]:
    """Validate a parsed document: the model (``None`` when invalid), every problem (sorted),
    and the indexes of the tenants whose problems are theirs alone.

    :raises ConfigError: when the document is not a mapping at all.
    """
    if data is None:
        raise ConfigError(source, [ConfigProblem("the file is empty; expected 'version' and 'tenants'")])
    if not isinstance(data, dict):
        raise ConfigError(
            source, [ConfigProblem(f"expected a mapping at the top level, got {type(data).__name__}")]
        )

    specs = registry()
    raw_ids = _raw_tenant_ids(data)
    problems: list[ConfigProblem] = []
    config: TenantsConfig | None = None
    try:
        config = TenantsConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems_from_validation_error(exc, raw_ids=raw_ids))

    raw_tenants = data.get("tenants")
    for index, raw_tenant in enumerate(raw_tenants if isinstance(raw_tenants, list) else []):
        integrations = raw_tenant.get("integrations") if isinstance(raw_tenant, dict) else None
        if isinstance(integrations, dict):
            problems.extend(
                _check_integrations(integrations, index=index, tenant_id=raw_ids[index], specs=specs)
            )
    tenant_problem_indexes = {p.tenant_index for p in problems if p.tenant_index is not None}
    # A duplicate id concerns two tenants and the DAG ids of both: the whole file is refused.
    file_level = [p for p in problems if p.tenant_index is None]
    duplicates = _check_unique_ids(raw_ids)
    problems.extend(duplicates)
    if file_level or duplicates:
        tenant_problem_indexes = set()
    return config, _sort_problems(problems), tenant_problem_indexes


def parse_config(data: Any, *, source: str = "<tenant config>") -> TenantsConfig:
    """Validate already-loaded YAML data against the schema and the integration catalogue.

    :param data: the parsed YAML document.
    :param source: the file name used in error messages.
    :return: the validated configuration.
    :raises ConfigError: listing every problem found.
    """
    config, problems, _ = _validate(data, source)
    if problems or config is None:
        raise ConfigError(source, problems)
    return config


def parse_config_by_tenant(data: Any, *, source: str = "<tenant config>") -> PartialConfig:
    """Validate already-loaded YAML data, keeping the valid tenants when others have problems.

    Problems of the file as a whole still refuse it: a document that is not a mapping, ``version``,
    ``defaults`` or the shape of ``tenants``, and duplicate tenant ids. Any other problem belongs to
    one tenant, which is left out of :attr:`PartialConfig.config` and reported in
    :attr:`PartialConfig.problems`.

    :param data: the parsed YAML document.
    :param source: the file name used in error messages.
    :return: the valid tenants and the problems of the others.
    :raises ConfigError: on a problem of the file as a whole, listing every problem of the file
        (those of the tenants too).
    """
    config, problems, broken = _validate(data, source)
    if not problems and config is not None:
        return PartialConfig(config)
    if not broken or any(p.tenant_index not in broken for p in problems):
        raise ConfigError(source, problems)
    kept = {**data, "tenants": [t for i, t in enumerate(data["tenants"]) if i not in broken]}
    try:
        valid = TenantsConfig.model_validate(kept)
    except ValidationError:  # pragma: no cover - each tenant validates on its own
        raise ConfigError(source, problems) from None
    return PartialConfig(valid, tuple(problems))


# --------------------------------------------------------------------------------------------
# Loading with a cache
# --------------------------------------------------------------------------------------------

_cache: OrderedDict[tuple[str, int, int], PartialConfig] = OrderedDict()
_cache_lock = threading.Lock()


def clear_config_cache() -> None:
    """Forget every cached configuration."""
    with _cache_lock:
        _cache.clear()


def load_config_by_tenant(path: str | os.PathLike[str]) -> PartialConfig:
    """Read a tenant configuration file, keeping its valid tenants when others have problems.

    What the DAG file uses: one tenant's mistake leaves only that tenant's DAGs unbuilt. See
    :func:`parse_config_by_tenant` for which problems still refuse the whole file.

    Results are cached by (absolute path, modification time, size): loading an unchanged file again
    returns the same object without re-parsing it. Files refused as a whole are not cached.

    :param path: the YAML file.
    :return: the valid tenants and the problems of the others.
    :raises ConfigError: when the file cannot be read, is not valid YAML, or has a problem of the
        file as a whole; the message lists every problem of the file.
    """
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            stat = os.fstat(handle.fileno())
            key = (os.path.abspath(source), stat.st_mtime_ns, stat.st_size)
            with _cache_lock:
                cached = _cache.get(key)
                if cached is not None:
                    _cache.move_to_end(key)
                    return cached
            raw = handle.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            source, [ConfigProblem(f"cannot read the tenant configuration: {reason}")]
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [ConfigProblem(f"the file is not UTF-8: {exc.reason}")]) from None

    # Parsing creates many small objects that all stay alive; with Airflow's large heap loaded, the
    # cyclic GC would repeatedly rescan it for nothing (a third of the parse time at 1,000 tenants).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        result = parse_config_by_tenant(_parse_yaml(text, source), source=source)
    finally:
        if gc_was_enabled:
            gc.enable()
    with _cache_lock:
        _cache[key] = result
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def load_config(path: str | os.PathLike[str]) -> TenantsConfig:
    """Read, parse and validate a tenant configuration file, refusing it on any problem.

    What ``ml-connector validate`` and the other commands use. Cached as
    :func:`load_config_by_tenant` is.

    :param path: the YAML file.
    :return: the validated configuration.
    :raises ConfigError: when the file cannot be read, is not valid YAML or is not a valid
        configuration, including a problem of one tenant only; the message lists every problem.
    """
    result = load_config_by_tenant(path)
    error = result.error(os.fspath(path))
    if error is not None:
        raise error
    return result.config


# --------------------------------------------------------------------------------------------
# Effective settings per DAG
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantIntegration:
    """Everything needed to build the DAG of one tenant's integration, fully resolved.

    :param tenant_id: tenant id.
    :param tenant_name: tenant display name.
    :param spec: the integration's catalogue entry.
    :param tenant_enabled: the tenant's ``enabled`` flag.
    :param integration_enabled: the integration's ``enabled`` flag.
    :param schedule: cron expression or preset; ``None`` for manual runs only.
    :param timezone: IANA time zone of the schedule.
    :param start_date: timezone-aware start date.
    :param owner: task owner.
    :param owner_links: owner → link, for the Airflow UI.
    :param retries: task retries.
    :param retry_delay: delay before the first retry.
    :param retry_exponential_backoff: retry delay multiplier (Airflow 3 semantics).
    :param max_retry_delay: upper bound of the retry delay, or ``None``.
    :param ledger_conn_id: Airflow connection of the ledger database.
    :param sync: merged sync options (seconds), as plain data, with the resolved
        ``on_dead_letters`` policy (the integration's, else the tenant's, else the file's default).
    :param streams: enabled stream names, in the integration's order.
    :param connections: Airflow connection id per role.
    :param settings: validated integration settings, as JSON-compatible data.
    """

    tenant_id: str
    tenant_name: str
    spec: IntegrationSpec
    tenant_enabled: bool
    integration_enabled: bool
    schedule: str | None
    timezone: str
    start_date: datetime
    owner: str
    owner_links: Mapping[str, str]
    retries: int
    retry_delay: timedelta
    retry_exponential_backoff: float
    max_retry_delay: timedelta | None
    ledger_conn_id: str
    sync: Mapping[str, Any]
    streams: tuple[str, ...]
    connections: Mapping[str, str]
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def on_dead_letters(self) -> str | Mapping[str, Any]:
        """The resolved ``on_dead_letters`` policy: ``succeed``, ``fail`` or a threshold."""
        value: str | Mapping[str, Any] = self.sync.get("on_dead_letters", "succeed")
        return value

    @property
    def integration_id(self) -> str:
        """The integration id."""
        return self.spec.id

    @property
    def enabled(self) -> bool:
        """Whether the DAG starts unpaused: the tenant and the integration are both enabled."""
        return self.tenant_enabled and self.integration_enabled

    @property
    def paused_at_creation(self) -> bool:
        """The DAG's ``is_paused_upon_creation``: ``True`` unless :attr:`enabled`."""
        return not self.enabled

    @property
    def dag_id(self) -> str:
        """The DAG id, ``mlc__<tenant>__<integration>``."""
        return dag_id_for(self.tenant_id, self.spec.id)


def _aware_start(value: date, tz_name: str) -> datetime:
    import pendulum

    tz = pendulum.timezone(tz_name)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return pendulum.instance(value, tz=tz)
        return pendulum.instance(value).in_timezone(tz)
    return pendulum.datetime(value.year, value.month, value.day, tz=tz)


def _pick(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def effective_tenant_integrations(
    config: TenantsConfig, *, default_ledger_conn_id: str = DEFAULT_LEDGER_CONN_ID
) -> list[TenantIntegration]:
    """Resolve every tenant's integrations into flat, ready-to-use settings.

    Values are taken from the integration, then the tenant, then the file's ``defaults``, then the
    integration's own defaults (schedule) or ``default_ledger_conn_id``. Sync options merge key by
    key: ``defaults.sync`` ← tenant ``sync`` ← integration ``sync``. ``on_dead_letters`` is the
    integration's, else the tenant's, else ``defaults``'s, and goes with the sync options.

    :param config: a configuration returned by :func:`load_config` or :func:`parse_config`.
    :param default_ledger_conn_id: ledger connection used when the file names none.
    :return: one entry per tenant × configured integration, sorted by tenant id then integration id.
    """
    specs = registry()
    defaults = config.defaults
    out: list[TenantIntegration] = []
    for tenant in config.tenants:
        timezone = _pick(tenant.timezone, defaults.timezone)
        start_date = _aware_start(_pick(tenant.start_date, defaults.start_date), timezone)
        max_retry_delay = (
            tenant.max_retry_delay
            if "max_retry_delay" in tenant.model_fields_set
            else defaults.max_retry_delay
        )
        for integration_id, integration in tenant.integrations.items():
            spec = specs[integration_id]
            if integration.schedule_is_set:
                schedule = integration.schedule
            else:
                schedule = _pick(tenant.schedule, defaults.schedule, spec.default_schedule)
            sync = SyncOptions.model_validate(
                {**defaults.sync.model_dump(), **tenant.sync.explicit(), **integration.sync.explicit()}
            ).model_dump()
            if sync["initial_start"] is not None:
                sync["initial_start"] = _aware_start(sync["initial_start"], timezone).isoformat()
            # Handed to the sync task with the sync options (see SyncStreamOperator).
            sync["on_dead_letters"] = _pick(
                integration.on_dead_letters, tenant.on_dead_letters, defaults.on_dead_letters
            )
            settings = spec.settings_model.model_validate(integration.settings).model_dump(mode="json")
            out.append(
                TenantIntegration(
                    tenant_id=tenant.id,
                    tenant_name=tenant.display_name,
                    spec=spec,
                    tenant_enabled=tenant.enabled,
                    integration_enabled=integration.enabled,
                    schedule=schedule,
                    timezone=timezone,
                    start_date=start_date,
                    owner=_pick(tenant.owner, defaults.owner),
                    owner_links={**defaults.owner_links, **(tenant.owner_links or {})},
                    retries=_pick(tenant.retries, defaults.retries),
                    retry_delay=timedelta(seconds=_pick(tenant.retry_delay, defaults.retry_delay)),
                    retry_exponential_backoff=float(
                        _pick(tenant.retry_exponential_backoff, defaults.retry_exponential_backoff)
                    ),
                    max_retry_delay=None if max_retry_delay is None else timedelta(seconds=max_retry_delay),
                    ledger_conn_id=_pick(
                        tenant.ledger_conn_id, defaults.ledger_conn_id, default_ledger_conn_id
                    ),
                    sync=sync,
                    streams=_enabled_streams(spec, integration),
                    connections=dict(integration.connections),
                    settings=settings,
                )
            )
    out.sort(key=lambda item: (item.tenant_id, item.spec.id))
    return out


__all__ = [
    "DAG_ID_PREFIX",
    "SECRET_KEY_MARKERS",
    "ConfigError",
    "ConfigProblem",
    "PartialConfig",
    "TenantIntegration",
    "clear_config_cache",
    "dag_id_for",
    "effective_tenant_integrations",
    "load_config",
    "load_config_by_tenant",
    "parse_config",
    "parse_config_by_tenant",
]
