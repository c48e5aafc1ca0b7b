"""Fixtures: the Oracle Fusion stand-in over real HTTP, and Airflow connections pointing at it.

The stand-in serves its AR customers plus ``workNotes``, a small writable resource declared here
with the same declaration API later resources use (create, update, delete, an item action, a
collection action, a child collection and a business rule).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from ml_connector_sandbox import SandboxRunner
from ml_connector_sandbox.runner import airflow_conn_env_var
from ml_connector_sandbox.systems.fusion import (
    CLIENT_ID,
    CLIENT_SECRET,
    CRUD,
    CUSTOMER_RESOURCE_NAME,
    SCOPE,
    TOKEN_PATH,
    ActionContext,
    AdfAction,
    AdfError,
    AdfResource,
    FusionSandbox,
    WriteContext,
    attr,
)

from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
from tests.harness.connections import export_connection
from tests.harness.sandbox import one_system_fixtures

CUSTOMERS = CUSTOMER_RESOURCE_NAME
REST = "/fscmRestApi/resources/11.13.18.05"
CUSTOMERS_PATH = f"{REST}/{CUSTOMERS}"
NOTES = "workNotes"
NOTES_PATH = f"{REST}/{NOTES}"
#: Retries fast enough for tests, still exercising the transport's backoff.
FAST_RETRY = {"retry_attempts": 4, "retry_base_delay": 0.01, "retry_max_delay": 0.05}

ConnectionFactory = Callable[..., str]


def _reject_duplicate_number(context: WriteContext) -> None:
    number = context.item["NoteNumber"]
    if any(row["NoteNumber"] == number for row in context.db.get(NOTES, [])):
        raise AdfError(400, f"A work note with number {number} already exists.", "DUPLICATE_NOTE")


def _close_note(context: ActionContext) -> str:
    assert context.item is not None
    context.item["Status"] = "Closed"
    return f"Note {context.item['NoteNumber']} closed"


def _count_open(context: ActionContext) -> int:
    status = context.payload.get("status", "Open")
    return sum(1 for row in context.db.get(NOTES, []) if row["Status"] == status)


NOTES_RESOURCE = AdfResource(
    name=NOTES,
    key="NoteId",
    attributes=(
        attr("NoteId", "integer", generated=True),
        attr("NoteNumber", mandatory=True, updatable=False),
        attr("Subject"),
        attr("Amount", "number"),
        attr("DueDate", "date"),
        attr("Status", default="Open"),
    ),
    children=(
        AdfResource(
            name="noteLines",
            key="LineId",
            attributes=(
                attr("LineId", "integer", generated=True),
                attr("LineNumber", "integer"),
                attr("Text"),
            ),
            operations=CRUD,
            id_start=900001,
        ),
    ),
    operations=CRUD,
    actions=(AdfAction("close", _close_note), AdfAction("countByStatus", _count_open, on_item=False)),
    alternate_keys=(("NoteNumber",),),
    on_create=_reject_duplicate_number,
    id_start=300000200000001,
)


runner, fusion, base_url, admin = one_system_fixtures(
    lambda: FusionSandbox(extra_resources=(NOTES_RESOURCE,)), system_fixture="fusion"
)


def fetch_token(base_url: str) -> str:
    """A bearer token from the stand-in's token endpoint."""
    response = requests.post(
        base_url + TOKEN_PATH,
        data={"grant_type": "client_credentials", "scope": SCOPE},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


class Api:
    """Plain HTTP calls to the stand-in's REST API with a bearer token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path: str, version: int | None = None, **params: Any) -> requests.Response:
        headers = {} if version is None else {"REST-Framework-Version": str(version)}
        return self.session.get(self.base_url + path, params=params, headers=headers, timeout=10)

    def items(self, path: str, version: int | None = None, **params: Any) -> list[dict[str, Any]]:
        response = self.get(path, version, **params)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        **headers: str,
    ) -> requests.Response:
        data = None if body is None else json.dumps(body)
        return self.session.request(
            method,
            self.base_url + path,
            data=data,
            headers={"Content-Type": content_type, **headers},
            timeout=10,
        )


@pytest.fixture
def api(base_url: str) -> Iterator[Api]:
    client = Api(base_url, fetch_token(base_url))
    try:
        yield client
    finally:
        client.session.close()


@pytest.fixture
def make_connection(
    runner: SandboxRunner, fusion: FusionSandbox, monkeypatch: pytest.MonkeyPatch
) -> ConnectionFactory:
    """Export ``AIRFLOW_CONN_<ID>`` for a connection to the stand-in, with overrides.

    ``make_connection("fusion_x", rest_framework_version="1")`` starts from the connection the
    stand-in hands out (``runner.airflow_env``), adds :data:`FAST_RETRY`, and sets the given
    extras (``None`` removes one). ``basic=True`` starts from the Basic-auth connection instead;
    ``login``/``password`` replace the connection's.
    """

    def make(
        conn_id: str,
        *,
        basic: bool = False,
        login: str | None = None,
        password: str | None = None,
        fast_retry: bool = True,
        **extra: Any,
    ) -> str:
        if basic:
            connection = fusion.basic_connection(runner.url("fusion"))
        else:
            connection = json.loads(runner.airflow_env({"fusion": conn_id})[airflow_conn_env_var(conn_id)])
        if fast_retry:
            connection["extra"].update(FAST_RETRY)
        return export_connection(monkeypatch, conn_id, connection, login=login, password=password, **extra)

    return make


@pytest.fixture
def fusion_conn_id(make_connection: ConnectionFactory) -> str:
    """``oracle_fusion_default`` as the stand-in hands it out (OAuth 2.0, framework 4), fast retries."""
    return make_connection("oracle_fusion_default")


@pytest.fixture
def hook(fusion_conn_id: str) -> Iterator[OracleFusionHook]:
    """An :class:`OracleFusionHook` on :func:`fusion_conn_id`, closed after the test."""
    hook = OracleFusionHook(fusion_conn_id)
    yield hook
    hook.close()
