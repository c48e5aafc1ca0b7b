"""Fixtures serving one sandbox system over real HTTP, shared by the stand-in test packages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ml_connector_sandbox import SandboxClient, SandboxRunner
from ml_connector_sandbox.base import SandboxSystem


def one_system_fixtures(
    make: Callable[[], SandboxSystem], *, system_fixture: str
) -> tuple[Any, Any, Any, Any]:
    """``runner`` (one server per test module), the system under ``system_fixture`` (reset to its
    seed for every test), ``base_url`` and ``admin`` (a :class:`SandboxClient`).

    Assign the result in a conftest: ``runner, fusion, base_url, admin = one_system_fixtures(...)``.
    """
    name = make().name

    @pytest.fixture(scope="module")
    def runner() -> Iterator[SandboxRunner]:
        with SandboxRunner([make()]) as running:
            yield running

    @pytest.fixture(name=system_fixture)
    def system(runner: SandboxRunner) -> SandboxSystem:
        served = runner.system(name)
        served.reset()
        return served

    @pytest.fixture
    def base_url(runner: SandboxRunner, request: pytest.FixtureRequest) -> str:
        request.getfixturevalue(system_fixture)  # every test starts from the seed
        return runner.url(name)

    @pytest.fixture
    def admin(base_url: str) -> Iterator[SandboxClient]:
        with SandboxClient(base_url) as client:
            yield client

    return runner, system, base_url, admin
