"""The two dialects of the ADF REST ``q`` filter (contract A4.2), compiled to item predicates.

* **Framework version 1** (the default; "query by example"): ``Attr=value;Attr2>value``. Clauses
  are joined by ``;`` (AND); values are unquoted and run to the end of the clause; operators are
  ``=``, ``!=``, ``<>``, ``>``, ``>=``, ``<``, ``<=``; one clause may chain more conditions on the
  same attribute: ``Deptno>=10 and <=30``.
* **Framework version 2 and later** ("RowMatch" expressions): ``LastUpdateDate >= '2026-01-01'
  and (Status = 'A' or Status is null)`` with ``and``, ``or``, ``not``, parentheses, the
  comparison operators above, ``in (…)``, ``between … and …``, ``like`` (``%`` and ``_``),
  ``is [not] null`` and ``upper(Attr)``/``lower(Attr)``. String literals are single-quoted
  (``''`` escapes a quote). A child attribute is written ``child.Attr`` and matches when any
  child row matches. The version-1 ``;`` syntax is rejected.

Lenient where the contract is UNCONFIRMED: date and timestamp literals are accepted quoted or
unquoted, with ``Z`` or an offset, with or without milliseconds, or as a bare date (see
:func:`~.values.parse_timestamp_text`); quoted literals are accepted for numbers in both
dialects and a quoted value is unquoted in version 1.

Every problem raises :class:`QueryError`, which the stand-in answers with HTTP 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ml_connector_sandbox.systems.fusion.values import AttrType, InvalidValue, from_text, normalise

__all__ = ["Predicate", "QueryError", "ResolvedPath", "Resolver", "compile_query"]

Predicate = Callable[[Mapping[str, Any]], bool]
"""A compiled filter: item → whether it matches."""


class QueryError(ValueError):
    """The ``q`` parameter cannot be used: bad syntax, unknown or non-queryable attribute, bad value.

    :param message: the text returned to the client.
    :param code: an ADF-style error code for the version 4 JSON payload.
    """

    def __init__(self, message: str, code: str = "INVALID_QUERY") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class ResolvedPath:
    """An attribute a filter refers to: its type and how to read its values from an item.

    :param attr_type: the attribute type (drives literal conversion and comparison).
    :param values: returns the attribute's stored values in an item (several for a child path).
    """

    attr_type: AttrType
    values: Callable[[Mapping[str, Any]], list[Any]]


Resolver = Callable[[str], ResolvedPath]
"""Resolves an attribute path (``Attr`` or ``child.Attr``) or raises :class:`QueryError`."""

_OPERATORS = (">=", "<=", "!=", "<>", "=", ">", "<")


def compile_query(text: str, framework_version: int, resolve: Resolver) -> Predicate:
    """Compile a ``q`` value in the dialect of ``framework_version``.

    :param text: the ``q`` parameter.
    :param framework_version: the request's ``REST-Framework-Version`` (1 when absent).
    :param resolve: resolves attribute paths, raising :class:`QueryError` for unknown or
        non-queryable ones.
    :raises QueryError: the filter cannot be used.
    """
    if not text.strip():
        return lambda item: True
    if framework_version >= 2:
        return _ExpressionParser(text, resolve).parse()
    return _compile_v1(text, resolve)


# -- comparisons ---------------------------------------------------------------------------------


def _compare(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    try:
        if op == "=":
            return bool(left == right)
        if op in ("!=", "<>"):
            return bool(left != right)
        if op == ">":
            return bool(left > right)
        if op == ">=":
            return bool(left >= right)
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
    except TypeError:
        return False
    raise QueryError(f"Unsupported operator {op}.")  # pragma: no cover - guarded by the parsers


def _literal(path_text: str, attr_type: AttrType, text: str) -> Any:
    try:
        return from_text(attr_type, text)
    except InvalidValue as exc:
        raise QueryError(f"Invalid value for attribute {path_text}: {exc}", "INVALID_VALUE") from None


def _values(path: ResolvedPath, item: Mapping[str, Any], transform: Callable[[Any], Any] | None) -> list[Any]:
    out = []
    for raw in path.values(item):
        try:
            value = normalise(path.attr_type, raw)
        except (InvalidValue, ValueError, ArithmeticError):
            value = None
        if transform is not None and isinstance(value, str):
            value = transform(value)
        out.append(value)
    return out


# -- version 1: query by example -----------------------------------------------------------------

_V1_CLAUSE = re.compile(r"^\s*(?P<attr>[A-Za-z_][\w.]*)\s*(?P<op>>=|<=|!=|<>|=|>|<)(?P<rest>.*)$", re.DOTALL)
_V1_CHAIN = re.compile(r"\s+(and|or)\s+(?=>=|<=|!=|<>|=|>|<)", re.IGNORECASE)
_V1_OP = re.compile(r"^\s*(>=|<=|!=|<>|=|>|<)(.*)$", re.DOTALL)


def _v1_value(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


def _compile_v1(text: str, resolve: Resolver) -> Predicate:
    clauses: list[Predicate] = []
    for clause_text in text.split(";"):
        if not clause_text.strip():
            raise QueryError(f"Invalid query expression '{text}': empty condition.")
        match = _V1_CLAUSE.match(clause_text)
        if match is None:
            raise QueryError(f"Invalid query expression '{clause_text.strip()}'.")
        attr = match["attr"]
        path = resolve(attr)
        # "Deptno>=10 and <=30": split the rest where "and"/"or" is followed by an operator.
        parts = _V1_CHAIN.split(match["op"] + match["rest"])
        conditions: list[tuple[str, str, Any]] = []
        joiner = "and"
        for index, part in enumerate(parts):
            if index % 2 == 1:
                joiner = part.lower()
                continue
            op_match = _V1_OP.match(part)
            if op_match is None:  # pragma: no cover - the split only keeps operator-led parts
                raise QueryError(f"Invalid query expression '{clause_text.strip()}'.")
            value_text = _v1_value(op_match[2])
            if not value_text:
                raise QueryError(f"Invalid query expression '{clause_text.strip()}': missing value.")
            conditions.append((joiner, op_match[1], _literal(attr, path.attr_type, value_text)))
        clauses.append(_v1_clause_predicate(path, conditions))

    def matches(item: Mapping[str, Any]) -> bool:
        return all(clause(item) for clause in clauses)

    return matches


def _v1_clause_predicate(path: ResolvedPath, conditions: Sequence[tuple[str, str, Any]]) -> Predicate:
    def matches(item: Mapping[str, Any]) -> bool:
        for value in _values(path, item, None):
            result = False
            for index, (joiner, op, literal) in enumerate(conditions):
                outcome = _compare(op, value, literal)
                if index == 0:
                    result = outcome
                elif joiner == "and":
                    result = result and outcome
                else:
                    result = result or outcome
            if result:
                return True
        return False

    return matches


# -- version 2+: expressions ---------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<timestamp>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>>=|<=|!=|<>|=|>|<)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][\w.]*)
  | (?P<semicolon>;)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _tokenise(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise QueryError(
                f"Invalid query expression '{text}': unexpected character at position {position + 1}."
            )
        kind = match.lastgroup or ""
        if kind == "semicolon":
            raise QueryError(
                f"Invalid query expression '{text}': ';' is the version 1 query syntax, which is not "
                "supported with REST-Framework-Version 2 or later; join conditions with 'and'."
            )
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    return tokens


_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "like", "between", "upper", "lower"})


class _ExpressionParser:
    """Recursive-descent parser: ``or`` < ``and`` < ``not`` < comparison."""

    def __init__(self, text: str, resolve: Resolver) -> None:
        self.text = text
        self.resolve = resolve
        self.tokens = _tokenise(text)
        self.index = 0

    # token helpers

    def _peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == "name" and token.text.lower() == word:
            self.index += 1
            return True
        return False

    def _punct(self, char: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == "punct" and token.text == char:
            self.index += 1
            return True
        return False

    def _error(self, expected: str) -> QueryError:
        token = self._peek()
        where = f"'{token.text}' at position {token.position + 1}" if token else "the end of the expression"
        return QueryError(f"Invalid query expression '{self.text}': expected {expected}, found {where}.")

    # grammar

    def parse(self) -> Predicate:
        predicate = self._or()
        if self._peek() is not None:
            raise self._error("'and', 'or' or the end of the expression")
        return predicate

    def _or(self) -> Predicate:
        terms = [self._and()]
        while self._keyword("or"):
            terms.append(self._and())
        if len(terms) == 1:
            return terms[0]
        return lambda item: any(term(item) for term in terms)

    def _and(self) -> Predicate:
        terms = [self._not()]
        while self._keyword("and"):
            terms.append(self._not())
        if len(terms) == 1:
            return terms[0]
        return lambda item: all(term(item) for term in terms)

    def _not(self) -> Predicate:
        if self._keyword("not"):
            inner = self._not()
            return lambda item: not inner(item)
        if self._punct("("):
            inner = self._or()
            if not self._punct(")"):
                raise self._error("')'")
            return inner
        return self._comparison()

    def _operand(self) -> tuple[str, ResolvedPath, Callable[[Any], Any] | None]:
        token = self._peek()
        if token is None or token.kind != "name" or token.text.lower() in _KEYWORDS - {"upper", "lower"}:
            raise self._error("an attribute name")
        self.index += 1
        transform: Callable[[Any], Any] | None = None
        name = token.text
        if name.lower() in ("upper", "lower") and self._punct("("):
            transform = str.upper if name.lower() == "upper" else str.lower
            inner = self._peek()
            if inner is None or inner.kind != "name":
                raise self._error("an attribute name")
            self.index += 1
            name = inner.text
            if not self._punct(")"):
                raise self._error("')'")
        return name, self.resolve(name), transform

    def _literal(self, name: str, path: ResolvedPath) -> Any:
        token = self._peek()
        if token is None:
            raise self._error("a value")
        self.index += 1
        if token.kind == "string":
            return _literal(name, path.attr_type, token.text[1:-1].replace("''", "'"))
        if token.kind in ("number", "timestamp"):
            return _literal(name, path.attr_type, token.text)
        if token.kind == "name" and token.text.lower() in ("true", "false") and path.attr_type == "boolean":
            return token.text.lower() == "true"
        self.index -= 1
        raise self._error("a literal value (string literals are enclosed in single quotes)")

    def _comparison(self) -> Predicate:
        name, path, transform = self._operand()
        token = self._peek()
        if token is not None and token.kind == "op":
            self.index += 1
            op = token.text
            literal = self._literal(name, path)
            return lambda item: any(_compare(op, v, literal) for v in _values(path, item, transform))
        if self._keyword("is"):
            negate = self._keyword("not")
            if not self._keyword("null"):
                raise self._error("'null'")

            def is_null(item: Mapping[str, Any]) -> bool:
                values = _values(path, item, None)
                found = not values or any(v is None for v in values)
                return not found if negate else found

            return is_null
        negate = self._keyword("not")
        if self._keyword("in"):
            if not self._punct("("):
                raise self._error("'('")
            options = [self._literal(name, path)]
            while self._punct(","):
                options.append(self._literal(name, path))
            if not self._punct(")"):
                raise self._error("')' or ','")

            def in_list(item: Mapping[str, Any]) -> bool:
                found = any(v is not None and v in options for v in _values(path, item, transform))
                return not found if negate else found

            return in_list
        if self._keyword("like"):
            pattern_value = self._literal(name, path)
            if not isinstance(pattern_value, str):
                raise QueryError(f"Invalid query expression '{self.text}': like needs a string pattern.")
            pattern = _like_pattern(pattern_value)

            def like(item: Mapping[str, Any]) -> bool:
                found = any(
                    isinstance(v, str) and pattern.fullmatch(v) for v in _values(path, item, transform)
                )
                return not found if negate else found

            return like
        if self._keyword("between"):
            low = self._literal(name, path)
            if not self._keyword("and"):
                raise self._error("'and'")
            high = self._literal(name, path)

            def between(item: Mapping[str, Any]) -> bool:
                found = any(
                    _compare(">=", v, low) and _compare("<=", v, high) for v in _values(path, item, transform)
                )
                return not found if negate else found

            return between
        raise self._error("an operator (=, <>, >, >=, <, <=, in, like, between, is null)")


def _like_pattern(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)
