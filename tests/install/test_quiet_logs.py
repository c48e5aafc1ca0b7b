"""Quiet task logs: no deprecation noise from what the SFTP modules import, no masking warnings.

The DSA deprecations appear only with cryptography 51 or later, which stock Airflow installs and
this repository's lock file does not; `make compat` checks, in stock Airflow, that importing every
module the provider lists emits no warning at all. Here: that the filter is exactly that narrow.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from cryptography.utils import CryptographyDeprecationWarning

from ml_connector_provider.get_provider_info import get_provider_info
from ml_connector_provider.quiet_imports import asyncssh_dsa_annotations_quiet

DSA_MESSAGE = "DSA is deprecated and support will be removed in a future release."


def _warn_from(module: str, message: str, category: type[Warning]) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with asyncssh_dsa_annotations_quiet():
            warnings.warn_explicit(message, category, filename=f"{module}.py", lineno=1, module=module)
    return [str(w.message) for w in caught]


@pytest.mark.parametrize("module", ["asyncssh", "asyncssh.crypto.misc", "asyncssh.crypto.dsa"])
def test_asyncssh_dsa_annotation_warnings_are_ignored(module: str) -> None:
    assert _warn_from(module, DSA_MESSAGE, CryptographyDeprecationWarning) == []


@pytest.mark.parametrize(
    ("module", "message", "category"),
    [
        pytest.param(
            "ml_connector_provider.hooks.stampli", DSA_MESSAGE, CryptographyDeprecationWarning, id="our-code"
        ),
        pytest.param("asyncsshx", DSA_MESSAGE, CryptographyDeprecationWarning, id="other-package"),
        pytest.param(
            "asyncssh.crypto.misc",
            "TripleDES is deprecated",
            CryptographyDeprecationWarning,
            id="other-message",
        ),
        pytest.param("asyncssh.crypto.misc", DSA_MESSAGE, DeprecationWarning, id="other-category"),
    ],
)
def test_every_other_warning_still_shows(module: str, message: str, category: type[Warning]) -> None:
    assert _warn_from(module, message, category) == [message]


def test_the_filter_ends_with_the_block() -> None:
    with asyncssh_dsa_annotations_quiet():
        pass
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        warnings.warn_explicit(
            DSA_MESSAGE, CryptographyDeprecationWarning, "misc.py", 1, module="asyncssh.crypto.misc"
        )

    assert [str(w.message) for w in caught] == [DSA_MESSAGE]


# --------------------------------------------------------------------------------------------
# Airflow's secret masker registers every string extra of a connection when a task reads it, and
# logs "Skipping masking for a secret as it's too short" once per process for one under
# [logging] min_length_to_mask (5) characters: a warning in every task of the integration.
# --------------------------------------------------------------------------------------------


def _masker_warns(extra: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> bool:
    """Whether Airflow's masker warns about a short secret when a task reads ``extra``."""
    from airflow.sdk import Connection
    from airflow.sdk._shared.secrets_masker.secrets_masker import SecretsMasker

    monkeypatch.setattr(SecretsMasker, "_has_warned_short_secret", False)
    Connection(conn_id="probe", conn_type="probe", extra=json.dumps(extra)).extra_dejson  # noqa: B018
    return bool(SecretsMasker._has_warned_short_secret)


def test_the_probe_sees_a_short_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _masker_warns({"rest_framework_version": "4"}, monkeypatch)
    assert not _masker_warns({"rest_framework_version": 4}, monkeypatch)


@pytest.mark.parametrize("conn_type", [c["connection-type"] for c in get_provider_info()["connection-types"]])
def test_connection_form_defaults_do_not_make_the_masker_warn(
    conn_type: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    [connection] = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type]
    # What the connection form stores when each field keeps its default.
    defaults = {
        name: field["schema"]["default"]
        for name, field in connection["conn-fields"].items()
        if "default" in field["schema"]
    }

    assert not _masker_warns(defaults, monkeypatch), defaults


@pytest.mark.parametrize("method", ["connection", "basic_connection"])
def test_sandbox_fusion_connection_does_not_make_the_masker_warn(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ml_connector_sandbox.systems import create_system

    connection = getattr(create_system("fusion"), method)("http://127.0.0.1:8080")

    assert not _masker_warns(connection["extra"], monkeypatch), connection["extra"]


def test_sandbox_stripe_connection_does_not_make_the_masker_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    from ml_connector_sandbox.systems import create_system

    connection = create_system("stripe").connection("http://127.0.0.1:8080")

    assert not _masker_warns(connection["extra"], monkeypatch), connection["extra"]
