"""Stripe's form encoding: bracket-nested keys in bodies and query strings (pure functions).

Stripe v1 requests carry their parameters as ``application/x-www-form-urlencoded`` pairs whose
keys nest with brackets::

    name=ACME&address[line1]=1+Main&metadata[erp_id]=123      → {"name": ..., "address": {...}, ...}
    expand[0]=balance_transaction&expand[1]=customer          → {"expand": [..., ...]}
    expand[]=balance_transaction&expand[]=customer            → the same (curl style)
    lines[0][amount]=1&lines[0][currency]=usd&lines[1][amount]=2 → {"lines": [{...}, {...}]}

Brackets may arrive literally (request bodies) or percent-encoded (``created%5Bgt%5D=1`` in
query strings, because ``requests`` re-quotes URLs); both decode the same. Values stay strings —
resources coerce them (see :mod:`.params`). An empty value (``metadata[k]=``) is kept as ``""``:
for Stripe it means "unset".

Malformed or conflicting keys (``a=1&a[b]=2``, ``a[b`` ...) raise :class:`FormError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

__all__ = ["FormError", "encode_form", "parse_form", "parse_pairs", "split_key"]


class FormError(ValueError):
    """A form key is malformed or conflicts with another key.

    :param param: the offending key as sent.
    :param message: a human-readable explanation.
    """

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


class _Array:
    """A list under construction: indexed items (``a[3]``) and appended items (``a[]``)."""

    __slots__ = ("appended", "indexed")

    def __init__(self) -> None:
        self.indexed: dict[int, Any] = {}
        self.appended: list[Any] = []


def split_key(key: str) -> list[str]:
    """Split ``a[b][0][]`` into ``["a", "b", "0", ""]``.

    A segment may itself contain balanced brackets (``metadata[a[b]]`` → ``["metadata", "a[b]"]``)
    so that such keys reach validation instead of being mangled.

    :raises FormError: unbalanced brackets, text between segments, or an empty name.
    """
    head, bracket, rest = key.partition("[")
    if not head:
        raise FormError(key, f"Invalid parameter name: {key!r}.")
    if "]" in head:
        raise FormError(key, f"Invalid parameter name: {key!r}.")
    parts = [head]
    if not bracket:
        return parts
    remaining = "[" + rest
    while remaining:
        if not remaining.startswith("["):
            raise FormError(key, f"Invalid parameter name: {key!r}.")
        depth = 0
        for index, char in enumerate(remaining):
            if char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
                if depth == 0:
                    parts.append(remaining[1:index])
                    remaining = remaining[index + 1 :]
                    break
        else:
            raise FormError(key, f"Invalid parameter name: {key!r} (unbalanced brackets).")
    return parts


def _describe(path: list[str]) -> str:
    return path[0] + "".join(f"[{segment}]" for segment in path[1:])


def _insert(container: dict[str, Any] | _Array, path: list[str], position: int, value: str, key: str) -> None:
    segment = path[position]
    last = position == len(path) - 1
    if isinstance(container, _Array):
        if segment == "":
            if last:
                container.appended.append(value)
                return
            # a[][k]=v: Rack semantics - start a new element when the last one already has k
            # (or is not a hash); otherwise keep filling the last element.
            next_segment = path[position + 1]
            tail = container.appended[-1] if container.appended else None
            if not isinstance(tail, dict) or next_segment in tail or next_segment == "":
                tail = {}
                container.appended.append(tail)
            _insert(tail, path, position + 1, value, key)
            return
        if not segment.isdigit():
            raise FormError(key, f"Invalid array index in {key!r}: {segment!r} is not a number.")
        index = int(segment)
        if last:
            if isinstance(container.indexed.get(index), dict | _Array):
                raise FormError(key, f"Conflicting values for {_describe(path[: position + 1])}.")
            container.indexed[index] = value
            return
        child = container.indexed.get(index)
        child = _child(child, path[position + 1], path, position, key)
        container.indexed[index] = child
        _insert(child, path, position + 1, value, key)
        return

    if last:
        if isinstance(container.get(segment), dict | _Array):
            raise FormError(key, f"Conflicting values for {_describe(path[: position + 1])}.")
        container[segment] = value  # a repeated scalar key: the last one wins
        return
    child = _child(container.get(segment), path[position + 1], path, position, key)
    container[segment] = child
    _insert(child, path, position + 1, value, key)


def _child(
    existing: Any, next_segment: str, path: list[str], position: int, key: str
) -> dict[str, Any] | _Array:
    wants_array = next_segment == "" or next_segment.isdigit()
    if existing is None:
        return _Array() if wants_array else {}
    if wants_array and isinstance(existing, _Array):
        return existing
    if not wants_array and isinstance(existing, dict):
        return existing
    raise FormError(key, f"Conflicting values for {_describe(path[: position + 1])}.")


def _finish(value: Any) -> Any:
    if isinstance(value, _Array):
        items = [value.indexed[i] for i in sorted(value.indexed)] + value.appended
        return [_finish(item) for item in items]
    if isinstance(value, dict):
        return {k: _finish(v) for k, v in value.items()}
    return value


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nest decoded ``(key, value)`` pairs by their brackets.

    :raises FormError: a malformed key, or a key used both as a value and as a container.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        path = split_key(key)
        _insert(root, path, 0, value, key)
    finished: dict[str, Any] = _finish(root)
    return finished


def parse_form(data: bytes | str) -> dict[str, Any]:
    """Parse a form-encoded body or a raw query string (brackets literal or percent-encoded).

    :raises FormError: see :func:`parse_pairs`.
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:  # e.g. too many fields
        raise FormError("body", f"Invalid form encoding: {exc}") from exc
    return parse_pairs(pairs)


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}[{key}]", item, out)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out)
    elif value is None:
        out.append((prefix, ""))
    elif isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    else:
        out.append((prefix, str(value)))


def encode_form(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The inverse of :func:`parse_pairs`: flatten nested params into bracketed pairs.

    Lists use indexed keys (``a[0]``) as the Stripe SDKs send them; ``None`` becomes ``""``.
    """
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        _flatten(str(key), value, out)
    return out
