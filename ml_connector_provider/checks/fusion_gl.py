"""Checks of the Fusion general-ledger path (FBDI Journal Import), for a first connection to a pod.

What they probe (contract A5.7c): that ``erpintegrations`` has the ``ESSJobStatusRF`` finder (the
writer reads the state of *Import Journals* with it), which of the two ways of listing an ESS request's descendants
the integration user may call (the writer waits for *Import Journals* and its child through one of
them), whether ``journalBatches`` accepts a name-prefix filter (how imported batches are found),
and whether the tenant's journal source and category exist (``journalSourcesLOV``,
``journalCategoriesLOV``). Nothing is submitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_connector_provider.checks import CheckResult, CheckStatus

if TYPE_CHECKING:
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook

#: A prefix no batch has: the probe only looks at how Fusion answers the filter.
PROBE_PREFIX = "ml-connector check probe "


def check_journal_import(
    hook: OracleFusionHook, *, journal_source: str, journal_category: str
) -> list[CheckResult]:
    """Probe the pod for what the journal writer relies on.

    :param hook: the tenant's Fusion hook.
    :param journal_source: the tenant's ``gl.journal_source``.
    :param journal_category: the tenant's ``gl.journal_category``.
    """
    from ml_connector_provider.hooks.oracle_fusion import FusionApiError

    results: list[CheckResult] = [_job_status_finder(hook)]
    sources = hook.probe_descendant_sources()
    allowed = [name for name, refused in sources.items() if refused is None]
    configured = hook.ess_descendant_source
    if not allowed:
        results.append(
            CheckResult(
                "fusion.ess_descendants",
                CheckStatus.FAIL,
                "neither ESSExecutionDetailsRF ("
                + str(sources["execution_details"])
                + ") nor the ESS scheduler REST API ("
                + str(sources["scheduler"])
                + ") lists the requests a journal import spawns; the writer can only wait for batches "
                "to appear and cannot read Journal Import's report of rejected journals",
                "grant the integration user access to one of them (the ESS scheduler REST API, or "
                "erpintegrations with the ESSExecutionDetailsRF finder)",
            )
        )
    elif configured not in ("auto", *allowed):
        results.append(
            CheckResult(
                "fusion.ess_descendants",
                CheckStatus.FAIL,
                f"the connection's ess_descendants is {configured!r}, which this pod refuses; it allows "
                + " and ".join(allowed),
                f"set the connection extra ess_descendants to {allowed[0]!r}, or remove it (the "
                "writer then uses whichever the pod allows)",
            )
        )
    else:
        results.append(
            CheckResult(
                "fusion.ess_descendants",
                CheckStatus.OK,
                "descendant requests can be listed through " + " and ".join(allowed),
            )
        )
    _, path = hook.find_by_prefix("journalBatches", "BatchName", [PROBE_PREFIX], scan_limit=1)
    if path == "filter":
        results.append(
            CheckResult(
                "fusion.batch_prefix_filter",
                CheckStatus.OK,
                "journalBatches accepts a BatchName prefix filter (imported batches are found by a query)",
            )
        )
    else:
        results.append(
            CheckResult(
                "fusion.batch_prefix_filter",
                CheckStatus.WARN,
                "journalBatches refuses a BatchName prefix filter here; imported batches are found by "
                "reading the newest 2,000 batches instead",
                "use REST framework version 2 or later on the connection (rest_framework_version); if "
                "that is already so, the pod does not allow the filter and the fallback stays in use",
            )
        )
    for check, resource, name, setting in (
        ("fusion.journal_source", "journalSourcesLOV", journal_source, "gl.journal_source"),
        ("fusion.journal_category", "journalCategoriesLOV", journal_category, "gl.journal_category"),
    ):
        try:
            item = hook.get_item(resource, name)
        except FusionApiError as exc:
            if exc.status not in (400, 403, 405):
                raise
            results.append(
                CheckResult(
                    check,
                    CheckStatus.WARN,
                    f"{resource} could not be read (HTTP {exc.status}), so {name!r} was not checked",
                    f"check in Fusion that {name!r} exists, or grant the integration user read access to {resource}",
                )
            )
            continue
        if item is None:
            results.append(
                CheckResult(
                    check,
                    CheckStatus.FAIL,
                    f"{resource} has no {name!r}; Journal Import would select no rows",
                    f"create it in Fusion (Setup and Maintenance) or set the tenant's {setting} to an "
                    "existing one",
                )
            )
        else:
            results.append(CheckResult(check, CheckStatus.OK, f"{resource} has {name!r}"))
    return results


def _job_status_finder(hook: OracleFusionHook) -> CheckResult:
    """``GET erpintegrations?finder=ESSJobStatusRF;requestId=0``: a pod with the finder answers
    (no request has id 0); one without it answers 400 naming the finder."""
    from ml_connector_provider.hooks.oracle_fusion.ess import ERP_INTEGRATIONS

    answer = hook.probe_get(ERP_INTEGRATIONS, {"finder": "ESSJobStatusRF;requestId=0", "onlyData": "true"})
    if answer.status_code == 200:
        return CheckResult(
            "fusion.ess_job_status",
            CheckStatus.OK,
            "erpintegrations has the ESSJobStatusRF finder (the state of Import Journals can be read)",
        )
    detail = " ".join(answer.text.split())[:160]
    if answer.status_code == 403:
        fix = (
            "grant the integration user the privileges of the erpintegrations resource (e.g. the "
            "role that allows loading data to interface tables and submitting ESS jobs)"
        )
    else:
        fix = "check the pod's release: the journal writer waits for Import Journals through ESSJobStatusRF"
    return CheckResult(
        "fusion.ess_job_status",
        CheckStatus.FAIL,
        f"erpintegrations refused the ESSJobStatusRF finder (HTTP {answer.status_code}: {detail}); the "
        "journal writer could not tell when an import ends",
        fix,
    )
