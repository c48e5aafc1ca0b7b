"""A small SuiteQL engine: the queries the connector issues, parsed by hand (never ``eval``).

Contract B6: ``POST /services/rest/query/v1/suiteql`` with ``Prefer: transient`` and ``{"q"}``;
column names come back lower-cased, every row carries ``"links": []``, values are strings and NULL
columns are left out (UNCONFIRMED, "commonly observed"). The subset understood here::

    SELECT col [, col ...] | *  FROM customer | item | transaction | currency | subsidiary
    [WHERE cond]  [ORDER BY col [ASC|DESC] [, ...]]

    cond   := cond OR cond | cond AND cond | NOT cond | ( cond )
            | col = | <> | != | < | <= | > | >= literal | TO_DATE(...) | TO_TIMESTAMP(...)
            | col [NOT] IN (literal, ...) | col IS [NOT] NULL | col [NOT] LIKE 'pattern'
    literal:= 'text with '' for a quote' | number

String literals escape a quote by doubling it (standard SQL, as Oracle's SQL which SuiteQL follows;
UNCONFIRMED in the contract). Anything else is refused with NetSuite's 400 "Invalid search query."
body naming the query and saying the stand-in does not support it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ml_connector_sandbox.systems.netsuite.errors import NetSuiteError

__all__ = ["TABLE_COLUMNS", "Query", "SuiteQLError", "parse"]

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "customer": (
        "id",
        "entityid",
        "companyname",
        "email",
        "phone",
        "externalid",
        "subsidiary",
        "currency",
        "isinactive",
        "isperson",
        "datecreated",
        "lastmodifieddate",
    ),
    "item": (
        "id",
        "itemid",
        "displayname",
        "description",
        "externalid",
        "itemtype",
        "isinactive",
        "datecreated",
        "lastmodifieddate",
    ),
    "transaction": (
        "id",
        "tranid",
        "type",
        "entity",
        "externalid",
        "trandate",
        "currency",
        "memo",
        "status",
        "foreigntotal",
        "foreignamountremaining",
        "createddate",
        "lastmodifieddate",
    ),
    "currency": ("id", "symbol", "name", "currencyprecision"),
    "subsidiary": ("id", "name", "currency", "country"),
}
"""The tables and standard columns the stand-in knows (custom fields come from the account)."""

CUSTOM_PREFIX = {"customer": "custentity", "item": "custitem", "transaction": "custbody"}


class SuiteQLError(NetSuiteError):
    """400 "Invalid search query." (B6 errors)."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, "INVALID_PARAMETER", detail, title="Invalid search query.")


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><>|!=|<=|>=|=|<|>)
      | (?P<punct>[(),*])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
    )""",
    re.VERBOSE,
)

_DATE_FORMATS = {"YYYY-MM-DD": "%Y-%m-%d", "YYYY-MM-DD HH24:MI:SS": "%Y-%m-%d %H:%M:%S"}
"""The ``TO_DATE``/``TO_TIMESTAMP`` formats understood (B6's example), as ``strptime`` formats."""

_KEYWORDS = {
    "select",
    "from",
    "where",
    "and",
    "or",
    "not",
    "in",
    "is",
    "null",
    "like",
    "order",
    "by",
    "asc",
    "desc",
}


@dataclass(frozen=True)
class _Tok:
    kind: str
    value: str


def _unsupported(query: str, what: str) -> SuiteQLError:
    return SuiteQLError(
        f"Search error occurred: {what} is not supported by the NetSuite stand-in (query: {query})."
    )


def _tokenize(query: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    text = query
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            rest = text[pos:].lstrip()
            if rest.startswith("'"):
                raise SuiteQLError(f"Search error occurred: unterminated string literal in query: {query}")
            raise _unsupported(query, f"the text starting at {rest[:20]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "word" and value.lower() in _KEYWORDS:
            kind, value = "kw", value.lower()
        tokens.append(_Tok(kind, value))
        pos = match.end()
    return tokens


Predicate = Callable[[dict[str, str]], bool]


@dataclass
class Query:
    """A parsed query: table, selected columns (``None`` = all), filter and order."""

    table: str
    columns: list[str] | None
    where: Predicate
    order: list[tuple[str, bool]]
    referenced: set[str]


def _literal(tok: _Tok, query: str) -> str | Decimal:
    if tok.kind == "string":
        return tok.value[1:-1].replace("''", "'")
    if tok.kind == "number":
        return Decimal(tok.value)
    raise _unsupported(query, f"the value {tok.value!r}")


def _compare(left: str | None, op: str, right: str | Decimal | datetime) -> bool:
    if left is None:
        return False
    a: Any = left
    b: Any = right
    if isinstance(right, datetime):
        try:
            parsed = datetime.fromisoformat(left.replace("Z", "+00:00"))
        except ValueError:
            return False
        a = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(right, Decimal):
        try:
            a = Decimal(left)
        except InvalidOperation:
            b = str(right)
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda x, y: x == y,
        "<>": lambda x, y: x != y,
        "!=": lambda x, y: x != y,
        "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y,
        ">": lambda x, y: x > y,
        ">=": lambda x, y: x >= y,
    }
    return ops[op](a, b)


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _tokenize(query)
        self.pos = 0
        self.referenced: set[str] = set()
        self.table = ""

    def peek(self, offset: int = 0) -> _Tok | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise SuiteQLError(f"Search error occurred: unexpected end of query: {self.query}")
        self.pos += 1
        return tok

    def accept(self, kind: str, value: str | None = None) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == kind and (value is None or tok.value == value):
            self.pos += 1
            return True
        return False

    def expect(self, kind: str, value: str | None = None) -> _Tok:
        tok = self.take()
        if tok.kind != kind or (value is not None and tok.value != value):
            raise _unsupported(self.query, f"{tok.value!r} where {value or kind} was expected")
        return tok

    def column(self) -> str:
        tok = self.take()
        if tok.kind != "word":
            raise _unsupported(self.query, f"{tok.value!r} as a column")
        name = tok.value.lower()
        if "." in name:
            prefix, _, name = name.partition(".")
            if self.table and prefix != self.table:
                raise _unsupported(self.query, f"the qualified column {tok.value!r} (joins)")
        self.referenced.add(name)
        return name

    def parse(self) -> Query:
        self.expect("kw", "select")
        columns: list[str] | None
        if self.accept("punct", "*"):
            columns = None
            column_tokens: list[int] = []
        else:
            column_tokens = [self.pos]
            self._skip_column()
            while self.accept("punct", ","):
                column_tokens.append(self.pos)
                self._skip_column()
            columns = []
        self.expect("kw", "from")
        table_tok = self.take()
        if table_tok.kind != "word" or table_tok.value.lower() not in TABLE_COLUMNS:
            raise _unsupported(self.query, f"the table {table_tok.value!r}")
        self.table = table_tok.value.lower()
        after_from = self.pos
        if columns is not None:
            for index in column_tokens:
                self.pos = index
                columns.append(self.column())
            self.pos = after_from
        where: Predicate = lambda row: True  # noqa: E731
        if self.accept("kw", "where"):
            where = self.condition()
        order: list[tuple[str, bool]] = []
        if self.accept("kw", "order"):
            self.expect("kw", "by")
            while True:
                name = self.column()
                descending = False
                if self.accept("kw", "desc"):
                    descending = True
                else:
                    self.accept("kw", "asc")
                order.append((name, descending))
                if not self.accept("punct", ","):
                    break
        if self.peek() is not None:
            raise _unsupported(self.query, f"{self.peek().value!r} after the query")  # type: ignore[union-attr]
        return Query(self.table, columns, where, order, self.referenced)

    def _skip_column(self) -> None:
        tok = self.take()
        if tok.kind != "word":
            raise _unsupported(
                self.query, f"{tok.value!r} in the select list (expressions, functions, aliases)"
            )
        nxt = self.peek()
        if (
            nxt is not None
            and not (nxt.kind == "punct" and nxt.value == ",")
            and not (nxt.kind == "kw" and nxt.value == "from")
        ):
            raise _unsupported(
                self.query, f"{nxt.value!r} in the select list (expressions, functions, aliases)"
            )

    def value(self) -> str | Decimal | datetime:
        """A literal, or ``TO_DATE('2024-01-31', 'YYYY-MM-DD')`` / ``TO_TIMESTAMP('2024-01-31 10:00:00',
        'YYYY-MM-DD HH24:MI:SS')`` as in B6's incremental-sync example (only these two formats)."""
        tok = self.take()
        if tok.kind == "word" and tok.value.lower() in ("to_date", "to_timestamp"):
            self.expect("punct", "(")
            text = _literal(self.take(), self.query)
            self.expect("punct", ",")
            fmt = _literal(self.take(), self.query)
            self.expect("punct", ")")
            python_format = _DATE_FORMATS.get(str(fmt).upper()) if isinstance(fmt, str) else None
            if python_format is None or not isinstance(text, str):
                raise _unsupported(self.query, f"the date format {fmt!r}")
            try:
                return datetime.strptime(text, python_format).replace(tzinfo=UTC)
            except ValueError as exc:
                raise SuiteQLError(
                    f"Search error occurred: {text!r} does not match {fmt!r} (query: {self.query})."
                ) from exc
        return _literal(tok, self.query)

    def condition(self) -> Predicate:
        left = self.conjunction()
        while self.accept("kw", "or"):
            right = self.conjunction()
            left = (lambda a, b: lambda row: a(row) or b(row))(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.negation()
        while self.accept("kw", "and"):
            right = self.negation()
            left = (lambda a, b: lambda row: a(row) and b(row))(left, right)
        return left

    def negation(self) -> Predicate:
        if self.accept("kw", "not"):
            inner = self.negation()
            return lambda row: not inner(row)
        if self.accept("punct", "("):
            inner = self.condition()
            self.expect("punct", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        name = self.column()
        tok = self.take()
        if tok.kind == "op":
            value = self.value()
            op = tok.value
            return lambda row: _compare(row.get(name), op, value)
        negate = False
        if tok.kind == "kw" and tok.value == "not":
            negate = True
            tok = self.take()
        if tok.kind == "kw" and tok.value == "in":
            self.expect("punct", "(")
            values = [_literal(self.take(), self.query)]
            while self.accept("punct", ","):
                values.append(_literal(self.take(), self.query))
            self.expect("punct", ")")
            members = values

            def within(row: dict[str, str]) -> bool:
                if row.get(name) is None:
                    return False
                return any(_compare(row.get(name), "=", v) for v in members) != negate

            return within
        if tok.kind == "kw" and tok.value == "like":
            pattern = _literal(self.take(), self.query)
            if not isinstance(pattern, str):
                raise _unsupported(self.query, "LIKE with a number")
            regex = re.compile(
                "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern), re.DOTALL
            )

            def like(row: dict[str, str]) -> bool:
                value = row.get(name)
                if value is None:
                    return False
                return bool(regex.fullmatch(value)) != negate

            return like
        if not negate and tok.kind == "kw" and tok.value == "is":
            wants_null = not self.accept("kw", "not")
            self.expect("kw", "null")
            return lambda row: (row.get(name) is None) == wants_null
        raise _unsupported(self.query, f"the operator {tok.value!r}")


def parse(query: str) -> Query:
    """Parse ``query``; raises :class:`SuiteQLError` (400) for anything outside the subset."""
    if not isinstance(query, str) or not query.strip():
        raise SuiteQLError("Search error occurred: the query (q) is empty.")
    return _Parser(query).parse()


def _sort_key(value: str | None) -> tuple[int, Any]:
    if value is None:
        return (2, "")
    try:
        return (0, Decimal(value))
    except InvalidOperation:
        return (1, value)


def run(parsed: Query, rows: list[dict[str, str]], known_columns: set[str]) -> list[dict[str, Any]]:
    """Filter, order and project ``rows``; unknown columns answer B6's "Field 'x' not found"."""
    for name in sorted(parsed.referenced):
        if name not in known_columns:
            raise SuiteQLError(
                f"Search error occurred: Field '{name}' for record '{parsed.table}' was not found."
            )
    selected = [row for row in rows if parsed.where(row)]
    for name, descending in reversed(parsed.order):
        present = [r for r in selected if r.get(name) is not None]
        missing = [r for r in selected if r.get(name) is None]
        present.sort(key=lambda r: _sort_key(r.get(name)), reverse=descending)
        selected = present + missing
    out: list[dict[str, Any]] = []
    for row in selected:
        names = parsed.columns if parsed.columns is not None else sorted(row)
        item: dict[str, Any] = {"links": []}
        for name in names:
            if row.get(name) is not None:
                item[name] = row[name]
        out.append(item)
    return out
