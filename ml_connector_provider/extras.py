"""Optional extras of the distribution: which integration needs which, and the error when one is missing.

The core of the provider (configuration, engine, ledger, the Oracle Fusion hook, the operator)
installs with ``pip install ml-connector-provider``. The SDKs of one external system come with an
extra of the distribution, so an Airflow that runs only some integrations does not carry the
others' libraries:

========= ============================================================ =================
extra     what it brings                                               used by
========= ============================================================ =================
stripe    the ``stripe`` SDK (Stripe hook, sensor and trigger)         ``fusion_stripe``,
                                                                       ``stripe_netsuite``
sftp      the official SFTP provider, ``paramiko`` and ``asyncssh``    ``stampli_fusion``
          (Stampli hook, sensor and trigger)
postgres  ``psycopg2`` for a PostgreSQL ledger                         the ledger
all       every extra above
========= ============================================================ =================

A module that needs an extra imports its library inside ``try`` and raises
:func:`missing_extra` when it is absent, as Apache Airflow's own providers do for their optional
features: Airflow's provider discovery (``airflow providers hooks``) treats
:class:`~airflow.exceptions.AirflowOptionalProviderFeatureException` as "feature not installed"
and goes on, and a task or command that needs the feature fails with the ``pip install`` line.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping

from airflow.exceptions import AirflowOptionalProviderFeatureException

__all__ = [
    "DISTRIBUTION",
    "EXTRA_MODULES",
    "INTEGRATION_EXTRAS",
    "install_hint",
    "missing_extra",
    "missing_extras",
    "missing_extras_problems",
]

DISTRIBUTION = "ml-connector-provider"
"""Name of the distribution on the package index."""

EXTRA_MODULES: Mapping[str, tuple[str, ...]] = {
    "stripe": ("stripe",),
    "sftp": ("airflow.providers.sftp", "paramiko", "asyncssh"),
}
"""The top-level modules each integration extra brings; one absent means the extra is missing."""

INTEGRATION_EXTRAS: Mapping[str, tuple[str, ...]] = {
    "fusion_stripe": ("stripe",),
    "stampli_fusion": ("sftp",),
    "stripe_netsuite": ("stripe",),
}
"""The extras each integration needs beyond the core (an integration not listed needs none)."""


def install_hint(extra: str) -> str:
    """The command that installs ``extra`` into the current environment.

    :param extra: name of the extra (``stripe``).
    :return: e.g. ``pip install 'ml-connector-provider[stripe]'``.
    """
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing_extra(
    extra: str, feature: str, error: ImportError | None = None
) -> AirflowOptionalProviderFeatureException:
    """The error to raise when ``feature`` cannot be imported because ``extra`` is not installed.

    :param extra: name of the extra that brings the missing library.
    :param feature: what cannot be used, for the message (``the Stripe hook``).
    :param error: the import error, whose missing module the message names.
    :return: an exception whose message names the extra and the ``pip install`` line.
    """
    missing = f" (no module named {error.name!r})" if error is not None and error.name else ""
    return AirflowOptionalProviderFeatureException(
        f"{feature} needs the optional extra [{extra}] of {DISTRIBUTION}, which is not installed"
        f"{missing}: {install_hint(extra)} in every Airflow component's environment"
    )


def _module_missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        # A parent package that is absent (airflow.providers.sftp without the SFTP provider).
        return True


def missing_extras(integration_id: str) -> list[str]:
    """The extras ``integration_id`` needs that this environment lacks (nothing is imported).

    :param integration_id: id of an integration (``fusion_stripe``).
    :return: names of the missing extras, in the order :data:`INTEGRATION_EXTRAS` lists them.
    """
    return [
        extra
        for extra in INTEGRATION_EXTRAS.get(integration_id, ())
        if any(_module_missing(module) for module in EXTRA_MODULES[extra])
    ]


def missing_extras_problems(items: Iterable[tuple[str, str]]) -> list[str]:
    """One message per enabled tenant integration whose extra is missing, for ``validate``.

    :param items: ``(tenant id, integration id)`` pairs of the configuration.
    :return: messages naming the tenant, the integration, the extra and the ``pip install`` line.
    """
    problems = []
    for tenant_id, integration_id in items:
        for extra in missing_extras(integration_id):
            problems.append(
                f"tenant {tenant_id!r}, integration {integration_id!r}: the optional extra [{extra}] "
                f"is not installed; {install_hint(extra)}"
            )
    return problems
