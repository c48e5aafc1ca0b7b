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
