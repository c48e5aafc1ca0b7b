"""Read-only checks of a tenant's real systems: ``ml-connector check``.

Each integration may name a checks function in its spec (``IntegrationSpec.checks``), called with
the tenant's connections and validated settings — and, when it takes a ``streams`` keyword, the
tenant's enabled streams, so that only what those streams use is probed; it returns
:class:`CheckResult` rows that say what was found on the user's system and what to change. Checks
only read: they never create, update or submit anything.

One module per system holds its probes (:mod:`.fusion` with :mod:`.fusion_gl`); an integration's
``checks.py`` makes one call per system it uses. Check names are ``<system>.<probe>`` or
``<system>.<probe>.<resource>`` and stay stable: scripts read them from ``--json``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CheckStatus(enum.StrEnum):
    """How a finding affects the integration."""

    OK = "ok"
    WARN = "warn"  # works, with a cost or a limit worth knowing
    FAIL = "fail"  # the integration will not work (or not safely) until it is changed


@dataclass(frozen=True)
class CheckResult:
    """One finding of a check.

    :param check: a short, stable name (``fusion.ess_descendants``).
    :param status: ok, warn or fail.
    :param found: what was found, in one sentence.
    :param fix: what to change, when the status is not ok.
    """

    check: str
    status: CheckStatus
    found: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "status": self.status.value, "found": self.found, "fix": self.fix}


def unusable_connection(check: str, conn_id: str, conn_type: str, error: BaseException) -> CheckResult:
    """The finding for a connection a system's hook cannot be built from (missing, wrong type,
    unreadable): one failure of that system, so the integration's other systems are still probed.

    :param check: the system's first probe (``fusion.connect``, ``sftp.reachable``).
    :param conn_id: the Airflow connection id the tenant names.
    :param conn_type: the connection type the hook needs.
    :param error: why the connection cannot be used (the hooks' messages for these name the
        setting, never a secret).
    """
    return CheckResult(
        check,
        CheckStatus.FAIL,
        f"Airflow connection {conn_id!r} cannot be used: {type(error).__name__}: {' '.join(str(error).split())}",
        f"create connection {conn_id!r} of type {conn_type} (docs/connections.md), or name an existing "
        "one in the tenant's connections",
    )
