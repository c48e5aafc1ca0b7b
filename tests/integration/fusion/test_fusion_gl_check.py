"""``ml-connector check`` for the Fusion general-ledger path, against the stand-in over HTTP: what a
pod allows (descendant look-ups, the batch-name prefix filter, journal source and category), both
when it allows everything and when it refuses. The command on a tenant that posts journals is
tested in ``tests/integration/check``."""

from __future__ import annotations

from ml_connector_sandbox.systems.fusion import FusionSandbox

from ml_connector_provider.checks import CheckStatus
from ml_connector_provider.checks.fusion_gl import check_journal_import
from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from tests.integration.fusion.conftest import ConnectionFactory


def statuses(hook: OracleFusionHook, *, source: str = "Stripe", category: str = "Receipts") -> dict[str, str]:
    return {
        r.check: r.status.value
        for r in check_journal_import(hook, journal_source=source, journal_category=category)
    }


def test_a_pod_that_allows_everything(hook: OracleFusionHook) -> None:
    assert statuses(hook) == {
        "fusion.ess_job_status": "ok",
        "fusion.ess_descendants": "ok",
        "fusion.batch_prefix_filter": "ok",
        "fusion.journal_source": "ok",
        "fusion.journal_category": "ok",
    }


def test_a_pod_that_refuses_the_look_ups_and_the_filter(
    hook: OracleFusionHook, fusion: FusionSandbox
) -> None:
    fusion.configure_gl(execution_details_finder=False, scheduler_rest=False, batch_name_like=False)
    results = {
        r.check: r for r in check_journal_import(hook, journal_source="Payments", journal_category="Receipts")
    }
    descendants = results["fusion.ess_descendants"]
    assert descendants.status is CheckStatus.FAIL
    assert "HTTP 400" in descendants.found
    assert "HTTP 403" in descendants.found
    assert "grant the integration user access" in descendants.fix
    assert results["fusion.batch_prefix_filter"].status is CheckStatus.WARN
    source = results["fusion.journal_source"]
    assert (source.status, source.found) == (
        CheckStatus.FAIL,
        "journalSourcesLOV has no 'Payments'; Journal Import would select no rows",
    )
    assert results["fusion.journal_category"].status is CheckStatus.OK


def test_one_look_up_is_enough_unless_the_connection_insists_on_the_other(
    make_connection: ConnectionFactory, fusion: FusionSandbox
) -> None:
    fusion.configure_gl(execution_details_finder=False)
    auto = OracleFusionHook(make_connection("fusion_auto"))
    insists = OracleFusionHook(make_connection("fusion_details", ess_descendants="execution_details"))
    try:
        assert statuses(auto)["fusion.ess_descendants"] == "ok"
        [wrong] = [
            r
            for r in check_journal_import(insists, journal_source="Stripe", journal_category="Receipts")
            if r.check == "fusion.ess_descendants"
        ]
        assert wrong.status is CheckStatus.FAIL
        assert wrong.fix == (
            "set the connection extra ess_descendants to 'scheduler', or remove it (the writer then uses "
            "whichever the pod allows)"
        )
    finally:
        auto.close()
        insists.close()
