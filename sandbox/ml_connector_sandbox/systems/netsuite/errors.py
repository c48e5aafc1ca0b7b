"""NetSuite's REST error envelope (contract B8) as exceptions routes raise."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from ml_connector_sandbox.auth import ResponseError

__all__ = [
    "CONCURRENCY_DETAIL_LONG",
    "CONCURRENCY_DETAIL_SHORT",
    "INVALID_LOGIN_DETAIL",
    "NetSuiteError",
    "error_body",
]

_TYPES: dict[int, tuple[str, str]] = {
    400: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1", "Bad Request"),
    401: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2", "Unauthorized"),
    403: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.4", "Forbidden"),
    404: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.5", "Not Found"),
    405: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.6", "Method Not Allowed"),
    429: ("https://www.rfc-editor.org/rfc/rfc6585.html#section-4", "Too Many Requests"),
    500: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.1", "Internal Server Error"),
}

INVALID_LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)
"""The 401 detail of B8."""
CONCURRENCY_DETAIL_SHORT = "Concurrent request limit exceeded. Request blocked."
"""The older concurrency detail of B8."""
CONCURRENCY_DETAIL_LONG = (
    "Concurrent request limit exceeded. Request blocked. Verify your concurrency limits at "
    "Setup > Integration > Integration Management > Integration Governance."
)
"""The newer concurrency detail of B8."""


def error_body(
    status: int,
    code: str,
    detail: str,
    *,
    path: str | None = None,
    url_path: str | None = None,
    query_param: str | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """The B8 envelope: ``type``, ``title``, ``status`` and one ``o:errorDetails`` entry."""
    type_url, default_title = _TYPES.get(status, _TYPES[400 if status < 500 else 500])
    entry: dict[str, Any] = {"detail": detail, "o:errorCode": code}
    if path is not None:
        entry["o:errorPath"] = path
    if url_path is not None:
        entry["o:urlPath"] = url_path
    if query_param is not None:
        entry["o:errorQueryParam"] = query_param
    return {"type": type_url, "title": title or default_title, "status": status, "o:errorDetails": [entry]}


class NetSuiteError(ResponseError):
    """Raise from a route to answer with NetSuite's error envelope (B8).

    :param status: HTTP status.
    :param code: ``o:errorCode`` (``USER_ERROR``, ``INVALID_KEY_OR_REF``, ``NONEXISTENT_ID`` …).
    :param detail: the human text.
    :param path: ``o:errorPath``, the JSON path of the offending body field.
    :param headers: extra response headers.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        path: str | None = None,
        url_path: str | None = None,
        query_param: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        self.detail_text = detail
        body = error_body(
            status, code, detail, path=path, url_path=url_path, query_param=query_param, title=title
        )
        super().__init__(JSONResponse(body, status_code=status, headers=headers))
