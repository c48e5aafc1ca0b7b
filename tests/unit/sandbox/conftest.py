"""Fixtures: the example sandbox system served over real HTTP by a SandboxRunner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from ml_connector_provider.sandbox import SandboxClient, SandboxRunner
from tests.unit.sandbox.example_system import CLIENT_ID, CLIENT_SECRET, TOKEN_PATH, ExampleSystem


@pytest.fixture(scope="module")
def runner() -> Iterator[SandboxRunner]:
    """One running example system per test module."""
    with SandboxRunner([ExampleSystem()]) as running:
        yield running


@pytest.fixture
def system(runner: SandboxRunner) -> ExampleSystem:
    """The running example system, reset to its seed before the test."""
    example = runner.system("example")
    assert isinstance(example, ExampleSystem)
    example.reset()
    return example


@pytest.fixture
def base_url(runner: SandboxRunner, system: ExampleSystem) -> str:
    return runner.url("example")


@pytest.fixture
def admin(base_url: str) -> Iterator[SandboxClient]:
    with SandboxClient(base_url) as client:
        yield client


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
