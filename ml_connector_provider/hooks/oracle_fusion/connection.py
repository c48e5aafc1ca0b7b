"""The settings of an ``oracle_fusion`` Airflow connection and the authentication they select.

:class:`FusionConnectionSettings` validates the connection's fields (the pod URL, the auth type
and its credentials, the REST framework version, the timeout and the retry extras; the package
docstring lists them) and builds the :class:`~ml_connector_provider.transport.AuthProvider` the
hook's transport signs requests with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

from ml_connector_provider.hooks.oracle_fusion.ess import (
    DESCENDANT_SOURCES,
    ESS_SCHEDULER_REQUESTS,
    DescendantSource,
)
from ml_connector_provider.transport import (
    AuthProvider,
    BasicAuth,
    OAuth2ClientCredentials,
    RetryPolicy,
    register_secret,
)

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = ["AuthType", "FusionConnectionSettings"]

AuthType = Literal["oauth2_client_credentials", "basic"]


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _pod_url(host: str | None, port: int | None) -> str:
    if not host or not host.strip():
        raise ValueError(
            "the connection has no host: set it to the pod URL, https://<pod>.fa.<region>.oraclecloud.com"
        )
    text = host.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the connection host {host!r} is not an http(s) URL")
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path
    marker = path.find("/fscmRestApi")
    if marker >= 0:
        path = path[:marker]
    return urlunsplit((parts.scheme, netloc, path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class FusionConnectionSettings:
    """What the hook reads from an ``oracle_fusion`` connection (listed in the package docstring).

    :param pod_url: scheme, host and port of the pod.
    :param auth_type: ``oauth2_client_credentials`` or ``basic``.
    :param rest_framework_version: the ``REST-Framework-Version`` header value.
    :param timeout: seconds per HTTP request.
    :param retry: retry policy of API calls.
    :param api_version: the REST API version in the path (``11.13.18.05``).
    :param token_url: token endpoint (OAuth 2.0).
    :param client_id: client id (OAuth 2.0; not a secret).
    :param client_secret: client secret (OAuth 2.0).
    :param scope: requested scope (OAuth 2.0).
    :param client_auth: how the client authenticates at the token endpoint: ``basic`` or ``post``.
    :param username: user name (basic auth).
    :param password: password (basic auth).
    :param test_resource: the collection :meth:`OracleFusionHook.test_connection` reads.
    :param ess_descendants: how the descendants of an ESS request are listed: ``auto``,
        ``execution_details`` or ``scheduler`` (see
        :meth:`~ml_connector_provider.hooks.oracle_fusion.ess.FusionEssJobs.ess_descendants`).
    """

    pod_url: str
    auth_type: AuthType
    rest_framework_version: int
    timeout: float
    retry: RetryPolicy
    api_version: str = "11.13.18.05"
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scope: str | None = None
    client_auth: Literal["basic", "post"] = "basic"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    test_resource: str = "receivablesCustomerAccountSiteActivities"
    ess_descendants: DescendantSource = "auto"

    @property
    def base_url(self) -> str:
        """``<pod>/fscmRestApi/resources/<api_version>``."""
        return f"{self.pod_url}/fscmRestApi/resources/{self.api_version}"

    @property
    def ess_scheduler_url(self) -> str:
        """``<pod>/ess/rest/scheduler/v1/requests`` (the ESS scheduler REST API, outside ``fscmRestApi``)."""
        return f"{self.pod_url}/{ESS_SCHEDULER_REQUESTS}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret values held, for scrubbing messages."""
        return tuple(s for s in (self.client_secret, self.password) if s)

    @property
    def timeouts(self) -> tuple[float, float]:
        """``(connect, read)`` seconds of each HTTP request: connecting takes at most 10 s."""
        return (min(10.0, self.timeout), self.timeout)

    def auth_provider(self) -> AuthProvider:
        """The auth that signs API requests: HTTP Basic, or a client-credentials token provider
        (whose token requests use :attr:`timeouts` too)."""
        if self.auth_type == "basic":
            return BasicAuth(str(self.username), str(self.password))
        return OAuth2ClientCredentials(
            str(self.token_url),
            str(self.client_id),
            str(self.client_secret),
            scope=self.scope,
            client_auth=self.client_auth,
            timeout=self.timeouts,
        )

    @classmethod
    def from_airflow(cls, conn: Connection) -> FusionConnectionSettings:
        """Read an Airflow connection, registering its secrets with the secret masker first.

        Airflow masks the password and extras named like secrets when it loads a connection;
        they are masked here too, whatever path the connection came from. The client id is not a
        secret and stays readable in logs.

        :param conn: the ``oracle_fusion`` connection.
        :raises ValueError: a setting is missing or invalid (see :meth:`from_connection`).
        """
        extra = conn.extra_dejson
        for secret in (_blank_to_none(extra.get("client_secret")), _blank_to_none(conn.password)):
            register_secret(str(secret) if secret else None)
        return cls.from_connection(
            host=conn.host, port=conn.port, login=conn.login, password=conn.password, extra=extra
        )

    @classmethod
    def from_connection(
        cls,
        *,
        host: str | None,
        port: int | None = None,
        login: str | None = None,
        password: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> FusionConnectionSettings:
        """Read and validate the settings of an Airflow connection.

        :param host: ``conn.host``.
        :param port: ``conn.port``.
        :param login: ``conn.login``.
        :param password: ``conn.password``.
        :param extra: ``conn.extra_dejson``.
        :raises ValueError: a setting is missing or invalid (the message names it, never a secret).
        """
        extras = {key: _blank_to_none(value) for key, value in (extra or {}).items()}
        login = _blank_to_none(login)
        password = _blank_to_none(password)
        client_id = extras.get("client_id")
        auth_type = extras.get("auth_type")
        if auth_type is None:
            auth_type = "basic" if client_id is None and login is not None else "oauth2_client_credentials"
        if auth_type not in ("oauth2_client_credentials", "basic"):
            raise ValueError(
                f"extra 'auth_type' must be 'oauth2_client_credentials' or 'basic', got {auth_type!r}"
            )
        chosen_auth: AuthType = "basic" if auth_type == "basic" else "oauth2_client_credentials"
        raw_version = 4 if extras.get("rest_framework_version") is None else extras["rest_framework_version"]
        try:
            version = int(raw_version)
        except (TypeError, ValueError):
            raise ValueError(f"extra 'rest_framework_version' must be 1 to 9, got {raw_version!r}") from None
        if not 1 <= version <= 9:
            raise ValueError(f"extra 'rest_framework_version' must be 1 to 9, got {raw_version!r}")
        raw_timeout = 60 if extras.get("timeout") is None else extras["timeout"]
        try:
            timeout = float(raw_timeout)
        except (TypeError, ValueError):
            raise ValueError(f"extra 'timeout' must be a number of seconds, got {raw_timeout!r}") from None
        if not math.isfinite(timeout) or timeout <= 0:
            raise ValueError(f"extra 'timeout' must be a positive number of seconds, got {raw_timeout!r}")
        raw_client_auth = extras.get("client_auth") or "basic"
        if raw_client_auth not in ("basic", "post"):
            raise ValueError(f"extra 'client_auth' must be 'basic' or 'post', got {raw_client_auth!r}")
        client_auth: Literal["basic", "post"] = "post" if raw_client_auth == "post" else "basic"
        raw_descendants = str(extras.get("ess_descendants") or "auto").strip().lower()
        if raw_descendants not in DESCENDANT_SOURCES:
            raise ValueError(
                f"extra 'ess_descendants' must be one of {', '.join(DESCENDANT_SOURCES)}, got {raw_descendants!r}"
            )
        descendants = cast("DescendantSource", raw_descendants)
        try:
            # Only a 429 is known to mean "not processed" on a Fusion pod: a 503 also comes from
            # the edge in front of it (maintenance, overload; contract A6, B8), possibly after the pod
            # acted, so a non-idempotent POST (importBulkData, a create) is not repeated on a 503.
            retry = RetryPolicy.from_mapping({"retry_unprocessed_statuses": "429", **extras})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid retry extras: {exc}") from None
        settings = cls(
            pod_url=_pod_url(_blank_to_none(host), port),
            auth_type=chosen_auth,
            rest_framework_version=version,
            timeout=timeout,
            retry=retry,
            api_version=str(extras.get("api_version") or "11.13.18.05"),
            token_url=extras.get("token_url"),
            client_id=None if client_id is None else str(client_id),
            client_secret=None if extras.get("client_secret") is None else str(extras["client_secret"]),
            scope=extras.get("scope"),
            client_auth=client_auth,
            username=login,
            password=password,
            test_resource=str(extras.get("test_resource") or "receivablesCustomerAccountSiteActivities"),
            ess_descendants=descendants,
        )
        settings._check_auth()
        return settings

    def _check_auth(self) -> None:
        if self.auth_type == "basic":
            if not self.username or not self.password:
                raise ValueError("basic auth needs the connection's login and password")
            return
        missing = [
            name
            for name, value in (
                ("token_url", self.token_url),
                ("client_id", self.client_id),
                ("client_secret", self.client_secret),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"OAuth 2.0 client credentials need the extra(s) {', '.join(missing)}")
        if urlsplit(str(self.token_url)).scheme not in ("http", "https"):
            raise ValueError("extra 'token_url' must be an http(s) URL")
