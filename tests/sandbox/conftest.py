"""Fixtures: the example sandbox system served over real HTTP by a SandboxRunner."""

from __future__ import annotations

import pytest
import requests

from tests.harness.sandbox import one_system_fixtures
from tests.sandbox.example_system import CLIENT_ID, CLIENT_SECRET, TOKEN_PATH, ExampleSystem

runner, system, base_url, admin = one_system_fixtures(ExampleSystem, system_fixture="system")


def fetch_token(base_url: str) -> str:
    response = requests.post(
        base_url + TOKEN_PATH,
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def auth_headers(base_url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {fetch_token(base_url)}"}
