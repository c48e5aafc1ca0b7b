"""Airflow connections for tests: exported as ``AIRFLOW_CONN_<ID>`` variables (JSON form)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest
from ml_connector_sandbox.runner import airflow_conn_env_var


def export_connection(
    monkeypatch: pytest.MonkeyPatch,
    conn_id: str,
    connection: Mapping[str, Any],
    *,
    login: str | None = None,
    password: str | None = None,
    **extra: Any,
) -> str:
    """Export ``connection`` as ``conn_id`` for the rest of the test, with overrides.

    :param login: replaces the connection's login.
    :param password: replaces the connection's password.
    :param extra: extras to set; a ``None`` value removes that extra.
    :return: ``conn_id``.
    """
    result = copy.deepcopy(dict(connection))
    extras = result.setdefault("extra", {})
    if login is not None:
        result["login"] = login
    if password is not None:
        result["password"] = password
    for key, value in extra.items():
        if value is None:
            extras.pop(key, None)
        else:
            extras[key] = value
    monkeypatch.setenv(airflow_conn_env_var(conn_id), json.dumps(result))
    return conn_id
