"""The trigger form's params carry the schema that refuses bad replays before a run starts.

A Param's schema sees one value; what ties params together (both ends of a range, ids or a range)
is refused by the task itself, at once and without retries (tests/unit/operators).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import pytest

from ml_connector_provider.dag_factory import DATE_TIME_PATTERN, RECORD_ID_PATTERN
from tests.dags.conftest import DAGS_DIR
from tests.dags.test_dagbag import TASKS

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag


@pytest.fixture(scope="module")
def dagbag(airflow_environment: dict[str, str]) -> DagBag:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    return bag


@pytest.mark.parametrize("dag_id", sorted(TASKS))
def test_the_trigger_form_carries_the_schema(dagbag: DagBag, dag_id: str) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    # What the UI's trigger form and the REST API read: the serialized DAG's params.
    params = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags[dag_id])).params
    schemas = {name: params.get_param(name).schema for name in params}

    for name in ("replay_from", "replay_to"):
        assert schemas[name]["type"] == ["null", "string"]
        assert schemas[name]["format"] == "date-time"
        assert schemas[name]["pattern"] == DATE_TIME_PATTERN
    assert schemas["record_ids"]["items"] == {"type": "string", "minLength": 1, "pattern": RECORD_ID_PATTERN}
    assert schemas["stream"]["enum"] == [None, *TASKS[dag_id]]
    assert "Give both replay_from and replay_to, or neither" in params.get_param("replay_to").description
    assert "Leave replay_from and replay_to empty" in params.get_param("record_ids").description


@pytest.mark.parametrize(
    "conf",
    [
        {"replay_from": "2026-03-01T00:00:00+00:00", "replay_to": "2026-03-02T00:00:00Z"},
        {"replay_from": "2026-03-01", "replay_to": "2026-03-01T12:30"},
        {"replay_from": "2026-03-01 00:00:00.000+0100", "replay_to": "2026-03-02T00:00:00.123456Z"},
        {"record_ids": ["300100170752773", "1001/F-1"], "stream": "invoices"},
        {"replay_from": None, "replay_to": None, "record_ids": None, "stream": None},
    ],
    ids=["offsets", "date-and-minutes", "fractions", "ids", "all-empty"],
)
def test_the_schema_accepts_good_params(dagbag: DagBag, conf: dict[str, Any]) -> None:
    params = copy.deepcopy(dagbag.dags["mlc__acme__fusion_stripe"].params)
    params.update(conf)
    assert {name: params.validate()[name] for name in conf} == conf


@pytest.mark.parametrize(
    "conf",
    [
        {"replay_from": "01/03/2026"},
        {"replay_to": "yesterday"},
        {"replay_from": "2026-3-1"},
        {"replay_from": "2026-03-01T"},
        {"replay_to": ""},
        {"record_ids": [""]},
        {"record_ids": [" 300100170752773"]},
        {"record_ids": ["a,b"]},
        {"record_ids": [7]},
        {"stream": "refunds"},
        {"invoice_numbers": "AR-1"},
        {"onboarding_dry_run": "yes"},
    ],
    ids=[
        "date-d/m/y",
        "date-word",
        "date-short",
        "date-dangling-T",
        "date-empty",
        "id-empty",
        "id-blank-edge",
        "id-with-comma",
        "id-not-a-string",
        "unknown-stream",
        "invoice-numbers-not-a-list",
        "dry-run-not-a-boolean",
    ],
)
def test_the_schema_refuses_bad_params(dagbag: DagBag, conf: dict[str, Any]) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dagbag.dags["mlc__acme__fusion_stripe"].params)
    with pytest.raises(ParamValidationError):
        params.update(conf)
