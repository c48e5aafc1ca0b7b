"""StripeEventTrigger and StripeEventSensor against the Stripe stand-in over real HTTP.

The trigger runs its real async loop (``asyncio.run``) with the stripe SDK's async client; the
sensor pokes and defers through the real hook. Connections come from ``AIRFLOW_CONN_*`` variables
and the ledger is a real SQLite file.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import math
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs

import pytest
import requests
import structlog.testing
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    TaskDeferred,
)
from ml_connector_sandbox import FaultRule, SandboxClient
from ml_connector_sandbox.systems.stripe import StripeSandbox

from ml_connector_provider.engine.types import StreamKey
from ml_connector_provider.ledger import Ledger
from ml_connector_provider.sensors.stripe import EVENT_RETENTION, StripeEventSensor, since_to_epoch
from ml_connector_provider.triggers.stripe import StripeEventTrigger
from tests.integration.stripe.conftest import ConnectionFactory, post_form

if TYPE_CHECKING:
    from airflow.sdk import Context

EVENTS = "^/v1/events$"
TRIGGER_PATH = "ml_connector_provider.triggers.stripe.StripeEventTrigger"
NO_CONTEXT = cast("Context", {})
LEDGER_CONN_ID = "mlc_ledger_sensor_test"
STREAM = StreamKey("acme", "fusion_stripe", "payments")


# -- helpers ---------------------------------------------------------------------------------------


def import_string(classpath: str) -> Any:
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)


def run_trigger(trigger: StripeEventTrigger, timeout: float = 30.0) -> dict[str, Any]:
    """Drive ``trigger.run()`` to its first event, as the triggerer would."""

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return cast("dict[str, Any]", event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first_event(), timeout))


def wait_for(stripe_conn_id: str, since: int, *, timeout: float = 30.0, **kwargs: Any) -> dict[str, Any]:
    """The first event of a trigger waiting for ``customer.created`` (by default), polling every 0.05 s."""
    kwargs.setdefault("event_types", ["customer.created"])
    kwargs.setdefault("poll_interval", 0.05)
    return run_trigger(StripeEventTrigger(stripe_conn_id=stripe_conn_id, since=since, **kwargs), timeout)


def create_customer(http: requests.Session, base_url: str, name: str) -> str:
    response = post_form(http, f"{base_url}/v1/customers", f"name={name}")
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def update_customer(http: requests.Session, base_url: str, customer_id: str, name: str) -> None:
    response = post_form(http, f"{base_url}/v1/customers/{customer_id}", f"name={name}")
    assert response.status_code == 200, response.text


def event_of(stripe_system: StripeSandbox, type_: str, object_id: str) -> dict[str, Any]:
    [event] = [e for e in stripe_system.events(type_) if e["data"]["object"]["id"] == object_id]
    return event


def events_requests(admin: SandboxClient) -> list[dict[str, Any]]:
    return admin.request_log(method="GET", path=EVENTS)


def created_gt(request: dict[str, Any]) -> int:
    query = parse_qs(request["query"])
    return int(query["created[gt]"][0])


def request_times(requests_: list[dict[str, Any]]) -> list[float]:
    return [datetime.fromisoformat(r["at"]).timestamp() for r in requests_]


def sensor(**kwargs: Any) -> StripeEventSensor:
    kwargs.setdefault("task_id", "wait_for_stripe_events")
    kwargs.setdefault("event_types", ["customer.created"])
    return StripeEventSensor(**kwargs)


@pytest.fixture
def no_retry_conn_id(make_connection: ConnectionFactory) -> str:
    """A connection whose SDK client does not retry, so every fault reaches the poll loop."""
    return make_connection("stripe_no_retries", max_network_retries="0")


@pytest.fixture
def baseline(stripe_system: StripeSandbox, http: requests.Session, base_url: str) -> dict[str, Any]:
    """An old customer, a ``since`` at the stand-in's now, then the stand-in's clock 5 s later.

    Events made after this fixture are created strictly after ``since``; the old customer's
    ``customer.created`` event is not.
    """
    old_id = create_customer(http, base_url, "Old")
    since = stripe_system.timestamp()
    stripe_system.clock.advance(5)
    return {"since": since, "old_customer": old_id}


# -- trigger: finding events -----------------------------------------------------------------------


def test_trigger_counts_only_new_events_of_the_wanted_types(
    stripe_conn_id: str,
    stripe_system: StripeSandbox,
    http: requests.Session,
    base_url: str,
    baseline: dict[str, Any],
) -> None:
    first = create_customer(http, base_url, "New 1")
    update_customer(http, base_url, baseline["old_customer"], "Old, renamed")  # customer.updated
    second = create_customer(http, base_url, "New 2")
    expected = [event_of(stripe_system, "customer.created", c) for c in (second, first)]  # newest first

    payload = wait_for(stripe_conn_id, baseline["since"])

    assert payload == {
        "status": "success",
        "count": 2,
        "newest_created": max(e["created"] for e in expected),
        "event_ids": [e["id"] for e in expected],
        "has_more": False,
        "since": baseline["since"],
        "event_types": ["customer.created"],
    }
    old_event = event_of(stripe_system, "customer.created", baseline["old_customer"])
    assert old_event["created"] <= baseline["since"]


def test_trigger_several_types_and_min_events(
    stripe_conn_id: str,
    stripe_system: StripeSandbox,
    http: requests.Session,
    base_url: str,
    baseline: dict[str, Any],
    admin: SandboxClient,
) -> None:
    new_id = create_customer(http, base_url, "New")
    update_customer(http, base_url, baseline["old_customer"], "Old, renamed")

    payload = wait_for(
        stripe_conn_id, baseline["since"], event_types=["customer.created", "customer.updated"], min_events=2
    )

    assert payload["status"] == "success"
    assert payload["count"] == 2
    assert set(payload["event_ids"]) == {
        event_of(stripe_system, "customer.created", new_id)["id"],
        event_of(stripe_system, "customer.updated", baseline["old_customer"])["id"],
    }
    [request] = events_requests(admin)
    query = parse_qs(request["query"])
    assert created_gt(request) == baseline["since"]
    assert sorted(v for k, v in query.items() if k.startswith("types[")) == [
        ["customer.created"],
        ["customer.updated"],
    ]


def test_repeated_listings_count_once(
    stripe_conn_id: str,
    stripe_system: StripeSandbox,
    http: requests.Session,
    base_url: str,
    baseline: dict[str, Any],
) -> None:
    stripe_system.settings.event_list_repeats = 2  # the stand-in lists every event twice
    created = [create_customer(http, base_url, f"New {n}") for n in range(2)]
    expected = [event_of(stripe_system, "customer.created", c)["id"] for c in reversed(created)]

    payload = wait_for(stripe_conn_id, baseline["since"], min_events=2)
    poke = sensor(stripe_conn_id=stripe_conn_id, since=baseline["since"], min_events=3).poke(NO_CONTEXT)

    assert payload["count"] == 2
    assert payload["event_ids"] == expected
    assert not poke, "two distinct events listed twice are still two events"


def test_trigger_pages_until_min_events(
    stripe_conn_id: str, http: requests.Session, base_url: str, baseline: dict[str, Any], admin: SandboxClient
) -> None:
    for n in range(105):
        create_customer(http, base_url, f"Bulk {n}")

    payload = wait_for(stripe_conn_id, baseline["since"], min_events=103)

    assert payload["status"] == "success"
    assert payload["count"] == 105
    assert payload["has_more"] is False
    assert len(payload["event_ids"]) == 100
    assert len(set(payload["event_ids"])) == 100
    first_page, second_page = events_requests(admin)
    assert "starting_after" not in parse_qs(first_page["query"])
    assert parse_qs(second_page["query"])["starting_after"] == [payload["event_ids"][-1]]


def test_trigger_stops_reading_once_enough_events_are_seen(
    stripe_conn_id: str, http: requests.Session, base_url: str, baseline: dict[str, Any], admin: SandboxClient
) -> None:
    for n in range(101):
        create_customer(http, base_url, f"Bulk {n}")

    payload = wait_for(stripe_conn_id, baseline["since"])

    assert payload["count"] == 100
    assert payload["has_more"] is True
    assert len(events_requests(admin)) == 1


def test_trigger_waits_until_an_event_arrives(
    stripe_conn_id: str,
    stripe_system: StripeSandbox,
    base_url: str,
    baseline: dict[str, Any],
    admin: SandboxClient,
) -> None:
    created: list[str] = []

    def create_after_three_polls() -> None:
        deadline = time.monotonic() + 20
        while len(events_requests(admin)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {stripe_system.secret_key}"
            created.append(create_customer(session, base_url, "Late"))

    worker = threading.Thread(target=create_after_three_polls, daemon=True)
    worker.start()
    payload = wait_for(stripe_conn_id, baseline["since"], poll_interval=0.1)
    worker.join(timeout=5)

    [customer_id] = created
    assert payload["status"] == "success"
    assert payload["event_ids"] == [event_of(stripe_system, "customer.created", customer_id)["id"]]
    polls = events_requests(admin)
    assert len(polls) >= 4
    assert all(r["status"] == 200 for r in polls)
    gaps = [b - a for a, b in pairwise(request_times(polls))]
    assert min(gaps) >= 0.09  # it slept poll_interval between polls


# -- trigger: faults and errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param([FaultRule.rate_limit(path=EVENTS, times=3)], id="429"),
        pytest.param([FaultRule.unavailable(path=EVENTS, times=3)], id="503"),
        pytest.param(
            [FaultRule.rate_limit(path=EVENTS, times=2), FaultRule.unavailable(path=EVENTS, times=2)],
            id="429-then-503",
        ),
        pytest.param([FaultRule.disconnect(path=EVENTS, times=2)], id="dropped-connection"),
    ],
)
def test_trigger_backs_off_and_survives_transient_faults(
    faults: list[FaultRule],
    no_retry_conn_id: str,
    stripe_system: StripeSandbox,
    http: requests.Session,
    base_url: str,
    baseline: dict[str, Any],
    admin: SandboxClient,
) -> None:
    customer_id = create_customer(http, base_url, "New")
    stripe_system.faults.extend(faults)
    faulted = sum(rule.times or 0 for rule in faults)

    payload = wait_for(no_retry_conn_id, baseline["since"], poll_interval=0.1)

    assert payload["status"] == "success"
    assert payload["event_ids"] == [event_of(stripe_system, "customer.created", customer_id)["id"]]
    polls = events_requests(admin)
    assert len(polls) == faulted + 1
    assert [r["fault"] is not None for r in polls] == [True] * faulted + [False]
    gaps = [b - a for a, b in pairwise(request_times(polls))]
    assert gaps[0] >= 0.1
    # Doubling with at most 25 % jitter: each wait is at least 1.6 times the previous one.
    assert all(later >= 1.4 * earlier for earlier, later in pairwise(gaps)), gaps


def test_trigger_waits_at_least_retry_after(
    no_retry_conn_id: str,
    stripe_system: StripeSandbox,
    http: requests.Session,
    base_url: str,
    baseline: dict[str, Any],
    admin: SandboxClient,
) -> None:
    create_customer(http, base_url, "New")
    stripe_system.faults.add(FaultRule.rate_limit(path=EVENTS, retry_after=1, times=1))

    payload = wait_for(no_retry_conn_id, baseline["since"])

    assert payload["status"] == "success"
    first, second = request_times(events_requests(admin))
    assert second - first >= 1.0


def test_trigger_with_sdk_retries_absorbs_a_single_503(
    stripe_conn_id: str,
    stripe_system: StripeSandbox,
    http: requests.Session,
    base_url: str,
    baseline: dict[str, Any],
    admin: SandboxClient,
) -> None:
    create_customer(http, base_url, "New")
    stripe_system.faults.add(FaultRule.unavailable(path=EVENTS, times=1))

    # A poll-loop retry would take poll_interval (30 s): the SDK retried instead.
    payload = wait_for(stripe_conn_id, baseline["since"], poll_interval=30, timeout=15)

    assert payload["status"] == "success"
    assert [r["status"] for r in events_requests(admin)] == [503, 200]


@pytest.mark.parametrize(
    "bad_key",
    [
        pytest.param("sk_test_NotTheRightKey0123456789", id="secret-key"),
        pytest.param("rk_live_WrongRestrictedKey987654", id="restricted-key"),
        pytest.param("plain-wrong-credential-4242", id="unusual-format"),
    ],
)
def test_trigger_bad_key_yields_error_without_the_key(
    bad_key: str,
    make_connection: ConnectionFactory,
    stripe_system: StripeSandbox,
    baseline: dict[str, Any],
    admin: SandboxClient,
) -> None:
    conn_id = make_connection("stripe_bad_key", password=bad_key)

    payload = wait_for(conn_id, baseline["since"])

    assert payload["status"] == "error"
    assert set(payload) == {"status", "message"}
    message = payload["message"]
    assert "AuthenticationError" in message
    assert "401" in message
    assert bad_key not in message
    assert bad_key[-4:] not in message
    assert "sk_test_" not in message
    assert "rk_live_" not in message
    assert stripe_system.secret_key not in message
    assert len(events_requests(admin)) == 1, "an authentication error is not retried"


def test_trigger_error_for_a_refused_request(
    stripe_conn_id: str, stripe_system: StripeSandbox, baseline: dict[str, Any]
) -> None:
    stripe_system.faults.add(
        FaultRule.error(
            400,
            path=EVENTS,
            body={"error": {"type": "invalid_request_error", "message": "Received unknown parameter: types"}},
            times=None,
        )
    )

    payload = wait_for(stripe_conn_id, baseline["since"])

    assert payload["status"] == "error"
    assert "InvalidRequestError (HTTP 400)" in payload["message"]
    assert "Received unknown parameter: types" in payload["message"]


def test_trigger_error_for_a_missing_connection() -> None:
    payload = wait_for("stripe_defined_nowhere", 0, event_types=["invoice.paid"])

    assert payload["status"] == "error"
    assert "stripe_defined_nowhere" in payload["message"]


def test_trigger_error_for_a_connection_without_key(make_connection: ConnectionFactory) -> None:
    conn_id = make_connection("stripe_no_key", password="")

    payload = wait_for(conn_id, 0, event_types=["invoice.paid"])

    assert payload == {
        "status": "error",
        "message": "cannot use Stripe connection 'stripe_no_key': ValueError: Stripe connection "
        "'stripe_no_key' has no secret key; put it in the password field.",
    }


# -- trigger: construction and serialization -------------------------------------------------------


def test_trigger_serialization_round_trip(stripe_system: StripeSandbox, stripe_conn_id: str) -> None:
    trigger = StripeEventTrigger(
        stripe_conn_id=stripe_conn_id,
        event_types=["invoice.paid", "charge.refunded", "invoice.paid"],
        since=1_767_225_600,
        poll_interval=30,
        min_events=5,
    )

    classpath, kwargs = trigger.serialize()

    assert classpath == TRIGGER_PATH
    assert kwargs == {
        "stripe_conn_id": stripe_conn_id,
        "event_types": ["invoice.paid", "charge.refunded"],
        "since": 1_767_225_600,
        "poll_interval": 30.0,
        "min_events": 5,
    }
    rebuilt = import_string(classpath)(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert stripe_system.secret_key not in json.dumps(kwargs)
    assert stripe_system.settings.webhook_secret not in json.dumps(kwargs)


def test_trigger_defaults() -> None:
    _, kwargs = StripeEventTrigger(stripe_conn_id="s", event_types=["invoice.paid"], since=0).serialize()

    assert kwargs["poll_interval"] == 60.0
    assert kwargs["min_events"] == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param({"event_types": []}, ValueError, "empty", id="no-types"),
        pytest.param({"event_types": "invoice.paid"}, TypeError, "list", id="string-not-list"),
        pytest.param(
            {"event_types": [f"invoice.type_{n}" for n in range(21)]}, ValueError, "at most 20", id="21-types"
        ),
        pytest.param({"event_types": ["invoice.*"]}, ValueError, "exact names", id="wildcard"),
        pytest.param(
            {"event_types": ["Invoice Paid"]}, ValueError, "not a Stripe event name", id="malformed"
        ),
        pytest.param({"since": -1}, ValueError, "since", id="negative-since"),
        pytest.param({"since": 1.5}, ValueError, "since", id="float-since"),
        pytest.param({"since": True}, ValueError, "since", id="bool-since"),
        pytest.param({"min_events": 0}, ValueError, "min_events", id="zero-min-events"),
        pytest.param({"poll_interval": 0}, ValueError, "poll_interval", id="zero-interval"),
    ],
)
def test_trigger_rejects_bad_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    arguments: dict[str, Any] = {"stripe_conn_id": "s", "event_types": ["invoice.paid"], "since": 0, **kwargs}

    with pytest.raises(error, match=match):
        StripeEventTrigger(**arguments)


def test_trigger_accepts_twenty_types() -> None:
    names = [f"invoice.type_{n}" for n in range(20)]

    assert StripeEventTrigger(stripe_conn_id="s", event_types=names, since=0).event_types == names


# -- sensor: poke mode -----------------------------------------------------------------------------


def test_poke_false_then_true(
    stripe_conn_id: str,
    stripe_system: StripeSandbox,
    http: requests.Session,
    base_url: str,
    baseline: dict[str, Any],
    admin: SandboxClient,
) -> None:
    task = sensor(stripe_conn_id=stripe_conn_id, since=baseline["since"])

    not_yet = task.poke(NO_CONTEXT)
    assert isinstance(not_yet, PokeReturnValue)
    assert not not_yet
    assert not_yet.xcom_value is None

    customer_id = create_customer(http, base_url, "New")
    done = task.poke(NO_CONTEXT)

    assert done
    event = event_of(stripe_system, "customer.created", customer_id)
    assert done.xcom_value == {
        "count": 1,
        "newest_created": event["created"],
        "event_ids": [event["id"]],
        "has_more": False,
        "since": baseline["since"],
        "event_types": ["customer.created"],
    }
    requests_ = events_requests(admin)
    assert len(requests_) == 2
    assert all(r["headers"]["authorization"] == f"Bearer {stripe_system.secret_key}" for r in requests_)


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_execute_returns_the_summary_when_events_exist(
    deferrable: bool, stripe_conn_id: str, http: requests.Session, base_url: str, baseline: dict[str, Any]
) -> None:
    create_customer(http, base_url, "New")
    task = sensor(
        stripe_conn_id=stripe_conn_id, since=baseline["since"], deferrable=deferrable, poke_interval=0.1
    )

    summary = task.execute(NO_CONTEXT)  # deferrable: the first check finds them, no deferral

    assert summary["count"] == 1
    assert summary["since"] == baseline["since"]


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(FaultRule.rate_limit(path=EVENTS, times=1), id="429"),
        pytest.param(FaultRule.unavailable(path=EVENTS, times=1), id="503"),
    ],
)
def test_poke_treats_transient_faults_as_not_yet(
    fault: FaultRule,
    no_retry_conn_id: str,
    stripe_system: StripeSandbox,
    http: requests.Session,
    base_url: str,
    baseline: dict[str, Any],
) -> None:
    create_customer(http, base_url, "New")
    stripe_system.faults.add(fault)
    task = sensor(stripe_conn_id=no_retry_conn_id, since=baseline["since"])

    assert not task.poke(NO_CONTEXT)
    assert task.poke(NO_CONTEXT)


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_bad_key_fails_at_once_without_the_key(deferrable: bool, make_connection: ConnectionFactory) -> None:
    bad_key = "sk_live_WrongLiveKey00000000001234"
    conn_id = make_connection("stripe_bad_key", password=bad_key)
    task = sensor(stripe_conn_id=conn_id, deferrable=deferrable, poke_interval=0.1, timeout=30)

    # AirflowFailException: retrying the task cannot fix a key.
    with pytest.raises(AirflowFailException) as raised:
        task.execute(NO_CONTEXT)

    message = str(raised.value)
    assert "AuthenticationError (HTTP 401)" in message
    assert bad_key not in message
    assert bad_key[-4:] not in message
    assert "sk_live_" not in message
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


# -- sensor: deferrable mode -----------------------------------------------------------------------


def test_deferrable_defers_when_nothing_is_new(
    stripe_conn_id: str, stripe_system: StripeSandbox, baseline: dict[str, Any]
) -> None:
    task = sensor(
        stripe_conn_id=stripe_conn_id,
        event_types=["customer.created", "invoice.paid"],
        since=baseline["since"],
        deferrable=True,
        poke_interval=45,
        timeout=3600,
        min_events=2,
    )

    with pytest.raises(TaskDeferred) as deferred:
        task.execute(NO_CONTEXT)

    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(hours=1)
    trigger = deferred.value.trigger
    assert isinstance(trigger, StripeEventTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == TRIGGER_PATH
    assert kwargs == {
        "stripe_conn_id": stripe_conn_id,
        "event_types": ["customer.created", "invoice.paid"],
        "since": baseline["since"],
        "poll_interval": 45.0,
        "min_events": 2,
    }
    serialized = json.dumps(kwargs)
    assert stripe_system.secret_key not in serialized
    assert stripe_system.settings.webhook_secret not in serialized


def test_deferrable_defers_on_a_transient_fault_of_the_first_check(
    no_retry_conn_id: str,
    stripe_system: StripeSandbox,
    http: requests.Session,
    base_url: str,
    baseline: dict[str, Any],
    admin: SandboxClient,
) -> None:
    create_customer(http, base_url, "New")  # without the fault, the first check would succeed
    stripe_system.faults.add(FaultRule.unavailable(path=EVENTS, times=1))
    task = sensor(stripe_conn_id=no_retry_conn_id, since=baseline["since"], deferrable=True)

    with pytest.raises(TaskDeferred) as deferred:
        task.execute(NO_CONTEXT)

    assert [r["status"] for r in events_requests(admin)] == [503]
    assert deferred.value.trigger.serialize()[1]["since"] == baseline["since"]


def test_deferral_round_trip_through_the_trigger(
    stripe_conn_id: str,
    stripe_system: StripeSandbox,
    http: requests.Session,
    base_url: str,
    baseline: dict[str, Any],
) -> None:
    task = sensor(stripe_conn_id=stripe_conn_id, since=baseline["since"], deferrable=True, poke_interval=0.05)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(NO_CONTEXT)
    customer_id = create_customer(http, base_url, "New")
    classpath, kwargs = deferred.value.trigger.serialize()
    payload = run_trigger(import_string(classpath)(**json.loads(json.dumps(kwargs))))

    summary = task.execute_complete(NO_CONTEXT, event=payload)

    assert summary["event_ids"] == [event_of(stripe_system, "customer.created", customer_id)["id"]]
    assert "status" not in summary
    json.dumps(summary)


def test_execute_complete_returns_the_summary() -> None:
    event = {
        "status": "success",
        "count": 2,
        "newest_created": 1_767_225_700,
        "event_ids": ["evt_2", "evt_1"],
        "has_more": False,
        "since": 1_767_225_600,
        "event_types": ["invoice.paid"],
    }

    summary = sensor().execute_complete(NO_CONTEXT, event=event)

    assert summary == {k: v for k, v in event.items() if k != "status"}


@pytest.mark.parametrize(
    ("event", "match"),
    [
        pytest.param(
            {"status": "error", "message": "listing Stripe events failed: AuthenticationError (HTTP 401)"},
            "Waiting for Stripe events failed: listing Stripe events failed: AuthenticationError",
            id="error-event",
        ),
        pytest.param({"status": "error"}, "no reason given", id="error-without-message"),
        pytest.param(None, "without an event", id="no-event"),
    ],
)
def test_execute_complete_raises_on_error(event: dict[str, Any] | None, match: str) -> None:
    with pytest.raises(AirflowException, match=match):
        sensor().execute_complete(NO_CONTEXT, event=event)


# -- sensor: where "since" comes from --------------------------------------------------------------


@pytest.fixture
def ledger(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """A migrated SQLite ledger, reachable through the ``LEDGER_CONN_ID`` Airflow connection."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{LEDGER_CONN_ID.upper()}",
        json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": sqlite_url}}),
    )
    store = Ledger(sqlite_url)
    store.migrate()
    yield store
    store.dispose()


def ledger_sensor(stripe_conn_id: str, **kwargs: Any) -> StripeEventSensor:
    return sensor(
        stripe_conn_id=stripe_conn_id,
        tenant_id=STREAM.tenant,
        integration_id=STREAM.integration,
        stream=STREAM.stream,
        ledger_conn_id=LEDGER_CONN_ID,
        **kwargs,
    )


def test_since_from_the_ledger_cursor(
    ledger: Ledger,
    stripe_conn_id: str,
    stripe_system: StripeSandbox,
    http: requests.Session,
    base_url: str,
    admin: SandboxClient,
) -> None:
    old_id = create_customer(http, base_url, "Synced already")
    stripe_system.clock.advance(10)
    new_id = create_customer(http, base_url, "Not synced yet")
    new_event = event_of(stripe_system, "customer.created", new_id)
    assert event_of(stripe_system, "customer.created", old_id)["created"] < new_event["created"]
    # Everything strictly before the position is synced: the new event, created at it, is not.
    ledger.set_cursor(STREAM, datetime.fromtimestamp(new_event["created"], UTC))
    task = ledger_sensor(stripe_conn_id)

    done = task.poke(NO_CONTEXT)

    assert done
    assert done.xcom_value["event_ids"] == [new_event["id"]]
    assert done.xcom_value["since"] == new_event["created"] - 1
    assert created_gt(events_requests(admin)[-1]) == new_event["created"] - 1

    assert ledger.advance_cursor(STREAM, datetime.fromtimestamp(new_event["created"] + 1, UTC))
    assert not task.poke(NO_CONTEXT)


def test_fractional_cursor_keeps_the_following_second(ledger: Ledger) -> None:
    ledger.set_cursor(STREAM, datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC))
    now = datetime(2026, 1, 2, tzinfo=UTC)

    since = ledger_sensor("stripe_default").resolve_since(now=now)

    # Synced: every event stamped before 12:00:00.5, so the one stamped 12:00:00 too; the first
    # stamp still to sync is 12:00:01, which created[gt]=12:00:00 keeps.
    assert since == int(datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp())


def test_stream_without_cursor_counts_every_retained_event(
    ledger: Ledger, stripe_conn_id: str, http: requests.Session, base_url: str
) -> None:
    create_customer(http, base_url, "Never synced")
    task = ledger_sensor(stripe_conn_id)
    now = datetime.now(UTC)

    assert task.resolve_since(now=now) == math.floor((now - EVENT_RETENTION).timestamp())
    done = task.poke(NO_CONTEXT)
    assert done
    assert done.xcom_value["count"] == 1


def test_unmigrated_ledger_is_read_not_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stripe_conn_id: str,
    http: requests.Session,
    base_url: str,
) -> None:
    path = tmp_path / "empty-ledger.db"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{LEDGER_CONN_ID.upper()}",
        json.dumps({"conn_type": "sqlite", "host": str(path)}),
    )
    create_customer(http, base_url, "Never synced")

    done = ledger_sensor(stripe_conn_id).poke(NO_CONTEXT)

    assert done
    assert done.xcom_value["count"] == 1
    with Ledger(f"sqlite:///{path}").engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").all() == []


def test_old_cursor_is_clamped_to_the_retention_horizon(ledger: Ledger) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    ledger.set_cursor(STREAM, now - timedelta(days=45))

    with structlog.testing.capture_logs() as logs:
        since = ledger_sensor("stripe_default").resolve_since(now=now)

    assert since == int((now - timedelta(days=30)).timestamp())
    [warning] = [entry for entry in logs if entry["log_level"] == "warning"]
    assert "30-day event retention" in warning["event"]
    assert "ledger cursor of acme/fusion_stripe/payments" in warning["event"]
    assert "resync" in warning["event"]


def test_old_since_is_clamped_when_poking(stripe_conn_id: str, admin: SandboxClient) -> None:
    task = sensor(stripe_conn_id=stripe_conn_id, since=datetime.now(UTC) - timedelta(days=40))
    before = math.floor((datetime.now(UTC) - EVENT_RETENTION).timestamp())

    with structlog.testing.capture_logs() as logs:
        assert not task.poke(NO_CONTEXT)

    after = math.floor((datetime.now(UTC) - EVENT_RETENTION).timestamp())
    assert before <= created_gt(events_requests(admin)[-1]) <= after
    assert any("can no longer be listed" in entry["event"] for entry in logs)


def test_recent_since_is_not_clamped() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)

    with structlog.testing.capture_logs() as logs:
        since = sensor(since=now - timedelta(days=29)).resolve_since(now=now)

    assert since == int((now - timedelta(days=29)).timestamp())
    assert not [entry for entry in logs if entry["log_level"] == "warning"]


def test_default_lookback_and_custom_lookback() -> None:
    now = datetime(2026, 6, 1, 12, 30, tzinfo=UTC)

    assert sensor().resolve_since(now=now) == int((now - timedelta(hours=1)).timestamp())
    assert sensor(lookback=600).resolve_since(now=now) == int((now - timedelta(minutes=10)).timestamp())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(datetime(2026, 1, 1, 0, 0, 0, 900_000, tzinfo=UTC), 1_767_225_600, id="aware-datetime"),
        pytest.param(datetime(2026, 1, 1), 1_767_225_600, id="naive-is-utc"),
        pytest.param(date(2026, 1, 1), 1_767_225_600, id="date"),
        pytest.param("2026-01-01T01:00:00+01:00", 1_767_225_600, id="iso-offset"),
        pytest.param("2026-01-01T00:00:00Z", 1_767_225_600, id="iso-z"),
        pytest.param("1767225600", 1_767_225_600, id="epoch-string"),
        pytest.param(1_767_225_600.99, 1_767_225_600, id="epoch-float"),
        pytest.param(1_767_225_600, 1_767_225_600, id="epoch-int"),
    ],
)
def test_since_to_epoch(value: Any, expected: int) -> None:
    assert since_to_epoch(value) == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param("yesterday", ValueError, id="words"),
        pytest.param(-5, ValueError, id="negative"),
        pytest.param(True, TypeError, id="bool"),
        pytest.param([1], TypeError, id="list"),
    ],
)
def test_since_to_epoch_rejects(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        since_to_epoch(value)


def test_templated_since_is_rendered_then_parsed(
    stripe_conn_id: str, baseline: dict[str, Any], admin: SandboxClient
) -> None:
    task = sensor(stripe_conn_id=stripe_conn_id, since="{{ params.since }}")
    assert "since" in task.template_fields
    task.render_template_fields(cast("Context", {"params": {"since": str(baseline["since"])}}))

    assert not task.poke(NO_CONTEXT)
    assert created_gt(events_requests(admin)[-1]) == baseline["since"]


# -- sensor: construction --------------------------------------------------------------------------


def test_constructor_does_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    task = sensor(
        stripe_conn_id="stripe_defined_nowhere",
        tenant_id="acme",
        integration_id="fusion_stripe",
        stream="payments",
        ledger_conn_id="ledger_defined_nowhere",
    )

    assert "hook" not in task.__dict__
    with pytest.raises(AirflowNotFoundException, match="stripe_defined_nowhere"):
        task.hook.client  # noqa: B018 - the first use reads the connection


@pytest.mark.parametrize("setting", [True, False])
def test_deferrable_default_follows_the_operators_setting(
    setting: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(setting))

    assert sensor().deferrable is setting
    assert sensor(deferrable=not setting).deferrable is (not setting)


def test_ledger_conn_id_default_is_the_airflow_option_read_at_run_time(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.set_cursor(STREAM, datetime(2026, 5, 31, 12, 0, 0, tzinfo=UTC))
    task = sensor(tenant_id=STREAM.tenant, integration_id=STREAM.integration, stream=STREAM.stream)
    assert task.ledger_conn_id is None  # nothing resolved when the DAG is parsed
    # Set after the sensor was built: only a run-time read sees it.
    monkeypatch.setenv("AIRFLOW__ML_CONNECTOR__LEDGER_CONN_ID", LEDGER_CONN_ID)

    since = task.resolve_since(now=datetime(2026, 6, 1, tzinfo=UTC))

    assert since == int(datetime(2026, 5, 31, 11, 59, 59, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        pytest.param({"event_types": "invoice.paid"}, TypeError, "list", id="string-types"),
        pytest.param({"event_types": []}, ValueError, "1 to 20", id="no-types"),
        pytest.param({"event_types": [f"a.b{n}" for n in range(21)]}, ValueError, "1 to 20", id="21-types"),
        pytest.param({"event_types": ["charge.*"]}, ValueError, "exact names", id="wildcard"),
        pytest.param({"tenant_id": "acme"}, ValueError, "together", id="partial-stream"),
        pytest.param(
            {"tenant_id": "acme", "integration_id": "fusion_stripe", "stream": "payments", "since": 5},
            ValueError,
            "not both",
            id="stream-and-since",
        ),
        pytest.param({"since": "last tuesday"}, ValueError, "ISO 8601", id="bad-since"),
        pytest.param({"min_events": 0}, ValueError, "min_events", id="zero-min-events"),
        pytest.param({"lookback": timedelta(0)}, ValueError, "lookback", id="zero-lookback"),
    ],
)
def test_sensor_rejects_bad_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        sensor(**kwargs)


def test_sensor_accepts_templated_types_and_since() -> None:
    task = sensor(event_types=["{{ params.event_type }}"], since="{{ data_interval_start }}")

    assert task.event_types == ["{{ params.event_type }}"]
    assert task.since == "{{ data_interval_start }}"
