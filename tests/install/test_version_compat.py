"""Arguments whose type differs between the Airflow 3 releases the provider supports.

Only the installed Airflow can be exercised here; `make compat` loads the example's DAGs in
Airflow 3.1.0, where ``retry_exponential_backoff`` must be a boolean.
"""

from __future__ import annotations

import pytest

from ml_connector_provider import version_compat
from ml_connector_provider.version_compat import retry_exponential_backoff_arg


@pytest.mark.parametrize(("multiplier", "on_3_1"), [(2.0, True), (0.0, False), (1.5, True)])
def test_retry_exponential_backoff_arg(
    multiplier: float, on_3_1: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(version_compat, "AIRFLOW_V_3_2_PLUS", True)
    assert retry_exponential_backoff_arg(multiplier) == multiplier
    monkeypatch.setattr(version_compat, "AIRFLOW_V_3_2_PLUS", False)
    assert retry_exponential_backoff_arg(multiplier) is on_3_1


def test_the_installed_airflow_takes_what_the_factory_gives() -> None:
    from airflow.sdk import BaseOperator

    # Airflow checks the type of the argument when the operator is built.
    task = BaseOperator(task_id="probe", retry_exponential_backoff=retry_exponential_backoff_arg(2.0))

    assert task.retry_exponential_backoff == retry_exponential_backoff_arg(2.0)
