"""Read-only probes of an Oracle Fusion pod for what an integration's streams use: ``ml-connector check``.

Each integration declares what its streams ask of Fusion as a list of :class:`FusionNeed` (the
resource, the attributes read, the attributes filtered and sorted on, the children expanded, the
finders, whether rows are read by ``LastUpdateDate`` window, whether look-ups use ``in (…)`` lists,
whether the stream writes). :func:`check_fusion` then probes the pod with GETs only — nothing is
created, changed or submitted — and returns one :class:`~ml_connector_provider.checks.CheckResult`
per finding:

* ``fusion.auth`` — the token endpoint issues a token (OAuth 2.0: ``invalid_scope`` and
  ``invalid_client`` are named with the fix), or the API accepts the Basic credentials;
* ``fusion.api_version`` — the REST API version of the connection is served;
* ``fusion.clock_skew`` — the pod's ``Date`` header against this machine's clock;
* ``fusion.page_size`` — the largest page the pod returns (500, or 499 on some pods: UNCONFIRMED);
* ``fusion.resource.<name>`` — the resource answers and the integration user may read it;
* ``fusion.describe.<name>`` — every attribute read or filtered on exists (and is queryable where
  filtered on), every child and finder exists (from ``<resource>/describe``, contract A4.2);
* ``fusion.changes.<name>`` — a ``LastUpdateDate`` window filter is accepted and the answer is
  inside the window and in ``LastUpdateDate`` order (what incremental reads rely on);
* ``fusion.in_filter.<name>`` — an ``in (…)`` list is accepted in ``q`` (framework version 2 and
  later; version 1 has no ``in`` and looks values up one per query);
* ``fusion.quoted_text`` — a text value holding ``'`` is accepted in ``q`` with the quote doubled
  (how a quote inside a literal is written is UNCONFIRMED);
* ``fusion.connect`` — only when the pod or its token endpoint cannot be reached at all (or the
  connection cannot be used: missing, or not an ``oracle_fusion`` connection).

:func:`undeclared_requests` compares the requests a run sent (e.g. a stand-in's request log)
with the declared needs, so a stream that starts to use something undeclared fails a test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from ml_connector_provider.checks import CheckResult, CheckStatus, unusable_connection

if TYPE_CHECKING:
    import requests

    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook

__all__ = [
    "CLOCK_SKEW_FAIL",
    "CLOCK_SKEW_WARN",
    "FusionNeed",
    "check_fusion",
    "merge_needs",
    "undeclared_requests",
]

#: Seconds of clock difference reported as a warning.
CLOCK_SKEW_WARN = 60.0
#: Seconds of clock difference reported as a failure: the default ``sync.overlap`` (600 s), beyond
#: which rows the pod stamps behind our clock can fall into a window that was already read.
CLOCK_SKEW_FAIL = 600.0
#: The page size the client asks for.
PAGE_SIZE = 500
#: A value no key has, for an ``in`` probe on an empty collection.
_NO_SUCH_VALUE = "ml-connector check probe"


@dataclass(frozen=True)
class FusionNeed:
    """What one stream asks of one Fusion resource.

    :param resource: the REST resource, e.g. ``receivablesInvoices``.
    :param used_by: the stream (or writer) that needs it, for messages: ``invoices``.
    :param key: the resource's key attribute (read, and the tie-breaker of ordered reads).
    :param attributes: attributes read from the answers.
    :param queryable: attributes used in ``q`` or ``orderBy`` (must be queryable).
    :param children: child collections expanded or read.
    :param finders: finders called.
    :param changed_since: rows are read by a ``LastUpdateDate`` window, ordered by it.
    :param in_lists: look-ups use ``in (…)`` lists in ``q`` (framework version 2 and later).
    :param writes: the stream creates or changes items of the resource.
    :param optional: attributes read when present, whose names are UNCONFIRMED; a pod without
        them is a warning (the stream works, with less).
    :param child_attributes: ``(child, attribute)`` pairs read from the rows of a child.
    """

    resource: str
    used_by: str
    key: str | None = None
    attributes: tuple[str, ...] = ()
    queryable: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    finders: tuple[str, ...] = ()
    changed_since: bool = False
    in_lists: bool = False
    writes: bool = False
    optional: tuple[str, ...] = ()
    child_attributes: tuple[tuple[str, str], ...] = ()

    def all_queryable(self) -> tuple[str, ...]:
        """The attributes filtered or sorted on, ``LastUpdateDate`` and the key included when
        rows are read by window."""
        extra = ("LastUpdateDate", self.key) if self.changed_since and self.key else ()
        return tuple(dict.fromkeys((*self.queryable, *extra)))


@dataclass
class _Merged:
    resource: str
    used_by: list[str] = field(default_factory=list)
    key: str | None = None
    attributes: dict[str, None] = field(default_factory=dict)
    queryable: dict[str, None] = field(default_factory=dict)
    children: dict[str, None] = field(default_factory=dict)
    finders: dict[str, None] = field(default_factory=dict)
    optional: dict[str, None] = field(default_factory=dict)
    child_attributes: dict[tuple[str, str], None] = field(default_factory=dict)
    changed_since: bool = False
    in_lists: bool = False
    writes: bool = False

    def as_need(self) -> FusionNeed:
        return FusionNeed(
            resource=self.resource,
            used_by=", ".join(dict.fromkeys(self.used_by)),
            key=self.key,
            attributes=tuple(self.attributes),
            queryable=tuple(self.queryable),
            children=tuple(self.children),
            finders=tuple(self.finders),
            changed_since=self.changed_since,
            in_lists=self.in_lists,
            writes=self.writes,
            optional=tuple(self.optional),
            child_attributes=tuple(self.child_attributes),
        )


def merge_needs(needs: Iterable[FusionNeed]) -> list[FusionNeed]:
    """One need per resource (in first-seen order), uniting what every stream asks of it."""
    merged: dict[str, _Merged] = {}
    for need in needs:
        entry = merged.setdefault(need.resource, _Merged(need.resource))
        entry.used_by.append(need.used_by)
        entry.key = entry.key or need.key
        for target, values in (
            (entry.attributes, need.attributes),
            (entry.queryable, need.all_queryable()),
            (entry.children, need.children),
            (entry.finders, need.finders),
            (entry.optional, need.optional),
        ):
            target.update(dict.fromkeys(values))
        entry.child_attributes.update(dict.fromkeys(need.child_attributes))
        entry.changed_since |= need.changed_since
        entry.in_lists |= need.in_lists
        entry.writes |= need.writes
    return [entry.as_need() for entry in merged.values()]


# -- probes ------------------------------------------------------------------------------------


def check_fusion(
    hook: OracleFusionHook, needs: Sequence[FusionNeed], *, now: datetime | None = None
) -> list[CheckResult]:
    """Probe the pod read-only for everything ``needs`` declares.

    :param hook: the tenant's Fusion hook.
    :param needs: what the tenant's enabled streams use (merged per resource here).
    :param now: this machine's time (for the clock-skew probe; default: the current time).
    :returns: the findings, authentication first; when the pod cannot be reached, or
        authentication or the API version fails, only those (nothing else can be probed).
    """
    from ml_connector_provider.transport import AuthError, TransportError

    results: list[CheckResult] = []
    try:
        hook.settings  # noqa: B018 - reads the connection: a missing or unusable one is the only finding
    except Exception as error:  # noqa: BLE001 - any reason the connection cannot be used is reported
        return [unusable_connection("fusion.connect", hook.oracle_fusion_conn_id, hook.conn_type, error)]
    try:
        _probe_all(hook, needs, now, results)
    except AuthError as exc:  # refused later on (a token the API no longer accepts)
        results.append(_auth_failed(exc, hook.settings.auth_type, scope=hook.settings.scope))
    except TransportError as exc:
        results.append(
            CheckResult(
                "fusion.connect",
                CheckStatus.FAIL,
                f"the pod could not be reached: {exc}",
                "check the connection's host (the pod URL https://<pod>.fa.<region>.oraclecloud.com) and "
                "token_url, and that this machine reaches them (proxy, firewall, DNS)",
            )
        )
    return results


def _probe_all(
    hook: OracleFusionHook, needs: Sequence[FusionNeed], now: datetime | None, results: list[CheckResult]
) -> None:
    """The probes of :func:`check_fusion`, appending to ``results`` as they go."""
    from ml_connector_provider.transport import AuthError

    merged = merge_needs(needs)
    if not merged:
        return
    settings = hook.settings
    if settings.auth_type == "oauth2_client_credentials":
        failure = _token_failure(hook, settings.scope)
        if failure is not None:
            results.append(failure)
            return
    first = merged[0].resource
    try:
        answer = hook.probe_get(first, {"limit": 1, "onlyData": "true"})
    except AuthError as exc:
        results.append(_auth_failed(exc, settings.auth_type))
        return
    if answer.status_code == 401:
        results.append(_auth_failed(None, settings.auth_type))
        return
    results.append(
        CheckResult(
            "fusion.auth",
            CheckStatus.OK,
            "the token endpoint issued a token and the API accepted it"
            if settings.auth_type == "oauth2_client_credentials"
            else "the API accepted the Basic credentials",
        )
    )
    if answer.status_code == 404 and "version" in answer.text.lower():
        results.append(
            CheckResult(
                "fusion.api_version",
                CheckStatus.FAIL,
                f"the pod does not serve REST API version {settings.api_version} ({_excerpt(answer)})",
                "set the connection extra api_version to 11.13.18.05 (or remove it), and check that the "
                "host is the pod URL https://<pod>.fa.<region>.oraclecloud.com",
            )
        )
        return
    results.append(
        CheckResult("fusion.api_version", CheckStatus.OK, f"REST API version {settings.api_version} answers")
    )
    results.append(_clock_skew(answer, now or datetime.now(UTC)))
    readable: list[FusionNeed] = []
    for need in merged:
        result = _resource(hook, need)
        results.append(result)
        if result.status is CheckStatus.OK:
            readable.append(need)
    if readable:
        results.append(_page_size(hook, readable[0]))
    for need in readable:
        results.append(_describe(hook, need))
        if need.changed_since and need.key:
            results.append(_changes(hook, need))
        if need.in_lists and need.key:
            results.append(_in_filter(hook, need))
    text_lookup = next(
        (
            (need, attribute)
            for need in readable
            for attribute in need.queryable
            if not attribute.endswith(("Id", "Date"))  # ids are numbers, dates are not looked up
        ),
        None,
    )
    if text_lookup is not None and hook.rest_framework_version >= 2:
        results.append(_quote_in_text(hook, *text_lookup))


def _token_failure(hook: OracleFusionHook, scope: str | None) -> CheckResult | None:
    """``None`` when the token endpoint issues a token, else the finding that names why not."""
    from ml_connector_provider.transport import AuthError, OAuth2ClientCredentials

    auth = hook.transport.auth
    if not isinstance(auth, OAuth2ClientCredentials):
        return None
    try:
        auth.token()
    except AuthError as exc:
        return _auth_failed(exc, "oauth2_client_credentials", scope=scope)
    return None


def _auth_failed(exc: Exception | None, auth_type: str, *, scope: str | None = None) -> CheckResult:
    from ml_connector_provider.transport import AuthError

    error = exc.error if isinstance(exc, AuthError) else None
    found = str(exc) if exc is not None else "the API answered 401 Unauthorized"
    if error == "invalid_scope":
        fix = (
            "set the connection extra scope to urn:opc:resource:fa:instanceid=<FA instance id>"
            "urn:opc:resource:consumer::all (the instance id is in the confidential application of "
            "the identity domain)" + (f"; it is now {scope!r}" if scope else "; it is not set")
        )
    elif error == "invalid_client":
        fix = (
            "set the connection extras client_id and client_secret to the identity domain's "
            "confidential application (and client_auth to 'post' if the application expects the "
            "secret in the form)"
        )
    elif auth_type == "basic":
        fix = "set the connection's login and password to a Fusion user with the integration's roles"
    else:
        fix = "check the connection extras token_url, client_id, client_secret and scope"
    return CheckResult("fusion.auth", CheckStatus.FAIL, found, fix)


def _date_headers(answer: requests.Response) -> list[str]:
    raw = getattr(answer, "raw", None)
    headers = getattr(raw, "headers", None)
    getlist = getattr(headers, "getlist", None)
    if callable(getlist):
        values = [str(value) for value in getlist("Date")]
        if values:
            return values
    value = answer.headers.get("Date")
    return [value] if value else []


def _clock_skew(answer: requests.Response, now: datetime) -> CheckResult:
    """Compare the pod's ``Date`` with ``now``; when several ``Date`` headers arrive (a proxy added
    one), the one furthest from ``now`` is reported."""
    offsets: list[float] = []
    for value in _date_headers(answer):
        try:
            stamp = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        offsets.append((stamp - now).total_seconds())
    if not offsets:
        return CheckResult(
            "fusion.clock_skew",
            CheckStatus.WARN,
            "the pod's answer has no readable Date header, so the clocks could not be compared",
            "make sure this machine's clock is synchronised (NTP)",
        )
    skew = max(offsets, key=abs)
    side = "ahead of" if skew > 0 else "behind"
    found = f"the pod's clock is {abs(skew):.0f} s {side} this machine's"
    if abs(skew) <= CLOCK_SKEW_WARN:
        return CheckResult("fusion.clock_skew", CheckStatus.OK, found)
    status = CheckStatus.FAIL if abs(skew) > CLOCK_SKEW_FAIL else CheckStatus.WARN
    return CheckResult(
        "fusion.clock_skew",
        status,
        found,
        "synchronise this machine's clock (NTP); rows the pod stamps behind our clock by more than "
        f"sync.overlap (default {CLOCK_SKEW_FAIL:.0f} s) can fall into a window already read, and "
        "tokens can look expired or not yet valid",
    )


def _resource(hook: OracleFusionHook, need: FusionNeed) -> CheckResult:
    check = f"fusion.resource.{need.resource}"
    answer = hook.probe_get(need.resource, {"limit": 1, "onlyData": "true"})
    if answer.status_code == 200:
        what = "read and written" if need.writes else "read"
        return CheckResult(check, CheckStatus.OK, f"{need.resource} can be {what} ({need.used_by})")
    if answer.status_code == 403:
        privilege = "view and create" if need.writes else "view"
        return CheckResult(
            check,
            CheckStatus.FAIL,
            f"the integration user may not read {need.resource} (HTTP 403: {_excerpt(answer)}); "
            f"{need.used_by} cannot run",
            f"grant the integration user a role with the {privilege} privileges of {need.resource} "
            "(Security Console), for the business units and ledgers the tenant uses",
        )
    if answer.status_code == 404:
        return CheckResult(
            check,
            CheckStatus.FAIL,
            f"the pod has no REST resource {need.resource} (HTTP 404: {_excerpt(answer)})",
            f"check the pod's release and offering: {need.used_by} needs {need.resource}",
        )
    return CheckResult(
        check,
        CheckStatus.FAIL,
        f"{need.resource} answered HTTP {answer.status_code}: {_excerpt(answer)}",
        "check the connection and the integration user's roles",
    )


def _describe(hook: OracleFusionHook, need: FusionNeed) -> CheckResult:
    check = f"fusion.describe.{need.resource}"
    answer = hook.probe_get(f"{need.resource}/describe", {})
    body = _json(answer) if answer.status_code == 200 else None
    entry = None
    if isinstance(body, dict):
        resources = body.get("Resources")
        entry = resources.get(need.resource) if isinstance(resources, dict) else body
    if not isinstance(entry, dict) or not isinstance(entry.get("attributes"), list):
        return _fields_fallback(hook, need, answer.status_code)
    attributes = {
        str(a.get("name")): bool(a.get("queryable", True)) for a in entry["attributes"] if isinstance(a, dict)
    }
    collection = entry.get("collection")
    listed = (
        entry.get("finders") or (collection.get("finders") if isinstance(collection, dict) else None) or ()
    )
    finders = {str(f.get("name")) for f in listed if isinstance(f, dict)}
    listed_children = entry.get("children")
    child_entries: dict[str, Any] = listed_children if isinstance(listed_children, dict) else {}
    children = set(child_entries)
    missing = [a for a in dict.fromkeys((*need.attributes, *need.all_queryable())) if a not in attributes]
    not_queryable = [a for a in need.all_queryable() if a in attributes and not attributes[a]]
    missing_children = [c for c in need.children if c not in children]
    missing_child_attributes = [
        f"{child}.{attribute}"
        for child, attribute in need.child_attributes
        if child in children and attribute not in _attribute_names(child_entries[child])
    ]
    missing_finders = [f for f in need.finders if f not in finders]
    problems: list[str] = []
    fixes: list[str] = []
    if missing:
        problems.append(f"attributes missing: {', '.join(missing)}")
        fixes.append(
            "check that the pod's release has these attributes of "
            f"{need.resource}; {need.used_by} reads them (attribute names are case-sensitive)"
        )
    if not_queryable:
        problems.append(f"not queryable: {', '.join(not_queryable)}")
        fixes.append(
            f"{need.used_by} filters or sorts on them; ask Oracle Support whether they can be made "
            "queryable on this pod, or read this stream on demand"
        )
    if missing_children:
        problems.append(f"children missing: {', '.join(missing_children)}")
        fixes.append(f"{need.used_by} expands them; check the pod's release")
    if missing_child_attributes:
        problems.append(f"child attributes missing: {', '.join(missing_child_attributes)}")
        fixes.append(f"{need.used_by} reads them from the child rows; check the pod's release")
    if missing_finders:
        problems.append(f"finders missing: {', '.join(missing_finders)}")
        fixes.append(f"{need.used_by} calls them; check the pod's release and the user's privileges")
    absent = [a for a in need.optional if a not in attributes]
    if absent:
        problems.append(f"optional attributes absent: {', '.join(absent)}")
        fixes.append(
            f"nothing required: {need.used_by} reads them when present (their names are UNCONFIRMED); "
            "without them Stripe gets less (no e-mail or address, no header-total cross-check)"
        )
    if problems:
        status = CheckStatus.WARN if len(problems) == 1 and absent else CheckStatus.FAIL
        return CheckResult(check, status, f"{need.resource}: " + "; ".join(problems), "; ".join(fixes))
    counted = len({*need.attributes, *need.all_queryable()})
    parts = [f"{counted} attribute(s)"]
    if need.children:
        parts.append(f"children {', '.join(need.children)}")
    if need.finders:
        parts.append(f"finders {', '.join(need.finders)}")
    return CheckResult(
        check, CheckStatus.OK, f"{need.resource} has the {' and '.join(parts)} the streams use"
    )


def _attribute_names(entry: Any) -> set[str]:
    """The attribute names of a ``describe`` entry (a child's included)."""
    listed = entry.get("attributes") if isinstance(entry, dict) else None
    return {str(a.get("name")) for a in listed or () if isinstance(a, dict)}


def _fields_fallback(hook: OracleFusionHook, need: FusionNeed, describe_status: int) -> CheckResult:
    """Without ``describe``: ask for the attributes with ``fields=`` (Fusion answers 400 naming an
    unknown one)."""
    check = f"fusion.describe.{need.resource}"
    wanted = list(dict.fromkeys((*need.attributes, *need.all_queryable())))
    answer = hook.probe_get(need.resource, {"limit": 1, "onlyData": "true", "fields": ",".join(wanted)})
    if answer.status_code == 200:
        return CheckResult(
            check,
            CheckStatus.WARN,
            f"{need.resource}/describe answered HTTP {describe_status}; the {len(wanted)} attribute(s) the "
            "streams use were accepted in fields=, but finders, children and queryable flags were not checked",
            f"grant the integration user access to {need.resource}/describe to check them",
        )
    return CheckResult(
        check,
        CheckStatus.FAIL,
        f"{need.resource} refused the attributes the streams use (HTTP {answer.status_code}: "
        f"{_excerpt(answer)})",
        "check that the pod's release has the attributes named above",
    )


def _changes(hook: OracleFusionHook, need: FusionNeed) -> CheckResult:
    from ml_connector_provider.hooks.oracle_fusion.query import parse_timestamp, window_filter

    check = f"fusion.changes.{need.resource}"
    key = need.key or ""
    version = hook.rest_framework_version
    lower = datetime(2000, 1, 1, tzinfo=UTC)
    upper = datetime.now(UTC) + timedelta(days=2)
    order = f"LastUpdateDate:asc,{key}:asc"

    def read(since: datetime) -> requests.Response:
        return hook.probe_get(
            need.resource,
            {
                "limit": 25,
                "onlyData": "true",
                "orderBy": order,
                "fields": f"{key},LastUpdateDate",
                "q": window_filter("LastUpdateDate", since, upper, None, version=version),
            },
        )

    answer = read(lower)
    if answer.status_code != 200:
        return CheckResult(
            check,
            CheckStatus.FAIL,
            f"{need.resource} refused a LastUpdateDate window ordered by {order} (HTTP "
            f"{answer.status_code}: {_excerpt(answer)}); {need.used_by} reads changes this way",
            "use rest_framework_version 2 or later on the connection; if it is, ask Oracle Support "
            f"whether LastUpdateDate is queryable on {need.resource}",
        )
    rows = _items(answer)
    try:
        stamps = [parse_timestamp(row["LastUpdateDate"]) for row in rows]
    except (KeyError, TypeError, ValueError):
        return CheckResult(
            check,
            CheckStatus.FAIL,
            f"rows of {need.resource} came back without a readable LastUpdateDate",
            "check the integration user's access to the attribute",
        )
    if stamps != sorted(stamps):
        return CheckResult(
            check,
            CheckStatus.FAIL,
            f"{need.resource} accepted orderBy={order} but did not return rows in LastUpdateDate order",
            "report it to Oracle Support; incremental reads page by LastUpdateDate and rely on the order",
        )
    if len(set(stamps)) >= 2:
        middle = sorted(set(stamps))[len(set(stamps)) // 2]
        narrowed = read(middle)
        later = [parse_timestamp(row["LastUpdateDate"]) for row in _items(narrowed)] if narrowed.ok else []
        if not narrowed.ok or any(stamp < middle for stamp in later) or not later:
            return CheckResult(
                check,
                CheckStatus.FAIL,
                f"{need.resource} did not filter LastUpdateDate >= {middle.isoformat()} as expected "
                f"(HTTP {narrowed.status_code}, {len(later)} row(s))",
                "report it to Oracle Support; incremental reads rely on the LastUpdateDate filter",
            )
        meaning = "filters and orders by it"
    else:
        meaning = "accepts the filter and the order (too few rows to prove the filtering)"
    return CheckResult(check, CheckStatus.OK, f"{need.resource} {meaning} (LastUpdateDate window, {order})")


def _in_filter(hook: OracleFusionHook, need: FusionNeed) -> CheckResult:
    from ml_connector_provider.hooks.oracle_fusion.query import comparable, in_filters

    check = f"fusion.in_filter.{need.resource}"
    key = need.key or ""
    version = hook.rest_framework_version
    if version < 2:
        return CheckResult(
            check,
            CheckStatus.OK,
            "REST framework version 1 has no in (…): look-ups send one query per value (slower for "
            "large batches)",
        )
    sample = hook.probe_get(need.resource, {"limit": 2, "onlyData": "true", "fields": key})
    values = [row.get(key) for row in _items(sample) if row.get(key) is not None] if sample.ok else []
    probe_values: list[Any] = values or [_NO_SUCH_VALUE, _NO_SUCH_VALUE + " 2"]
    [q] = in_filters(key, probe_values, version=version)[:1]
    answer = hook.probe_get(need.resource, {"limit": 25, "onlyData": "true", "fields": key, "q": q})
    if answer.status_code == 400:
        return CheckResult(
            check,
            CheckStatus.FAIL,
            f"{need.resource} refused an in (…) list in q (HTTP 400: {_excerpt(answer)}); "
            f"{need.used_by} looks items up this way",
            "set the connection extra rest_framework_version to 1: the client then looks values up one "
            "per query (q=Attr=value) instead of with in (…)",
        )
    if not answer.ok:
        return CheckResult(
            check,
            CheckStatus.FAIL,
            f"{need.resource} answered HTTP {answer.status_code} to an in (…) filter: {_excerpt(answer)}",
            "check the integration user's roles",
        )
    found = {comparable(row.get(key)) for row in _items(answer)}
    wanted = {comparable(value) for value in values}
    if values and found != wanted:
        return CheckResult(
            check,
            CheckStatus.FAIL,
            f"{need.resource} answered {key} in (…) with other rows than asked for",
            "report it to Oracle Support; the client filters answers on the client, but look-ups may miss rows",
        )
    return CheckResult(check, CheckStatus.OK, f"{need.resource} accepts {key} in (…) in q")


def _quote_in_text(hook: OracleFusionHook, need: FusionNeed, attribute: str) -> CheckResult:
    """A text value holding ``'`` in a version 2 filter on a text ``attribute``, written with the
    quote doubled: how a quote inside a literal is written is UNCONFIRMED (contract A4.2), so ask
    the pod."""
    from ml_connector_provider.hooks.oracle_fusion.query import equality_filter

    q = equality_filter({attribute: "O'Brien ml-connector check"}, version=hook.rest_framework_version)
    answer = hook.probe_get(need.resource, {"limit": 1, "onlyData": "true", "q": q})
    if answer.ok:
        return CheckResult(
            "fusion.quoted_text",
            CheckStatus.OK,
            f"a text value holding ' is accepted in q with the quote doubled ({need.resource}.{attribute})",
        )
    return CheckResult(
        "fusion.quoted_text",
        CheckStatus.WARN,
        f"{need.resource} refused a text value holding ' in q, written with the quote doubled (HTTP "
        f"{answer.status_code}: {_excerpt(answer)}); look-ups of such values (supplier or invoice "
        "numbers with an apostrophe) will fail",
        "keep apostrophes out of the numbers the streams look up, or tell us what the pod expects",
    )


def _page_size(hook: OracleFusionHook, need: FusionNeed) -> CheckResult:
    params: dict[str, Any] = {"limit": PAGE_SIZE, "onlyData": "true"}
    if need.key:
        params["fields"] = need.key  # the smallest answer that still shows the cap
    answer = hook.probe_get(need.resource, params)
    body = _json(answer) if answer.ok else None
    limit = body.get("limit") if isinstance(body, dict) else None
    if isinstance(limit, int) and not isinstance(limit, bool):
        if limit >= PAGE_SIZE:
            return CheckResult("fusion.page_size", CheckStatus.OK, f"pages hold up to {limit} rows")
        return CheckResult(
            "fusion.page_size",
            CheckStatus.OK,
            f"the pod caps pages at {limit} rows (the client asks for {PAGE_SIZE} and pages on hasMore, "
            "so nothing is lost; runs make a few more requests)",
        )
    return CheckResult(
        "fusion.page_size",
        CheckStatus.OK,
        "the pod does not echo the effective page size; the client pages on hasMore either way",
    )


def _items(answer: requests.Response) -> list[dict[str, Any]]:
    body = _json(answer)
    items = body.get("items") if isinstance(body, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _json(answer: requests.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _excerpt(answer: requests.Response, limit: int = 240) -> str:
    """Fusion's reason for a refusal, short: the ``o:errorDetails`` details of a JSON error
    (framework version 4), else the text of the body."""
    body = _json(answer)
    text = answer.text
    if isinstance(body, dict):
        details = body.get("o:errorDetails")
        if isinstance(details, list):
            found = [
                f"{d.get('detail')}" + (f" ({d['o:errorCode']})" if d.get("o:errorCode") else "")
                for d in details
                if isinstance(d, dict) and d.get("detail")
            ]
            text = "; ".join(found) or str(body.get("title") or text)
        elif body.get("title") or body.get("detail"):
            text = str(body.get("detail") or body.get("title"))
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# -- drift -------------------------------------------------------------------------------------

_Q_ATTRIBUTE = re.compile(
    r"(?<![\w.'])([A-Za-z_][\w.]*)\s*(?:>=|<=|!=|<>|=|>|<|\s+in\s*\(|\s+like\s|\s+is\s|\s+between\s)",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"'(?:[^']|'')*'")
_REST = "/fscmRestApi/resources/"


def undeclared_requests(needs: Sequence[FusionNeed], requests_seen: Iterable[Mapping[str, Any]]) -> list[str]:
    """What the logged requests used that ``needs`` does not declare, one line each.

    Looks at the REST requests (``/fscmRestApi/resources/<version>/<resource>…``): the resource,
    the attributes in ``q`` and ``orderBy``, the expanded children, the finder and, for a POST
    or PATCH on a declared resource, whether it is declared as written. ``erpintegrations`` (the
    GL import path, checked by :mod:`~ml_connector_provider.checks.fusion_gl`) is left out.

    :param needs: the declared needs.
    :param requests_seen: entries with ``method``, ``path`` and ``query`` (the raw query string),
        as ``GET /__sandbox__/requests`` of a stand-in serves them.
    """
    declared = {need.resource: need for need in merge_needs(needs)}
    problems: dict[str, None] = {}
    for entry in requests_seen:
        path = str(entry.get("path") or "")
        if _REST not in path:
            continue
        segments = [unquote(s) for s in path.split(_REST, 1)[1].split("/")[1:] if s]
        if not segments or segments[0] == "erpintegrations":
            continue
        resource = segments[0]
        need = declared.get(resource)
        if need is None:
            problems[f"{entry.get('method')} {resource}: resource not declared"] = None
            continue
        if entry.get("method") in ("POST", "PATCH", "DELETE") and not need.writes:
            problems[f"{entry.get('method')} {resource}: writes not declared"] = None
        if "child" in segments:
            index = segments.index("child")
            if index + 1 < len(segments) and segments[index + 1] not in need.children:
                problems[f"{resource}: child {segments[index + 1]} not declared"] = None
        params = dict(parse_qsl(str(entry.get("query") or ""), keep_blank_values=True))
        queryable = set(need.queryable)
        for attribute in _Q_ATTRIBUTE.findall(_QUOTED.sub("''", params.get("q", ""))):
            if attribute.lower() not in ("and", "or", "not", "upper", "lower") and attribute not in queryable:
                problems[f"{resource}: q on {attribute} not declared"] = None
        for term in filter(None, params.get("orderBy", "").split(",")):
            attribute = term.split(":", 1)[0]
            if attribute not in queryable:
                problems[f"{resource}: orderBy {attribute} not declared"] = None
        for child in filter(None, params.get("expand", "").split(",")):
            if child != "all" and child.split(".", 1)[0] not in need.children:
                problems[f"{resource}: expand {child} not declared"] = None
        finder = params.get("finder", "").split(";", 1)[0]
        if finder and finder not in need.finders:
            problems[f"{resource}: finder {finder} not declared"] = None
    return list(problems)
