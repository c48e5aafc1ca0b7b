"""A small parser and matcher for Stripe's search query language (pure functions).

Supported (the part the contract confirms, plus numeric comparisons on ``created``)::

    email:'jane@example.com'
    name:"Jane Doe" AND metadata['erp_id']:'123'
    metadata["region"]:'EU' OR metadata['region']:'UK'
    created>1700000000 AND created<=1700086400

* ``field:'value'`` — exact match; case-insensitive for string fields, case-sensitive for
  metadata values (Stripe's exact case rules are UNCONFIRMED);
* ``metadata['key']:'value'`` — single or double quotes, ``\\'`` escapes a quote;
* ``AND`` or ``OR`` between clauses (upper case), not both in one query, at most 10 clauses;
* ``>``, ``>=``, ``<``, ``<=``, ``:`` against integers for numeric fields.

Anything else — negation (``-field:``), substring (``~``), parentheses, ``null``, unknown fields,
unquoted strings — raises :class:`SearchQueryError`, which the route answers with a 400 on
``param: "query"``, as Stripe refuses queries it cannot parse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["MAX_CLAUSES", "Clause", "FieldKind", "SearchQuery", "SearchQueryError", "parse_search_query"]

MAX_CLAUSES = 10

FieldKind = Literal["string", "number", "metadata"]
Operator = Literal[":", ">", ">=", "<", "<="]


class SearchQueryError(ValueError):
    """The query uses syntax the search language (or this stand-in) does not support."""


@dataclass(frozen=True)
class Clause:
    """One ``field op value`` term."""

    field: str
    op: Operator
    value: str | int
    metadata_key: str | None = None

    def matches(self, obj: Mapping[str, Any], kind: FieldKind) -> bool:
        """Whether ``obj`` satisfies this clause."""
        if kind == "metadata":
            metadata = obj.get("metadata") or {}
            return metadata.get(self.metadata_key) == self.value
        actual = obj.get(self.field)
        if kind == "number":
            if not isinstance(actual, int) or not isinstance(self.value, int):
                return False
            return {
                ":": actual == self.value,
                ">": actual > self.value,
                ">=": actual >= self.value,
                "<": actual < self.value,
                "<=": actual <= self.value,
            }[self.op]
        return isinstance(actual, str) and actual.casefold() == str(self.value).casefold()


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query: clauses joined by one conjunction."""

    clauses: tuple[Clause, ...]
    conjunction: Literal["AND", "OR"]
    fields: Mapping[str, FieldKind]

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` satisfies the query."""
        results = (clause.matches(obj, self.fields[clause.field]) for clause in self.clauses)
        return all(results) if self.conjunction == "AND" else any(results)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> SearchQueryError:
        return SearchQueryError(f"Invalid search query at position {self.pos}: {message}")

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self, length: int = 1) -> str:
        return self.text[self.pos : self.pos + length]

    def skip_spaces(self) -> int:
        start = self.pos
        while not self.at_end() and self.text[self.pos].isspace():
            self.pos += 1
        return self.pos - start

    def identifier(self) -> str:
        start = self.pos
        while not self.at_end() and (self.text[self.pos].isalnum() or self.text[self.pos] in "_."):
            self.pos += 1
        return self.text[start : self.pos]

    def quoted(self) -> str:
        quote = self.peek()
        if quote not in ("'", '"'):
            raise self.error("string values must be quoted with ' or \"")
        self.pos += 1
        out: list[str] = []
        while not self.at_end():
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == quote:
                self.pos += 1
                return "".join(out)
            out.append(char)
            self.pos += 1
        raise self.error("unterminated string")

    def number(self) -> int:
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
        while not self.at_end() and self.text[self.pos].isdigit():
            self.pos += 1
        digits = self.text[start : self.pos]
        if digits in ("", "-"):
            raise self.error("expected a number")
        return int(digits)


def _clause(scanner: _Scanner, fields: Mapping[str, FieldKind]) -> Clause:
    first = scanner.peek()
    if first == "-":
        raise scanner.error("negation ('-') is not supported")
    if first in "()":
        raise scanner.error("parentheses are not supported")
    name = scanner.identifier()
    if not name:
        raise scanner.error(f"expected a field name, found {scanner.peek() or 'the end of the query'!r}")
    kind = fields.get(name)
    if kind is None:
        raise scanner.error(f"unknown field {name!r} (supported: {', '.join(sorted(fields))})")
    metadata_key: str | None = None
    if kind == "metadata":
        if scanner.peek() != "[":
            raise scanner.error("metadata needs a key: metadata['key']")
        scanner.pos += 1
        metadata_key = scanner.quoted()
        if scanner.peek() != "]":
            raise scanner.error("expected ']' after the metadata key")
        scanner.pos += 1
    op: Operator
    for candidate in (">=", "<=", ">", "<", ":"):
        if scanner.peek(len(candidate)) == candidate:
            op = candidate
            scanner.pos += len(candidate)
            break
    else:
        if scanner.peek() == "~":
            raise scanner.error("the substring operator '~' is not supported")
        raise scanner.error(f"expected ':' after {name!r}")
    if op != ":" and kind != "number":
        raise scanner.error(f"the operator {op!r} only applies to numeric fields")
    if scanner.peek() == "~":
        raise scanner.error("the substring operator '~' is not supported")
    value: str | int
    if kind == "number":
        value = scanner.number()
    else:
        if scanner.text.startswith("null", scanner.pos):
            raise scanner.error("null checks are not supported")
        value = scanner.quoted()
    return Clause(field=name, op=op, value=value, metadata_key=metadata_key)


def parse_search_query(text: str, fields: Mapping[str, FieldKind]) -> SearchQuery:
    """Parse ``text`` for a resource whose searchable fields are ``fields``.

    :param fields: field name → kind, e.g. ``{"email": "string", "created": "number",
        "metadata": "metadata"}``.
    :raises SearchQueryError: empty or unsupported query.
    """
    scanner = _Scanner(text)
    scanner.skip_spaces()
    if scanner.at_end():
        raise scanner.error("the query is empty")
    clauses = [_clause(scanner, fields)]
    conjunction: Literal["AND", "OR"] | None = None
    while True:
        spaces = scanner.skip_spaces()
        if scanner.at_end():
            break
        word = scanner.identifier()
        if word not in ("AND", "OR") or not spaces:
            raise scanner.error(f"expected AND or OR, found {word or scanner.peek()!r}")
        if conjunction is not None and word != conjunction:
            raise scanner.error("AND and OR cannot be combined in one query")
        conjunction = "AND" if word == "AND" else "OR"
        if not scanner.skip_spaces():
            raise scanner.error(f"expected a space after {word}")
        clauses.append(_clause(scanner, fields))
        if len(clauses) > MAX_CLAUSES:
            raise scanner.error(f"a query can have at most {MAX_CLAUSES} clauses")
    return SearchQuery(clauses=tuple(clauses), conjunction=conjunction or "AND", fields=dict(fields))
