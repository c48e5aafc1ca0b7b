"""Pydantic models of the tenant configuration file.

The models check everything that can be checked from the file alone: types, ranges, identifier
patterns, cron syntax, time zones and links. Checks that need the integration catalogue (known
integration ids, connection roles, stream names, each integration's settings model) and checks
across tenants live in :mod:`ml_connector_provider.config.loader`, which reports every problem of a
file at once.

Durations are whole seconds. Every model forbids unknown keys, so a typo is an error rather than a
silently ignored option.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

#: Schedule strings accepted besides cron expressions. The first six are Airflow's cron presets;
#: ``@once`` and ``@continuous`` are Airflow's special schedules.
SCHEDULE_PRESETS: frozenset[str] = frozenset(
    {"@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@once", "@continuous"}
)

TENANT_ID_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
CONN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}$"

_TENANT_ID_RE = re.compile(TENANT_ID_PATTERN)


def validate_schedule(value: str) -> str:
    """Check a schedule string the way Airflow will interpret it.

    :param value: a cron expression (``*/10 * * * *``) or a preset (``@hourly``).
    :return: the value, stripped of surrounding blanks.
    :raises ValueError: when Airflow would reject the schedule.
    """
    expression = value.strip()
    if not expression:
        raise ValueError("schedule must not be empty; use null for manual runs only")
    if expression.startswith("@"):
        if expression not in SCHEDULE_PRESETS:
            allowed = ", ".join(sorted(SCHEDULE_PRESETS))
            raise ValueError(f"unknown schedule preset {expression!r} (allowed: {allowed})")
        return expression
    from croniter import CroniterBadCronError, CroniterBadDateError, croniter

    try:
        croniter(expression)
    except (CroniterBadCronError, CroniterBadDateError, ValueError, KeyError) as exc:
        raise ValueError(f"invalid cron expression {expression!r}: {exc}") from None
    return expression


def validate_timezone(value: str) -> str:
    """Check that ``value`` names an IANA time zone (``UTC``, ``Europe/Paris``).

    :param value: the time zone name.
    :return: the value unchanged.
    :raises ValueError: when the zone is unknown.
    """
    import pendulum

    try:
        pendulum.timezone(value)
    except (ValueError, KeyError, OSError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as 'UTC' or 'Europe/Paris')"
        ) from None
    return value


def _check_owner_links(links: dict[str, str]) -> dict[str, str]:
    # Same rule as Airflow's DAG owner_links validator, so a bad link is reported here, with the
    # file and tenant, rather than as an import error of the DAG file.
    for owner, link in links.items():
        parts = urlsplit(link)
        ok = bool(parts.path) if parts.scheme == "mailto" else bool(parts.scheme and parts.netloc)
        if not ok:
            raise ValueError(f"owner link of {owner!r} must be an http(s):// or mailto: URL, got {link!r}")
    return links


def _coerce_start_date(value: Any) -> Any:
    # YAML gives ``date`` for 2026-01-01 and ``datetime`` for 2026-01-01T06:00:00; quoted strings
    # are parsed here so the two shapes never surface as a pydantic union in error messages.
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"invalid date {value!r} (use YYYY-MM-DD or an ISO 8601 date-time)") from None
    if isinstance(value, date):
        return value
    raise ValueError("must be a date (YYYY-MM-DD) or an ISO 8601 date-time")


StartDate = Annotated[datetime | date, BeforeValidator(_coerce_start_date)]
"""A date, or a date-time (kept as :class:`datetime.datetime`, a subclass of ``date``)."""

Schedule = Annotated[str, BeforeValidator(lambda v: validate_schedule(v) if isinstance(v, str) else v)]
TimezoneName = Annotated[str, BeforeValidator(lambda v: validate_timezone(v) if isinstance(v, str) else v)]
ConnId = Annotated[str, Field(pattern=CONN_ID_PATTERN)]
Owner = Annotated[str, Field(min_length=1, max_length=100)]
OwnerLinks = Annotated[dict[str, str], Field(max_length=20)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_on_dead_letters(value: Any) -> Any:
    # One clear message instead of a pydantic union's one per branch.
    from ml_connector_provider.engine.report import DeadLetterPolicy

    if value is None:
        return None
    return DeadLetterPolicy.from_value(value).as_value()


OnDeadLetters = Annotated[str | dict[str, Any], BeforeValidator(_check_on_dead_letters)]
"""``succeed``, ``fail``, or a threshold ``{max_count: N}`` and/or ``{max_ratio: 0.05}`` (see
:class:`~ml_connector_provider.engine.report.DeadLetterPolicy`)."""


class SyncOptions(_Model):
    """Window and batching options handed to every sync task. All durations are seconds.

    :param overlap: how far each window reaches back before the previous cursor, so records whose
        change timestamp was committed late are not missed (duplicates are removed by the ledger).
    :param lag: how far behind "now" a window ends, leaving the source time to commit.
    :param batch_size: records written to the target per batch.
    :param initial_lookback: how far back the very first run of a stream starts.
    :param max_window: longest window processed by one run; a backlog is worked off over several
        runs. ``None`` means no limit.
    :param initial_start: absolute start of the very first window (wins over
        ``initial_lookback``); a date or a naive date-time is read in the tenant's time zone.
    :param dead_letter_limit: how many due dead letters one run retries.
    :param lease_ttl: how long a stream's lease stands after its holder's last renewal (the
        holder renews it while it works), i.e. how soon another run takes over from a dead one.
    """

    overlap: int = Field(default=600, ge=0, le=86_400)
    lag: int = Field(default=60, ge=0, le=86_400)
    batch_size: int = Field(default=100, ge=1, le=10_000)
    initial_lookback: int = Field(default=2_592_000, ge=0)
    max_window: int | None = Field(default=None, ge=60)
    initial_start: StartDate | None = None
    dead_letter_limit: int = Field(default=500, ge=0, le=100_000)
    lease_ttl: int = Field(default=300, ge=60, le=86_400)


class SyncOverrides(_Model):
    """A partial :class:`SyncOptions`: only the keys present in the file override the defaults.

    An explicit ``max_window: null`` (or ``initial_start: null``) removes a value set at a higher
    level.
    """

    overlap: int | None = Field(default=None, ge=0, le=86_400)
    lag: int | None = Field(default=None, ge=0, le=86_400)
    batch_size: int | None = Field(default=None, ge=1, le=10_000)
    initial_lookback: int | None = Field(default=None, ge=0)
    max_window: int | None = Field(default=None, ge=60)
    initial_start: StartDate | None = None
    dead_letter_limit: int | None = Field(default=None, ge=0, le=100_000)
    lease_ttl: int | None = Field(default=None, ge=60, le=86_400)

    @field_validator(
        "overlap", "lag", "batch_size", "initial_lookback", "dead_letter_limit", "lease_ttl", mode="before"
    )
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Validators do not run on defaults, so this only rejects an explicit null in the file.
        if value is None:
            raise ValueError("cannot be null; leave the key out to keep the inherited value")
        return value

    def explicit(self) -> dict[str, Any]:
        """Return only the options written in the file.

        :return: option name → value for the keys that were set.
        """
        return self.model_dump(exclude_unset=True)


class StreamConfig(_Model):
    """Per-stream toggle inside a tenant's integration.

    :param enabled: whether the stream runs; streams not listed use the integration's default.
    """

    enabled: bool = True


def _stream_shorthand(value: Any) -> Any:
    # ``customers: false`` is accepted as a short form of ``customers: {enabled: false}``.
    return {"enabled": value} if isinstance(value, bool) else value


StreamToggle = Annotated[StreamConfig, BeforeValidator(_stream_shorthand)]


class IntegrationConfig(_Model):
    """One integration enabled for a tenant (the key under ``integrations`` is its id).

    :param enabled: initial pause state of the integration's DAG (see ``TenantConfig.enabled``).
    :param schedule: cron expression or preset. Leaving the key out inherits the tenant's or the
        file's default, then the integration's own default; an explicit ``null`` means manual runs
        only.
    :param connections: Airflow connection id per role of the integration.
    :param streams: per-stream toggles, by stream name.
    :param sync: overrides of the sync options for this integration.
    :param settings: integration settings, validated by the integration's settings model.
    :param on_dead_letters: whether a run with rejected records or files fails, for this
        integration (wins over the tenant's and the file's).
    """

    enabled: bool = True
    schedule: Schedule | None = None
    connections: dict[str, ConnId]
    on_dead_letters: OnDeadLetters | None = None
    streams: dict[str, StreamToggle] = Field(default_factory=dict)
    sync: SyncOverrides = Field(default_factory=SyncOverrides)
    settings: dict[str, Any] = Field(default_factory=dict)

    @property
    def schedule_is_set(self) -> bool:
        """Whether the file sets ``schedule`` for this integration (``null`` included)."""
        return "schedule" in self.model_fields_set


class DefaultsConfig(_Model):
    """File-wide defaults, each overridable per tenant.

    :param schedule: default schedule of every DAG; ``None`` uses each integration's default.
    :param timezone: IANA time zone of the schedule and of ``start_date``.
    :param start_date: first date the DAGs may run (a date is midnight in ``timezone``).
    :param owner: Airflow owner of the tasks.
    :param owner_links: owner → URL (``https://…`` or ``mailto:…``) shown in the Airflow UI.
    :param retries: task retries after a failure.
    :param retry_delay: delay before the first retry, in seconds.
    :param retry_exponential_backoff: multiplier applied to the delay at each retry (``0`` keeps it
        constant, ``2.0`` doubles it), as in Airflow 3.
    :param max_retry_delay: upper bound of the retry delay, in seconds; ``None`` for no bound.
    :param ledger_conn_id: Airflow connection of the ledger database; ``None`` uses the
        ``[ml_connector] ledger_conn_id`` option of the Airflow configuration.
    :param sync: window and batching options.
    :param on_dead_letters: whether a run with rejected records or files fails: ``succeed``
        (never), ``fail`` (any), or a threshold ``{max_count: N, max_ratio: R}``.
    """

    schedule: Schedule | None = None
    timezone: TimezoneName = "UTC"
    start_date: StartDate = date(2026, 1, 1)
    owner: Owner = "data-platform"
    owner_links: OwnerLinks = Field(default_factory=dict)
    retries: int = Field(default=3, ge=0, le=100)
    retry_delay: int = Field(default=60, ge=0, le=86_400)
    retry_exponential_backoff: float = Field(default=2.0, ge=0, le=100)
    max_retry_delay: int | None = Field(default=1800, ge=1, le=86_400)
    ledger_conn_id: ConnId | None = None
    sync: SyncOptions = Field(default_factory=SyncOptions)
    on_dead_letters: OnDeadLetters = "succeed"

    @field_validator("owner_links")
    @classmethod
    def _check_links(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_owner_links(value)


class TenantConfig(_Model):
    """A tenant: one customer organisation with its own systems and connections.

    :param id: stable identifier, used in DAG ids (``mlc__<id>__<integration>``) and in the ledger.
    :param name: display name; defaults to the id.
    :param enabled: **initial** pause state of the tenant's DAGs. Airflow applies it only when a
        DAG is first created (``is_paused_upon_creation``); afterwards pause and unpause the DAGs
        in the Airflow UI or API.
    :param integrations: the integrations configured for the tenant, by integration id.

    The remaining fields override :class:`DefaultsConfig` for this tenant; leaving them out (or
    ``null``) keeps the file's default, except ``max_retry_delay: null`` which removes the bound.
    """

    id: str = Field(pattern=TENANT_ID_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    enabled: bool = True
    integrations: dict[str, IntegrationConfig] = Field(default_factory=dict)

    schedule: Schedule | None = None
    timezone: TimezoneName | None = None
    start_date: StartDate | None = None
    owner: Owner | None = None
    owner_links: OwnerLinks | None = None
    retries: int | None = Field(default=None, ge=0, le=100)
    retry_delay: int | None = Field(default=None, ge=0, le=86_400)
    retry_exponential_backoff: float | None = Field(default=None, ge=0, le=100)
    max_retry_delay: int | None = Field(default=None, ge=1, le=86_400)
    ledger_conn_id: ConnId | None = None
    sync: SyncOverrides = Field(default_factory=SyncOverrides)
    on_dead_letters: OnDeadLetters | None = None

    @field_validator("id")
    @classmethod
    def _no_double_underscore(cls, value: str) -> str:
        # "__" separates the parts of a DAG id (mlc__<tenant>__<integration>).
        if "__" in value or value.endswith("_"):
            raise ValueError("must not contain '__' or end with '_' (DAG ids use '__' as a separator)")
        return value

    @field_validator("owner_links")
    @classmethod
    def _check_links(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _check_owner_links(value)

    @property
    def display_name(self) -> str:
        """The tenant's name, or its id when it has none."""
        return self.name or self.id


class TenantsConfig(_Model):
    """The whole tenant configuration file.

    :param version: format version of the file; only ``1`` exists.
    :param defaults: defaults applying to every tenant.
    :param tenants: the tenants.
    """

    version: Literal[1]
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    tenants: list[TenantConfig] = Field(default_factory=list)


def is_valid_tenant_id(value: Any) -> bool:
    """Whether ``value`` could be used to name a tenant in an error message."""
    return isinstance(value, str) and bool(_TENANT_ID_RE.match(value))


__all__ = [
    "CONN_ID_PATTERN",
    "SCHEDULE_PRESETS",
    "TENANT_ID_PATTERN",
    "DefaultsConfig",
    "IntegrationConfig",
    "StreamConfig",
    "SyncOptions",
    "SyncOverrides",
    "TenantConfig",
    "TenantsConfig",
    "validate_schedule",
    "validate_timezone",
]
