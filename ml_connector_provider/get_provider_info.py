"""Provider metadata read by Airflow's provider discovery.

Airflow calls :func:`get_provider_info` through the ``apache_airflow_provider`` entry point. The
dictionary it returns follows ``airflow/provider_info.schema.json``; the connection types carry
their form fields declaratively (``conn-fields`` and ``ui-field-behaviour``), so the connection
form is built without importing any hook.

The dictionary is written by hand; keep it in step with the modules of the package. A connection
type is registered only together with its hook class, and only modules that exist are listed: the
unit tests import every hook class and every listed module, and run ``airflow providers hooks``.
"""

from __future__ import annotations

from typing import Any

_DOCS = "https://github.com/ml-connector/ml-connector/tree/main/docs"

_STRING: dict[str, Any] = {"type": ["string", "null"]}


def _string(**extra: Any) -> dict[str, Any]:
    return {**_STRING, **extra}


def _secret(**extra: Any) -> dict[str, Any]:
    return {**_STRING, "format": "password", **extra}


def _timeout(default: int) -> dict[str, Any]:
    return {"type": ["integer", "null"], "default": default, "minimum": 1, "maximum": 600}


_ORACLE_FUSION: dict[str, Any] = {
    "connection-type": "oracle_fusion",
    "hook-class-name": "ml_connector_provider.hooks.oracle_fusion.OracleFusionHook",
    "hook-name": "Oracle Fusion Cloud ERP",
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port"],
        "relabeling": {
            "host": "Pod URL",
            "login": "Username (basic auth only)",
            "password": "Password (basic auth only)",
        },
        "placeholders": {
            "host": "https://<pod>.fa.<region>.oraclecloud.com",
            "login": "integration.user",
        },
    },
    "conn-fields": {
        "auth_type": {
            "label": "Authentication",
            "description": "OAuth 2.0 client credentials against the IAM identity domain (recommended), "
            "or HTTP basic auth with the username and password above.",
            "schema": _string(
                enum=["oauth2_client_credentials", "basic"],
                default="oauth2_client_credentials",
            ),
        },
        "token_url": {
            "label": "Token URL",
            "description": "Token endpoint of the identity domain (OAuth 2.0 only).",
            "schema": _string(format="url"),
        },
        "client_id": {
            "label": "Client ID",
            "description": "Client id of the confidential application (OAuth 2.0 only).",
            "schema": _string(),
        },
        "client_secret": {
            "label": "Client secret",
            "description": "Client secret of the confidential application (OAuth 2.0 only).",
            "schema": _secret(),
        },
        "scope": {
            "label": "Scope",
            "description": "Fusion resource audience followed by the scope, e.g. "
            "urn:opc:resource:fa:instanceid=1234567urn:opc:resource:consumer::all",
            "schema": _string(),
        },
        "rest_framework_version": {
            "label": "REST framework version",
            "description": "Value of the REST-Framework-Version header. 2+ enables the expression "
            "filter syntax, 4+ returns detailed JSON error payloads.",
            # A number, not a string: Airflow registers every string extra with the secret masker,
            # which logs a warning in each task for a value shorter than 5 characters.
            "schema": {"type": ["integer", "null"], "default": 4, "minimum": 1, "maximum": 9},
        },
        "timeout": {
            "label": "Timeout (s)",
            "description": "Timeout of one HTTP request, in seconds.",
            "schema": _timeout(60),
        },
        "ess_descendants": {
            "label": "ESS descendants",
            "description": "How the requests an import spawns (Import Journals and its child) are found: "
            "execution_details (erpintegrations finder ESSExecutionDetailsRF), scheduler (ESS scheduler REST "
            "API /ess/rest/scheduler/v1/requests, same credentials) or auto (the first, then the second); "
            "empty means auto.",
            # No "auto" default: Airflow registers every string extra with the secret masker, which
            # warns in each task about a value shorter than 5 characters; empty means auto.
            "schema": _string(enum=["auto", "execution_details", "scheduler"]),
        },
    },
}

_STRIPE: dict[str, Any] = {
    "connection-type": "stripe",
    "hook-class-name": "ml_connector_provider.hooks.stripe.StripeHook",
    "hook-name": "Stripe",
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port", "login", "host"],
        "relabeling": {"password": "Secret API key"},
        "placeholders": {"password": "sk_live_… or rk_live_…"},
    },
    "conn-fields": {
        "account_id": {
            "label": "Connected account",
            "description": "Stripe-Account to act on (Connect platforms only).",
            "schema": _string(pattern="^(acct_[A-Za-z0-9]+)?$"),
        },
        "webhook_secret": {
            "label": "Webhook signing secret",
            "description": "whsec_… secret of the webhook endpoint, used to verify Stripe-Signature.",
            "schema": _secret(),
        },
        "api_version": {
            "label": "API version",
            "description": "Stripe-Version to pin; empty uses the version of the installed SDK.",
            "schema": _string(),
        },
        "api_base": {
            "label": "API base URL",
            "description": "Override of https://api.stripe.com, e.g. a local test server.",
            "schema": _string(format="url"),
        },
        "max_network_retries": {
            "label": "Max network retries",
            "description": "Retries of the Stripe SDK on network errors, 409, 429 and 5xx.",
            "schema": {"type": ["integer", "null"], "default": 2, "minimum": 0, "maximum": 10},
        },
        "timeout": {
            "label": "Timeout (s)",
            "description": "Read timeout of one Stripe request.",
            "schema": {"type": ["integer", "null"], "default": 80, "minimum": 1, "maximum": 600},
        },
        "rate_limit": {
            "label": "Rate limit (requests/s)",
            "description": (
                "Stripe's limit for this account; the hook paces every request below it. Empty: 25 for "
                "test keys, 100 for live keys; 0 turns pacing off. Split it between worker processes."
            ),
            "schema": {"type": ["number", "null"], "minimum": 0},
        },
        "search_rate_limit": {
            "label": "Search rate limit (requests/s)",
            "description": "Stripe's limit on search requests; empty: 20; 0 leaves them to the rate limit.",
            "schema": {"type": ["number", "null"], "minimum": 0},
        },
        "rate_limit_utilization": {
            "label": "Rate limit utilization",
            "description": "Share of both limits the hook paces at (empty: 0.92).",
            "schema": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1},
        },
    },
}

_NETSUITE: dict[str, Any] = {
    "connection-type": "netsuite",
    "hook-class-name": "ml_connector_provider.hooks.netsuite.NetSuiteHook",
    "hook-name": "Oracle NetSuite",
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port", "host", "password"],
        "relabeling": {"login": "Client ID"},
        "placeholders": {"login": "Client ID of the integration record"},
    },
    "conn-fields": {
        "account_id": {
            "label": "Account ID",
            "description": "The NetSuite account, e.g. 1234567 or 1234567_SB1 for a sandbox.",
            "schema": _string(pattern="^[A-Za-z0-9]+([_-][A-Za-z0-9]+)*$"),
        },
        "certificate_id": {
            "label": "Certificate ID",
            "description": "Certificate ID of the OAuth 2.0 client credentials (M2M) mapping; sent as the JWT kid.",
            "schema": _string(),
        },
        "private_key": {
            "label": "Private key (PEM)",
            "description": "PEM private key of the certificate uploaded in the mapping (RSA 3072/4096 bits "
            "for PS256, EC P-256 for ES256). Leave empty when a key file is given.",
            "schema": _secret(),
        },
        "private_key_file": {
            "label": "Private key file",
            "description": "Path of the PEM private key on the workers, instead of the key itself.",
            "schema": _string(),
        },
        "private_key_passphrase": {
            "label": "Private key passphrase",
            "description": "Passphrase of an encrypted PEM key.",
            "schema": _secret(),
        },
        "algorithm": {
            "label": "Signing algorithm",
            "description": "Algorithm of the client assertion; NetSuite no longer accepts RS256.",
            "schema": _string(enum=["PS256", "PS384", "PS512", "ES256", "ES384", "ES512"], default="PS256"),
        },
        "scope": {
            "label": "Scope",
            "description": "Scopes of the token, comma-separated; must include rest_webservices.",
            "schema": _string(default="rest_webservices"),
        },
        "base_url": {
            "label": "Base URL",
            "description": "Override of https://<account>.suitetalk.api.netsuite.com, e.g. a local test server.",
            "schema": _string(format="url"),
        },
        "concurrency": {
            "label": "Concurrency",
            "description": "Requests in flight at once for this account from one worker process (NetSuite "
            "limits concurrent requests per account; default 5). Leave room for other integrations.",
            "schema": {"type": ["integer", "null"], "default": 5, "minimum": 1, "maximum": 1000},
        },
        "timeout": {
            "label": "Timeout (s)",
            "description": "Timeout of one HTTP request, in seconds.",
            "schema": _timeout(60),
        },
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider metadata Airflow's provider discovery reads.

    :return: a dictionary valid against ``airflow/provider_info.schema.json``.
    """
    return {
        "package-name": "ml-connector-provider",
        "name": "ML Connector",
        "description": "Keeps finance systems in sync: Oracle Fusion ERP with Stripe and with "
        "Stampli (SFTP), and Stripe with Oracle NetSuite.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "ML Connector",
                "external-doc-url": _DOCS,
                "tags": ["software"],
            },
            {
                "integration-name": "Oracle Fusion",
                "external-doc-url": "https://docs.oracle.com/en/cloud/saas/financials/",
                "tags": ["service"],
            },
            {
                "integration-name": "Stripe",
                "external-doc-url": "https://docs.stripe.com/api",
                "tags": ["service"],
            },
            {
                "integration-name": "Stampli (SFTP)",
                "external-doc-url": "https://www.stampli.com/",
                "tags": ["service", "protocol"],
            },
            {
                "integration-name": "Oracle NetSuite",
                "external-doc-url": "https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/",
                "tags": ["service"],
            },
        ],
        "hooks": [
            {
                "integration-name": "Oracle Fusion",
                "python-modules": ["ml_connector_provider.hooks.oracle_fusion"],
            },
            {"integration-name": "Stripe", "python-modules": ["ml_connector_provider.hooks.stripe"]},
            {"integration-name": "Stampli (SFTP)", "python-modules": ["ml_connector_provider.hooks.stampli"]},
            {
                "integration-name": "Oracle NetSuite",
                "python-modules": ["ml_connector_provider.hooks.netsuite"],
            },
        ],
        "operators": [
            {
                "integration-name": "ML Connector",
                "python-modules": ["ml_connector_provider.operators.sync"],
            },
        ],
        "sensors": [
            {"integration-name": "Stripe", "python-modules": ["ml_connector_provider.sensors.stripe"]},
            {
                "integration-name": "Stampli (SFTP)",
                "python-modules": ["ml_connector_provider.sensors.stampli"],
            },
        ],
        "triggers": [
            {"integration-name": "Stripe", "python-modules": ["ml_connector_provider.triggers.stripe"]},
            {
                "integration-name": "Stampli (SFTP)",
                "python-modules": ["ml_connector_provider.triggers.stampli"],
            },
        ],
        "connection-types": [_ORACLE_FUSION, _STRIPE, _NETSUITE],
        "config": {
            "ml_connector": {
                "description": "Settings of the ml-connector provider.",
                "options": {
                    "tenant_config_path": {
                        "description": "Path of the tenant YAML file read by the ml-connector DAG file. "
                        "The ML_CONNECTOR_CONFIG environment variable takes precedence; when neither is "
                        "set, tenants.yaml next to the DAG file is used.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/opt/airflow/dags/tenants.yaml",
                        "default": None,
                    },
                    "ledger_conn_id": {
                        "description": "Airflow connection naming the ledger database, used when the "
                        "tenant file does not set defaults.ledger_conn_id.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "ml_connector_ledger",
                        "default": "ml_connector_ledger",
                    },
                },
            },
        },
        "plugins": [
            {"name": "ml_connector", "plugin-class": "ml_connector_provider.plugins.MlConnectorPlugin"},
        ],
    }
