"""Every answer shape Oracle Fusion, or something in front of it, can give ends in a typed error
that names Oracle Fusion, the resource and the status, with a short readable excerpt — over real
HTTP against the Fusion stand-in, the answers injected with its fault injector.

Error statuses (contract A6: 401 for bad credentials, 403 without privilege, 404 text/plain for an
unknown item, 400/4xx text/plain by default and the ``o:errorDetails`` JSON with framework 4, 429
or 503 when throttled, "sometimes with HTML body") are answered with each body a pod or a gateway
may send. Successful statuses are answered with bodies that break the collection envelope of A4.1
(``items``, ``count``, ``hasMore``).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from ml_connector_sandbox import FaultRule, SandboxClient
from ml_connector_sandbox.systems.fusion import BASIC_PASSWORD, CLIENT_SECRET, FusionSandbox

from ml_connector_provider.hooks.oracle_fusion import (
    FusionApiError,
    FusionBadRequest,
    FusionResponseError,
    OracleFusionHook,
)
from ml_connector_provider.transport import AuthError, RetryExhausted, TransportError
from tests.integration.fusion.conftest import CUSTOMERS, CUSTOMERS_PATH, NOTES, REST

ITEM = 300000047112001
COLLECTION = f"^{CUSTOMERS_PATH}$"
ANY_REST_CALL = f"^{REST}/"

REASONS = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
HTML = (
    "<!DOCTYPE html><html><head><title>{status} {reason}</title><style>body{{color:red}}</style></head>"
    "<body><center><h1>{status} {reason}</h1></center><hr><center>nginx</center>"
    "<script>var trace = 'x';</script></body></html>"
)
BODIES: dict[str, Any] = {
    "html": HTML,
    "plain-text": "{reason}: the request could not be completed",
    "empty": None,
    "foreign-json": {"error": "{reason}", "error_description": "upstream said {reason}"},
    "fusion-json": {
        "title": "{reason}",
        "status": "{status}",
        "o:errorDetails": [{"detail": "Fusion says {reason}", "o:errorCode": "E{status}"}],
    },
}

# What each call raises for each status (None: the call answers None, the item is missing).
RETRIED = {429, 502, 503, 504}  # the transport's default retry statuses
UNPROCESSED = {429}  # retried even for a POST (a 503 may come from the edge after the pod acted)


def _expected(call: str, status: int, body: str) -> type[Exception] | None:
    if status == 401:
        return AuthError
    writes = call in ("create", "action")
    if status in (UNPROCESSED if writes else RETRIED):
        return RetryExhausted
    if call == "get" and status == 404 and body != "html":
        return None  # Fusion's own 404 (text, JSON or empty): no such item
    return FusionApiError


def _body(template: Any, status: int) -> Any:
    reason = REASONS[status]
    if isinstance(template, str):
        return template.format(status=status, reason=reason)
    if isinstance(template, dict):
        return {name: _body(value, status) for name, value in template.items()}
    if isinstance(template, list):
        return [_body(value, status) for value in template]
    return template


def _call(hook: OracleFusionHook, call: str) -> Any:
    if call == "list":
        return list(hook.iter_collection(CUSTOMERS))
    if call == "get":
        return hook.get_item(CUSTOMERS, ITEM)
    if call == "create":
        return hook.create_item(NOTES, {"NoteNumber": "WN-FAULT", "Subject": "blocked"})
    return hook.post_action(NOTES, "countByStatus", {"status": "Open"})


def _resource(call: str) -> str:
    return CUSTOMERS if call in ("list", "get") else NOTES


def _assert_readable(message: str) -> None:
    assert "<" not in message, message  # no markup
    assert ">" not in message.replace("->", ""), message
    assert "var trace" not in message  # no script or style
    assert "color:red" not in message
    assert CLIENT_SECRET not in message
    assert BASIC_PASSWORD not in message
    assert "Bearer" not in message


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("status", sorted(REASONS))
@pytest.mark.parametrize("call", ["list", "get", "create", "action"])
def test_error_answers_become_typed_errors_naming_fusion(
    hook: OracleFusionHook, fusion: FusionSandbox, call: str, status: int, body: str
) -> None:
    answer = _body(BODIES[body], status)
    fusion.faults.add(FaultRule.error(status, path=ANY_REST_CALL, body=answer, times=None))
    expected = _expected(call, status, body)

    if expected is None:
        assert _call(hook, call) is None
        return
    with pytest.raises(expected) as caught:
        _call(hook, call)

    error = caught.value
    message = str(error)
    resource = _resource(call)
    if expected is FusionApiError:
        assert not isinstance(error, FusionBadRequest)
        assert isinstance(error, FusionApiError)
        assert (error.resource, error.status) == (resource, status)
        assert message.startswith("Oracle Fusion ")
        assert f" {resource} with HTTP {status}" in message
    else:
        assert isinstance(error, TransportError)
        assert message.startswith(
            f"Oracle Fusion, {'GET' if call in ('list', 'get') else 'POST'} {resource}: "
        )
        assert f"HTTP {status}" in message
    if isinstance(error, RetryExhausted):
        assert (error.status, error.attempts) == (status, 4)
    if isinstance(error, AuthError):
        assert error.status == 401
    # A readable excerpt of what was answered: the reason phrase (the body's, or the status line's;
    # the transport's message for a 401 names the status only).
    if not (status == 401 and answer is None):
        assert REASONS[status] in message
    if body == "fusion-json" and expected is FusionApiError:
        assert f"Fusion says {REASONS[status]}" in message
        assert error.error_codes == (f"E{status}",)  # type: ignore[attr-defined]
    _assert_readable(message)
    assert len(message) < 600


def test_a_long_html_page_is_cut_and_hides_what_it_echoes(
    hook: OracleFusionHook, fusion: FusionSandbox
) -> None:
    # An error page that echoes the request (credentials included) and goes on for pages.
    page = (
        "<html><head><title>Forbidden</title></head><body><h1>Access denied</h1>"
        f"<pre>Authorization: Bearer eyJhbGciOi.secret.token\nclient_secret={CLIENT_SECRET}\n"
        f"password: {BASIC_PASSWORD}</pre>" + "<p>lorem ipsum dolor</p>" * 500 + "</body></html>"
    )
    fusion.faults.add(FaultRule.error(403, path=ANY_REST_CALL, body=page, times=None))
    with pytest.raises(FusionApiError) as caught:
        list(hook.iter_collection(CUSTOMERS))
    message = str(caught.value)
    assert message.startswith(
        f"Oracle Fusion rejected GET {CUSTOMERS} with HTTP 403: Forbidden: Access denied"
    )
    assert "eyJhbGciOi" not in message
    assert CLIENT_SECRET not in message
    assert len(message) <= 400
    assert message.endswith("…")


def test_a_gateway_404_on_an_item_is_not_a_missing_item(
    hook: OracleFusionHook, fusion: FusionSandbox
) -> None:
    # Fusion's own 404 (text/plain) means the item is not there ...
    assert hook.get_item(CUSTOMERS, 1) is None
    assert hook.delete_item(NOTES, 1) is False
    # ... an HTML page says nothing about the item.
    fusion.faults.add(FaultRule.error(404, path=ANY_REST_CALL, body=_body(HTML, 404), times=None))
    with pytest.raises(FusionApiError, match=r"HTTP 404 and an HTML page, not Fusion's answer"):
        hook.get_item(CUSTOMERS, ITEM)
    with pytest.raises(FusionApiError, match=r"DELETE workNotes with HTTP 404 and an HTML page"):
        hook.delete_item(NOTES, 1)


# -- successful statuses whose body breaks the REST contract ------------------------------------------

PAGE = {"count": 5, "hasMore": True, "limit": 5, "offset": 5, "links": []}
ROW = {"BillToSiteUseId": 1, "AccountNumber": "1001"}
BROKEN_PAGES: dict[str, tuple[Any, str]] = {
    "html": (
        "<html><head><title>Sign In</title></head><body><form>Oracle Applications Cloud</form></body></html>",
        r"with HTTP 200 but the body is not JSON \(text/plain.*\): Sign In: Oracle Applications Cloud",
    ),
    "text": ("Service is under maintenance", r"is not JSON \(text/plain.*\): Service is under maintenance"),
    "empty": ("", r"is not JSON \(text/plain.*\): \(empty body\)"),
    "json-array": ([ROW], r"is not a JSON object \(it is an array: "),
    "json-string": ('"ok"', r"is not JSON|is not a JSON object"),
    "no-items": ({"hasMore": False, "count": 0}, r"has no list of items \(no items; keys: count, hasMore\)"),
    "items-null": ({**PAGE, "items": None}, r"has no list of items \(items is null\)"),
    "items-object": ({**PAGE, "items": {"0": ROW}}, r"has no list of items \(items is an object\)"),
    "items-string": ({**PAGE, "items": "[]"}, r"has no list of items \(items is a string\)"),
    "item-not-object": (
        {**PAGE, "items": [ROW, 7]},
        r"has an item that is not an object \(item 1 is a number: 7\)",
    ),
    "item-null": ({**PAGE, "items": [None]}, r"item 0 is null"),
    "has-more-missing": ({"items": [ROW], "count": 1}, r"has no boolean hasMore \(hasMore is null"),
    "has-more-string": (
        {**PAGE, "items": [ROW], "hasMore": "true"},
        r"has no boolean hasMore \(hasMore is a string",
    ),
    "count-string": (
        {**PAGE, "items": [ROW], "count": "1"},
        r"count that is not a whole number \(count is a string: \"1\"\)",
    ),
    "count-float": ({**PAGE, "items": [ROW], "count": 1.5}, r"count is a number: 1.5"),
    "count-negative": ({**PAGE, "items": [ROW], "count": -1}, r"count is a number: -1"),
    "has-more-empty": ({**PAGE, "items": [], "count": 0}, r"hasMore=true with no items for .* at offset 5"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_PAGES))
def test_a_broken_page_names_the_resource_and_the_offset(
    hook: OracleFusionHook, fusion: FusionSandbox, admin: SandboxClient, case: str
) -> None:
    body, pattern = BROKEN_PAGES[case]
    content_type = "text/plain" if isinstance(body, str) and not body.startswith('"') else None
    if case == "json-string":
        content_type = "application/json"
    # The first page is Fusion's own; the second (offset 5) is broken, forever.
    fusion.faults.add(
        FaultRule.error(
            200,
            path=COLLECTION,
            query=r"(^|&)offset=5(&|$)",
            body=body,
            content_type=content_type,
            times=None,
        )
    )
    pages = hook.iter_collection(CUSTOMERS, page_size=5)
    assert len(next(pages)) == 5
    with pytest.raises(FusionResponseError) as caught:
        next(pages)
    message = str(caught.value)
    assert re.search(pattern, message), message
    assert CUSTOMERS in message
    assert "offset 5" in message
    _assert_readable(message)
    assert len(message) < 400
    # No loop: one request for each page, the broken one asked for once.
    assert len(admin.request_log(method="GET", path=COLLECTION)) == 2


@pytest.mark.parametrize(
    ("call", "body", "pattern"),
    [
        ("get", "<html><body>Loading…</body></html>", rf"answered GET {CUSTOMERS} .*not JSON"),
        ("get", [1, 2], rf"answer for {CUSTOMERS} is not a JSON object \(it is an array"),
        (
            "create",
            "<html><body>Created</body></html>",
            r"answered POST workNotes with HTTP 201 but the body is not JSON",
        ),
        (
            "action",
            "<html><body>Done</body></html>",
            r"answered POST workNotes with HTTP 200 but the body is not JSON",
        ),
    ],
)
def test_a_success_that_is_not_json_is_a_response_error(
    hook: OracleFusionHook, fusion: FusionSandbox, call: str, body: Any, pattern: str
) -> None:
    status = 201 if call == "create" else 200
    fusion.faults.add(FaultRule.error(status, path=ANY_REST_CALL, body=body, times=None))
    with pytest.raises(FusionResponseError, match=pattern) as caught:
        _call(hook, call)
    _assert_readable(str(caught.value))
