"""The provider's DAG file, parsed by Airflow's own DagBag and CLI."""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag

    from ml_connector_provider.operators.sync import SyncStreamOperator

from tests.dags.conftest import DAG_FILE, DAGS_DIR, EXAMPLE_CONFIG, FIXTURES
from tests.unit.config.helpers import use_stand_in_streams

# Environment variable behind airflow.sdk.get_parsing_context().dag_id.
PARSING_CONTEXT_DAG_ID = "_AIRFLOW_PARSING_CONTEXT_DAG_ID"

AirflowCli = Callable[..., subprocess.CompletedProcess[str]]

EXPECTED = {
    # dag id: (tenant, display name, paused at creation, schedule, owner, retries, timezone)
    "mlc__acme__fusion_stripe": (
        "acme",
        "Oracle Fusion ⇄ Stripe · ACME Corp",
        True,
        "*/10 * * * *",
        "finance-ops",
        3,
        "America/New_York",
    ),
    "mlc__globex__fusion_stripe": (
        "globex",
        "Oracle Fusion ⇄ Stripe · Globex Corporation",
        True,
        "*/15 * * * *",
        "data-platform",
        3,
        "UTC",
    ),
    "mlc__acme__stampli_fusion": (
        "acme",
        "Stampli → Oracle Fusion AP · ACME Corp",
        True,
        "*/15 * * * *",
        "finance-ops",
        3,
        "America/New_York",
    ),
    "mlc__globex__stampli_fusion": (
        "globex",
        "Stampli → Oracle Fusion AP · Globex Corporation",
        True,
        "*/15 * * * *",
        "data-platform",
        3,
        "UTC",
    ),
    "mlc__initech__fusion_stripe": (
        "initech",
        "Oracle Fusion ⇄ Stripe · Initech",
        True,
        None,
        "data-platform",
        1,
        "UTC",
    ),
    "mlc__acme__stripe_netsuite": (
        "acme",
        "Stripe → Oracle NetSuite · ACME Corp",
        True,
        "*/15 * * * *",
        "finance-ops",
        3,
        "America/New_York",
    ),
}


ALL_STREAMS = ["customers", "invoices", "payments", "subscriptions"]
#: Every stream of each integration, in run order.
STREAMS_OF = {
    "fusion_stripe": ALL_STREAMS,
    "stampli_fusion": ["invoices", "reference_data"],
    "stripe_netsuite": ["customers", "invoices", "refunds"],
}

#: Tasks of each DAG, in run order: acme and globex give settings.gl, so payments and
#: subscriptions run; initech gives none and turns invoices off.
TASKS = {
    "mlc__acme__fusion_stripe": ALL_STREAMS,
    "mlc__globex__fusion_stripe": ALL_STREAMS,
    "mlc__initech__fusion_stripe": ["customers"],
    # acme exports reference data to Stampli; globex gives no settings.reference_data.
    "mlc__acme__stampli_fusion": ["invoices", "reference_data"],
    "mlc__globex__stampli_fusion": ["invoices"],
    "mlc__acme__stripe_netsuite": ["customers", "invoices", "refunds"],
}

#: Task display names (the streams' titles).
TITLES = {
    "customers": "Fusion AR customers → Stripe customers",
    "invoices": "Fusion AR invoices → Stripe invoices",
    "payments": "Stripe payments → Fusion GL journals",
    "subscriptions": "Stripe subscription invoices → Fusion GL journals",
}
#: Task display names per integration.
TITLES_OF = {
    "fusion_stripe": TITLES,
    "stampli_fusion": {
        "invoices": "Stampli approved invoices → Fusion AP invoices",
        "reference_data": "Fusion vendors, GL accounts, cost centres → Stampli",
    },
    "stripe_netsuite": {
        "customers": "Stripe customers → NetSuite customers",
        "invoices": "Stripe charges and subscription invoices → NetSuite invoices",
        "refunds": "Stripe refunds → NetSuite credit memos",
    },
}

PARAM_NAMES = {"replay_from", "replay_to", "record_ids", "stream"}
#: DAG params per integration (fusion_stripe adds invoice_numbers and onboarding_dry_run to the
#: generic ones).
PARAMS_OF = {
    "fusion_stripe": PARAM_NAMES | {"invoice_numbers", "onboarding_dry_run"},
    "stampli_fusion": PARAM_NAMES,
    "stripe_netsuite": PARAM_NAMES,
}
#: Connection ids per role, as the example names them for a tenant.
CONNECTIONS_OF = {
    "fusion_stripe": lambda tenant: {"fusion": f"{tenant}_fusion", "stripe": f"{tenant}_stripe"},
    "stampli_fusion": lambda tenant: {"fusion": f"{tenant}_fusion", "stampli": f"{tenant}_stampli_sftp"},
    "stripe_netsuite": lambda tenant: {"stripe": f"{tenant}_stripe", "netsuite": f"{tenant}_netsuite"},
}


def _integration(dag_id: str) -> str:
    return dag_id.split("__")[2]


INVOICE_NUMBERS_DESCRIPTION = (
    "Fusion invoice (transaction) numbers to send to Stripe in this run; used when the tenant's "
    "invoice_mode is on_demand."
)

#: acme's settings, every default filled in.
ACME_SETTINGS = {
    "business_units": ["US1 Business Unit"],
    "customer_metadata_prefix": "fusion_",
    "invoice_mode": "automatic",
    "email_invoices": True,
    "default_days_until_due": 30,
    "past_due_date": "postpone",
    "past_due_days": 7,
    "onboarding": {"enabled": True, "rules": ["email", "name_country"], "links": {}},
    "gl": {
        "ledger_id": "300000046975971",
        "ledger_name": "US Primary Ledger",
        "data_access_set_id": "300000046975980",
        "journal_source": "Spreadsheet",
        "journal_category": "Receipts",
        "cash_clearing_account": "101-000-11250-000-000",
        "ar_suspense_account": "101-000-12990-000-000",
        "fee_account": "101-000-65110-000-000",
        "subscription_revenue_account": "101-000-40100-000-000",
        "segment_delimiter": "-",
        "import_timeout": 1800,
        "poll_interval": 5.0,
        "hold_timeout": 900,
    },
}


class _Blocked(RuntimeError):
    pass


@contextmanager
def refusing_io() -> Iterator[list[str]]:
    """Make any network or SQL connection attempted inside the block fail, and record it."""
    attempts: list[str] = []

    def refuse_socket(self: socket.socket, address: Any, *args: Any) -> None:
        attempts.append(f"socket.connect {address!r}")
        raise _Blocked(f"network access during DAG parsing: {address!r}")

    def refuse_engine(self: Any, *args: Any, **kwargs: Any) -> None:
        attempts.append(f"sqlalchemy connect {self!r}")
        raise _Blocked("database access during DAG parsing")

    import sqlalchemy.engine

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse_socket)
        patch.setattr(socket.socket, "connect_ex", refuse_socket)
        patch.setattr(sqlalchemy.engine.Engine, "connect", refuse_engine)
        yield attempts


@pytest.fixture
def no_io() -> Iterator[list[str]]:
    with refusing_io() as attempts:
        yield attempts


def _dagbag(path: Path) -> DagBag:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(path))


def _sync_task(dag: Any, task_id: str) -> SyncStreamOperator:
    from ml_connector_provider.operators.sync import SyncStreamOperator

    task = dag.get_task(task_id)
    assert isinstance(task, SyncStreamOperator)
    return task


def _ours(bag: DagBag) -> dict[str, Any]:
    return {dag_id: dag for dag_id, dag in bag.dags.items() if dag_id.startswith("mlc__")}


@pytest.fixture(scope="module")
def dagbag(airflow_environment: dict[str, str]) -> DagBag:
    """The repository's dags/ folder parsed with the example tenant file, no network allowed."""
    with refusing_io() as attempts:
        bag = _dagbag(DAGS_DIR)
    assert attempts == []
    return bag


class TestDagBag:
    def test_no_import_errors(self, dagbag: DagBag) -> None:
        assert dagbag.import_errors == {}

    def test_dag_ids(self, dagbag: DagBag) -> None:
        assert sorted(_ours(dagbag)) == sorted(EXPECTED)

    def test_dag_file_passes_safe_mode(self) -> None:
        content = DAG_FILE.read_bytes().lower()

        assert b"airflow" in content
        assert b"dag" in content

    @pytest.mark.parametrize("dag_id", sorted(EXPECTED))
    def test_dag_attributes(self, dagbag: DagBag, dag_id: str) -> None:
        tenant, display, paused, schedule, owner, retries, tz = EXPECTED[dag_id]
        dag = dagbag.dags[dag_id]

        assert dag.dag_display_name == display
        integration = _integration(dag_id)
        assert dag.tags == {"ml-connector", f"tenant:{tenant}", f"integration:{integration}"}
        assert dag.is_paused_upon_creation is paused
        assert dag.max_active_runs == 1
        assert dag.catchup is False
        assert dag.timezone.name == tz
        assert dag.start_date == pendulum.datetime(2026, 1, 1, tz=tz)
        expression = getattr(dag.timetable, "expression", None)
        assert expression == schedule
        assert dag.default_args == {
            "owner": owner,
            "retries": retries,
            "retry_delay": timedelta(seconds=60),
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": timedelta(seconds=1800),
        }
        assert dag.doc_md is not None
        assert "## Replay" in dag.doc_md
        for stream in TASKS[dag_id]:
            assert f"- **{stream}** — {TITLES_OF[integration][stream]}" in dag.doc_md
        disabled = [s for s in STREAMS_OF[integration] if s not in TASKS[dag_id]]
        if disabled:
            assert "Disabled streams: " + ", ".join(f"`{s}`" for s in disabled) + "." in dag.doc_md
        else:
            assert "Disabled streams" not in dag.doc_md

    def test_manual_only_dag_has_no_schedule(self, dagbag: DagBag) -> None:
        from airflow.sdk.definitions.timetables.simple import NullTimetable

        dag = dagbag.dags["mlc__initech__fusion_stripe"]

        assert isinstance(dag.timetable, NullTimetable)

    @pytest.mark.parametrize("dag_id", sorted(EXPECTED))
    def test_tasks(self, dagbag: DagBag, dag_id: str) -> None:
        from ml_connector_provider.operators.sync import SyncStreamOperator

        tenant, _, _, _, owner, retries, _ = EXPECTED[dag_id]
        dag = dagbag.dags[dag_id]
        integration = _integration(dag_id)

        assert dag.task_ids == TASKS[dag_id]
        for stream in TASKS[dag_id]:
            task = dag.get_task(stream)
            assert isinstance(task, SyncStreamOperator)
            assert task.task_display_name == TITLES_OF[integration][stream]
            assert (task.tenant_id, task.integration_id, task.stream) == (tenant, integration, stream)
            assert task.connections == CONNECTIONS_OF[integration](tenant)
            assert task.ledger_conn_id == "ml_connector_ledger"
            assert set(task.sync_options) == {
                "overlap",
                "lag",
                "batch_size",
                "initial_lookback",
                "max_window",
                "initial_start",
                "dead_letter_limit",
                "lease_ttl",
                "on_dead_letters",
            }
            assert task.owner == owner
            assert task.retries == retries
            assert task.retry_exponential_backoff == 2.0
            assert task.retry_delay == timedelta(seconds=60)
            assert task.max_retry_delay == timedelta(seconds=1800)

    @pytest.mark.parametrize("dag_id", ["mlc__acme__fusion_stripe", "mlc__globex__fusion_stripe"])
    def test_tasks_chained_in_stream_order(self, dagbag: DagBag, dag_id: str) -> None:
        dag = dagbag.dags[dag_id]

        relations = {
            task_id: (dag.get_task(task_id).upstream_task_ids, dag.get_task(task_id).downstream_task_ids)
            for task_id in dag.task_ids
        }

        assert relations == {
            "customers": (set(), {"invoices"}),
            "invoices": ({"customers"}, {"payments"}),
            "payments": ({"invoices"}, {"subscriptions"}),
            "subscriptions": ({"payments"}, set()),
        }

    def test_single_task_has_no_relations(self, dagbag: DagBag) -> None:
        task = dagbag.dags["mlc__initech__fusion_stripe"].get_task("customers")

        assert (task.upstream_task_ids, task.downstream_task_ids) == (set(), set())

    def test_task_options_resolved_per_tenant(self, dagbag: DagBag) -> None:
        acme = _sync_task(dagbag.dags["mlc__acme__fusion_stripe"], "customers")
        initech = _sync_task(dagbag.dags["mlc__initech__fusion_stripe"], "customers")

        assert (acme.sync_options["overlap"], acme.sync_options["batch_size"]) == (300, 50)
        assert initech.sync_options["initial_lookback"] == 604800
        assert acme.settings == ACME_SETTINGS
        assert initech.settings["gl"] is None
        # Every task of a DAG gets the same options and settings.
        for stream in ALL_STREAMS:
            task = _sync_task(dagbag.dags["mlc__acme__fusion_stripe"], stream)
            assert (task.settings, task.sync_options) == (ACME_SETTINGS, acme.sync_options)

    @pytest.mark.parametrize("dag_id", sorted(EXPECTED))
    def test_replay_params(self, dagbag: DagBag, dag_id: str) -> None:
        params = dagbag.dags[dag_id].params

        assert set(params.keys()) == PARAMS_OF[_integration(dag_id)]
        assert all(params[name] is None for name in params)
        schemas = {name: params.get_param(name).schema for name in params}
        assert schemas["replay_from"]["type"] == ["null", "string"]
        assert schemas["replay_from"]["format"] == "date-time"
        assert schemas["replay_to"]["format"] == "date-time"
        assert schemas["record_ids"]["type"] == ["null", "array"]
        assert schemas["record_ids"]["items"]["type"] == "string"
        assert schemas["stream"]["enum"] == [None, *TASKS[dag_id]]
        assert all(params.get_param(name).description for name in params)

    @pytest.mark.parametrize("dag_id", sorted(d for d in EXPECTED if _integration(d) == "fusion_stripe"))
    def test_invoice_numbers_param(self, dagbag: DagBag, dag_id: str) -> None:
        # An integration param: every DAG of fusion_stripe has it, whatever its streams.
        param = dagbag.dags[dag_id].params.get_param("invoice_numbers")

        assert param.value is None
        assert param.description == INVOICE_NUMBERS_DESCRIPTION
        assert param.schema == {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Invoice numbers",
            "type": ["null", "array"],
            "items": {"type": "string"},
        }

    @pytest.mark.parametrize("dag_id", sorted(d for d in EXPECTED if _integration(d) == "fusion_stripe"))
    def test_onboarding_dry_run_param(self, dagbag: DagBag, dag_id: str) -> None:
        params = copy.deepcopy(dagbag.dags[dag_id].params)
        param = params.get_param("onboarding_dry_run")

        assert param.value is None  # off unless a run asks for it
        assert param.description == (
            "customers task: print the onboarding plan (what would be linked, created and left alone) "
            "and change nothing"
        )
        assert param.schema == {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Onboarding dry run",
            "type": ["null", "boolean"],
        }
        params.update({"onboarding_dry_run": True})
        assert params.validate()["onboarding_dry_run"] is True

    def test_invoice_numbers_validate(self, dagbag: DagBag) -> None:
        params = copy.deepcopy(dagbag.dags["mlc__acme__fusion_stripe"].params)
        assert params.get_param("invoice_numbers").value is None  # a declared param, not a free key

        params.update({"invoice_numbers": ["AR-10042", "AR-10043"], "stream": "invoices"})

        assert params.validate()["invoice_numbers"] == ["AR-10042", "AR-10043"]

    @pytest.mark.parametrize(
        "value", [10042, "AR-10042", [10042]], ids=["number", "string-not-a-list", "list-of-numbers"]
    )
    def test_invoice_numbers_reject(self, dagbag: DagBag, value: Any) -> None:
        from airflow.sdk.exceptions import ParamValidationError

        params = copy.deepcopy(dagbag.dags["mlc__acme__fusion_stripe"].params)

        with pytest.raises(ParamValidationError):
            params.update({"invoice_numbers": value})

    def test_params_validate_a_replay(self, dagbag: DagBag) -> None:
        params = copy.deepcopy(dagbag.dags["mlc__acme__fusion_stripe"].params)

        params.update(
            {
                "replay_from": "2026-03-01T00:00:00+00:00",
                "replay_to": "2026-03-02T00:00:00+00:00",
                "record_ids": ["300100170752773"],
                "stream": "customers",
            }
        )

        assert params.validate()["stream"] == "customers"

    @pytest.mark.parametrize(
        "conf",
        [{"stream": "refunds"}, {"record_ids": "300100170752773"}, {"replay_from": 20260301}],
        ids=["unknown-stream", "ids-not-a-list", "date-not-a-string"],
    )
    def test_params_reject_bad_replays(self, dagbag: DagBag, conf: dict[str, Any]) -> None:
        from airflow.sdk.exceptions import ParamValidationError

        params = copy.deepcopy(dagbag.dags["mlc__acme__fusion_stripe"].params)

        # Assigning a value validates it against the param's schema (what a triggered run does).
        with pytest.raises(ParamValidationError):
            params.update(conf)

    @pytest.mark.parametrize("stream", ["invoices", "payments", "subscriptions"])
    def test_params_reject_a_disabled_stream(self, dagbag: DagBag, stream: str) -> None:
        from airflow.sdk.exceptions import ParamValidationError

        params = copy.deepcopy(dagbag.dags["mlc__initech__fusion_stripe"].params)

        with pytest.raises(ParamValidationError):
            params.update({"stream": stream})

    @pytest.mark.parametrize("dag_id", sorted(EXPECTED))
    def test_dags_serialize(self, dagbag: DagBag, dag_id: str) -> None:
        from airflow.serialization.serialized_objects import DagSerialization

        data = DagSerialization.to_dict(dagbag.dags[dag_id])
        json.dumps(data)
        restored = DagSerialization.from_dict(data)

        assert restored.dag_id == dag_id
        assert restored.task_ids == TASKS[dag_id]
        assert set(restored.params.keys()) == PARAMS_OF[_integration(dag_id)]
        if "invoice_numbers" in restored.params:
            assert restored.params.get_param("invoice_numbers").schema["items"] == {"type": "string"}
        tasks = TASKS[dag_id]
        # Each task's upstream is the one before it (none for the first).
        assert {t: restored.get_task(t).upstream_task_ids for t in restored.task_ids} == {
            t: set(tasks[max(i - 1, 0) : i]) for i, t in enumerate(tasks)
        }


class TestParsing:
    def test_no_network_or_database(self, airflow_environment: dict[str, str], no_io: list[str]) -> None:
        bag = _dagbag(DAG_FILE)

        assert bag.import_errors == {}
        assert len(_ours(bag)) == len(EXPECTED)
        assert no_io == []

    def test_parsing_context_builds_only_the_requested_dag(
        self, airflow_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from airflow.sdk import get_parsing_context

        from ml_connector_provider.dag_factory import build_dags

        # What a worker sets before parsing the file to run one DAG (Airflow's own context manager
        # leaves the variable set afterwards, so the test sets it through monkeypatch).
        monkeypatch.setenv(PARSING_CONTEXT_DAG_ID, "mlc__globex__fusion_stripe")
        assert get_parsing_context().dag_id == "mlc__globex__fusion_stripe"

        bag = _dagbag(DAG_FILE)
        built = build_dags(EXAMPLE_CONFIG)

        assert bag.import_errors == {}
        assert sorted(bag.dags) == ["mlc__globex__fusion_stripe"]
        assert list(built) == ["mlc__globex__fusion_stripe"]

    def test_parsing_context_for_another_dag_builds_nothing(
        self, airflow_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(PARSING_CONTEXT_DAG_ID, "some_other_dag")

        bag = _dagbag(DAG_FILE)

        assert bag.import_errors == {}
        assert bag.dags == {}

    def test_invalid_tenants_are_an_import_error_naming_file_tenant_and_field(
        self, airflow_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        config = FIXTURES / "invalid.yaml"
        monkeypatch.setenv("ML_CONNECTOR_CONFIG", str(config))

        bag = _dagbag(DAGS_DIR)

        # Each of the three tenants has a problem of its own: no DAG is built, and the problems
        # are the import error of the second DAG file, not of the file that builds the DAGs.
        assert bag.dags == {}
        (path,) = bag.import_errors
        assert Path(path).name == "ml_connector_tenant_errors.py"
        error = bag.import_errors[path]
        assert f"{config}: the DAGs of tenant 'acme', 'globex', 'initech' are not built" in error
        assert (
            f"{config}: tenant 'acme': integrations.fusion_stripe.connections: missing role 'stripe' "
            "(the id of an Airflow connection of type 'stripe')"
        ) in error
        assert (
            f"{config}: tenant 'globex': integrations.fusion_stripe.streams.refunds: unknown stream 'refunds' "
            "(streams of fusion_stripe: customers, invoices, payments, subscriptions)"
        ) in error
        assert (
            f"{config}: tenant 'initech': integrations.fusion_stripe.settings.gl: required by the stream "
            "'payments', which is enabled explicitly; set it or disable the stream"
        ) in error

    def test_tenants_yaml_next_to_the_dag_file(
        self, airflow_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.delenv("ML_CONNECTOR_CONFIG")
        dag_file = tmp_path / "ml_connector.py"
        shutil.copy(DAG_FILE, dag_file)

        missing = _dagbag(dag_file)
        shutil.copy(EXAMPLE_CONFIG, tmp_path / "tenants.yaml")
        found = _dagbag(dag_file)

        (error,) = missing.import_errors.values()
        assert (
            f"{tmp_path / 'tenants.yaml'}: cannot read the tenant configuration: No such file or directory"
            in error
        )
        assert found.import_errors == {}
        assert sorted(found.dags) == sorted(EXPECTED)

    def test_heavy_modules_not_imported(
        self, airflow_environment: dict[str, str], airflow_home: Path
    ) -> None:
        script = textwrap.dedent(
            f"""
            import json, sys
            from airflow.dag_processing.dagbag import DagBag
            bag = DagBag(dag_folder={str(DAG_FILE)!r})
            assert not bag.import_errors, bag.import_errors
            assert len(bag.dags) == 6, sorted(bag.dags)
            watched = ("stripe", "simple_salesforce", "paramiko", "asyncssh", "jwt")
            print(json.dumps(sorted(
                m for m in sys.modules
                if m.split(".")[0] in watched
                or m.startswith(("ml_connector_provider.hooks.", "ml_connector_sandbox",
                                 "ml_connector_provider.ledger", "ml_connector_provider.engine.",
                                 "ml_connector_provider.targets"))
                # the integration declarations and the dead-letter policy the operator checks are
                # plain data classes (no I/O library), read at parse time by design
                and m not in ("ml_connector_provider.engine.spec", "ml_connector_provider.engine.report")
            )))
            """
        )
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **airflow_environment}
        result = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            cwd=airflow_home,
            capture_output=True,
            text=True,
            check=False,
        )

        assert result.returncode == 0, result.stderr[-3000:]
        assert json.loads(result.stdout.strip().splitlines()[-1]) == []


class TestFactory:
    @pytest.fixture
    def four_streams(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        from ml_connector_provider.config import clear_config_cache
        from ml_connector_provider.engine.spec import StreamSpec

        use_stand_in_streams(
            monkeypatch,
            StreamSpec("a", "Stream A", "fusion", "stripe", "not.built.Stream", description="First."),
            StreamSpec("b", "Stream B", "fusion", "stripe", "not.built.Stream", default_enabled=False),
            StreamSpec("c", "Stream C", "stripe", "fusion", "not.built.Stream"),
            StreamSpec("d", "Stream D", "stripe", "fusion", "not.built.Stream"),
        )
        clear_config_cache()
        yield
        clear_config_cache()

    @pytest.mark.usefixtures("airflow_environment", "four_streams")
    def test_tasks_chained_in_stream_order(self) -> None:
        from ml_connector_provider.dag_factory import build_dags

        dag = build_dags(FIXTURES / "multi_stream.yaml")["mlc__acme__fusion_stripe"]

        assert dag.task_ids == ["a", "b", "d"]
        assert dag.get_task("a").upstream_task_ids == set()
        assert dag.get_task("b").upstream_task_ids == {"a"}
        assert dag.get_task("d").upstream_task_ids == {"b"}
        assert dag.get_task("d").downstream_task_ids == set()
        assert dag.params.get_param("stream").schema["enum"] == [None, "a", "b", "d"]
        assert dag.doc_md is not None
        assert "Disabled streams: `c`." in dag.doc_md

    @pytest.mark.usefixtures("airflow_environment")
    def test_ledger_conn_id_from_airflow_config(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from ml_connector_provider.dag_factory import build_dags

        monkeypatch.setenv("AIRFLOW__ML_CONNECTOR__LEDGER_CONN_ID", "ledger_pg")

        dags = build_dags(EXAMPLE_CONFIG)

        assert {_sync_task(d, t).ledger_conn_id for d in dags.values() for t in d.task_ids} == {"ledger_pg"}
        assert sum(len(d.task_ids) for d in dags.values()) == sum(len(tasks) for tasks in TASKS.values())

    def test_config_path_resolution(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        from ml_connector_provider.dag_factory import resolve_config_path

        dag_file = tmp_path / "dags" / "ml_connector.py"
        monkeypatch.setenv("ML_CONNECTOR_CONFIG", "/srv/env.yaml")
        monkeypatch.setenv("AIRFLOW__ML_CONNECTOR__TENANT_CONFIG_PATH", "/srv/cfg.yaml")
        assert resolve_config_path(dag_file) == Path("/srv/env.yaml")

        monkeypatch.delenv("ML_CONNECTOR_CONFIG")
        assert resolve_config_path(dag_file) == Path("/srv/cfg.yaml")

        monkeypatch.delenv("AIRFLOW__ML_CONNECTOR__TENANT_CONFIG_PATH")
        assert resolve_config_path(dag_file) == tmp_path / "dags" / "tenants.yaml"


# ---------------------------------------------------------------------------------------------
# The Airflow CLI, in fresh processes (no metadata database is needed for these commands)
# ---------------------------------------------------------------------------------------------

CLI_COMMANDS = {
    "list": ["providers", "list", "-o", "json"],
    "get": ["providers", "get", "ml-connector-provider", "--full", "-o", "json"],
    "hooks": ["providers", "hooks", "-o", "json"],
    "widgets": ["providers", "widgets", "-o", "json"],
    "behaviours": ["providers", "behaviours", "-o", "json"],
    "configs": ["config", "get-value", "ml_connector", "ledger_conn_id"],
    "plugins": ["plugins", "-o", "json"],
}


@pytest.fixture(scope="module")
def cli(airflow_cli: AirflowCli) -> dict[str, subprocess.CompletedProcess[str]]:
    """Outputs of the CLI commands, run in parallel."""
    with ThreadPoolExecutor(max_workers=len(CLI_COMMANDS)) as pool:
        futures = {name: pool.submit(airflow_cli, args) for name, args in CLI_COMMANDS.items()}
        return {name: future.result() for name, future in futures.items()}


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr[-3000:]
    # Log lines may precede the JSON document on stdout.
    start = min(i for i in (result.stdout.find("["), result.stdout.find("{")) if i >= 0)
    return json.loads(result.stdout[start:])


class TestCli:
    def test_providers_list(self, cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
        import ml_connector_provider

        rows = {row["package_name"]: row for row in _json(cli["list"])}

        assert rows["ml-connector-provider"]["version"] == ml_connector_provider.__version__

    def test_providers_get(self, cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
        (info,) = _json(cli["get"])

        assert info["package-name"] == "ml-connector-provider"
        assert [c["connection-type"] for c in info["connection-types"]] == [
            "oracle_fusion",
            "stripe",
            "netsuite",
        ]

    def test_providers_hooks(self, cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
        from ml_connector_provider.get_provider_info import get_provider_info

        rows = {row["connection_type"]: row for row in _json(cli["hooks"])}
        for conn in get_provider_info()["connection-types"]:
            row = rows[conn["connection-type"]]
            assert row["class"] == conn["hook-class-name"]
            assert row["package_name"] == "ml-connector-provider"
            assert row["hook_name"] == conn["hook-name"]

    def test_providers_widgets(self, cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
        from ml_connector_provider.get_provider_info import get_provider_info

        rows = {row["connection_parameter_name"]: row for row in _json(cli["widgets"])}
        expected = {
            f"extra__{conn['connection-type']}__{field}": conn["hook-class-name"]
            for conn in get_provider_info()["connection-types"]
            for field in conn["conn-fields"]
        }

        assert {name: rows[name]["class"] for name in expected if name in rows} == expected
        assert all(rows[name]["package_name"] == "ml-connector-provider" for name in expected)

    def test_providers_behaviours(self, cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
        names = {row["field_behaviours"] for row in _json(cli["behaviours"])}

        assert {"oracle_fusion", "stripe"} <= names

    def test_provider_config_section(self, cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
        result = cli["configs"]

        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.strip().splitlines()[-1] == "ml_connector_ledger"

    def test_plugin_loaded_once(self, cli: dict[str, subprocess.CompletedProcess[str]]) -> None:
        plugins = [p for p in _json(cli["plugins"]) if p["name"] == "ml_connector"]

        assert len(plugins) == 1
        assert "ml-connector-provider" in plugins[0]["source"]


def test_connection_form_marks_secrets_sensitive(airflow_environment: dict[str, str]) -> None:
    from airflow.providers_manager import ProvidersManager

    from ml_connector_provider.get_provider_info import get_provider_info

    manager = ProvidersManager()
    widgets = manager.connection_form_widgets
    behaviours = manager.field_behaviours
    for conn in get_provider_info()["connection-types"]:
        conn_type = conn["connection-type"]
        for name, field in conn["conn-fields"].items():
            widget = widgets[f"extra__{conn_type}__{name}"]
            assert widget.is_sensitive is (field["schema"].get("format") == "password"), name
        assert behaviours[conn_type]["hidden_fields"] == conn["ui-field-behaviour"]["hidden-fields"]
