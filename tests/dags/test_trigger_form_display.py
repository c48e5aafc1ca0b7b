"""What the trigger form shows for each param before the user types anything.

The form (Airflow 3's React UI, ``FlexibleForm``) labels each option of an ``enum`` param with
``values_display[String(value)]``, falling back to ``values_display.None`` and then to the value
itself, where ``null`` becomes the text ``null``; a text field shows a ``null`` value as empty.
:func:`form_label` repeats that rule on the serialized DAG, which is what the form reads.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.dags.conftest import DAGS_DIR
from tests.dags.test_dagbag import TASKS

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag


def form_label(value: Any, values_display: dict[str, str] | None) -> str:
    """The label the trigger form gives the option ``value`` of an ``enum`` param."""
    text = "null" if value is None else str(value)
    if isinstance(values_display, dict):
        if text in values_display:
            return values_display[text]
        if "None" in values_display:
            return values_display["None"]
    return text


@pytest.fixture(scope="module")
def serialized_params(airflow_environment: dict[str, str]) -> dict[str, dict[str, Any]]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag: DagBag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    out: dict[str, dict[str, Any]] = {}
    for dag_id in TASKS:
        # Through JSON, as the API server hands the params to the form.
        data = json.loads(json.dumps(DagSerialization.to_dict(bag.dags[dag_id])))
        params = DagSerialization.from_dict(data).params
        out[dag_id] = {name: params.get_param(name) for name in params}
    return out


@pytest.mark.parametrize("dag_id", sorted(TASKS))
def test_empty_optional_params_show_empty(serialized_params: dict[str, dict[str, Any]], dag_id: str) -> None:
    shown = {}
    for name, param in serialized_params[dag_id].items():
        if param.value is not None:
            continue
        schema = param.schema
        if "enum" in schema:
            shown[name] = form_label(None, schema.get("values_display"))
        else:
            shown[name] = ""  # text, date and list fields show null as empty

    assert shown, "every DAG has optional params"
    assert set(shown.values()) == {""}, shown


@pytest.mark.parametrize("dag_id", sorted(TASKS))
def test_stream_choices_show_the_stream_names(
    serialized_params: dict[str, dict[str, Any]], dag_id: str
) -> None:
    schema = serialized_params[dag_id]["stream"].schema

    assert [form_label(v, schema.get("values_display")) for v in schema["enum"]] == ["", *TASKS[dag_id]]
