"""25 soak trials per integration (kill, race and fault trials taking turns, fixed seeds), run by
``make test``: each must end with the target holding exactly the expected records, every dead
letter with a reason, no write under a lease taken over and no stream blocked longer than the
lease TTL plus one retry delay. ``make soak`` runs thousands (see ``tests/soak/__main__.py``)."""

from __future__ import annotations

import os

import pytest

from tests.harness.sshd import SKIP_ENV, find_sshd
from tests.soak.cli import run, summarise, trial_plan
from tests.soak.trials import KINDS, replay_command

TRIALS = 25
SEED = 20_261_207


@pytest.mark.parametrize("integration", ["fusion_stripe", "stampli_fusion", "stripe_netsuite"])
def test_soak_trials_keep_the_target_exact(integration: str) -> None:
    if integration == "stampli_fusion" and find_sshd() is None:
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"{SKIP_ENV}=1 and sshd is not installed")
        pytest.fail("OpenSSH's sshd is not installed; run `make test` (it installs openssh-server)")

    results = run([integration], trial_plan(KINDS, TRIALS, SEED))

    failures = [
        f"{r.kind} seed {r.seed} ({r.stream}, {r.variant}): {'; '.join(r.problems[:5])}\n"
        f"    replay: {replay_command(r.integration, r.kind, r.seed)}"
        for r in results
        if not r.passed
    ]
    assert not failures, "\n".join(failures)
    assert len(results) == TRIALS
    figures = summarise(results)[integration]
    # The disturbances happened: workers were killed and retried, racers waited for the lease,
    # the stand-ins' faults were hit. (A trial that disturbed nothing would prove nothing.)
    assert figures["kill"]["kills"] > 0
    assert figures["kill"]["reruns"] > 0
    assert figures["race"]["lease_waits"] > 0
    assert figures["faults"]["faults_applied"] > 0
    for kind in KINDS:
        row = figures[kind]
        assert (row["duplicates"], row["missing"], row["amount_mismatches"]) == (0, 0, 0), (kind, row)
        assert row["dead_letters_without_reason"] == row["late_writes"] == 0, (kind, row)
