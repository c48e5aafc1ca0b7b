"""Text from outside, read and shown safely: ASCII digits only, invisible characters made visible.

Two concerns, both about text the connector did not write itself (cells of an export file, values
from an ERP, dead-letter reasons quoting them):

* **Numbers.** Python's ``\\d``, :func:`int` and :class:`~decimal.Decimal` accept every Unicode
  decimal digit: ``int("١٢٣")`` (Arabic-Indic) and ``Decimal("１２")`` (full-width) succeed. A
  number read from outside must be written with the ASCII digits 0-9 only;
  :func:`foreign_digit` finds the first other digit so that the message can name it.
* **Text for people.** Control characters (a terminal runs escape sequences; a carriage return
  overwrites a line) and bidirectional controls (which make text read differently from what it
  is) never reach a file, table or terminal as they are: :func:`escape_invisible` writes them as
  ``\\uXXXX``. :func:`lines_for_people` also neutralises lines a spreadsheet would run as
  formulas, with :func:`~ml_connector_provider.formats.spreadsheet.safe_cell`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from ml_connector_provider.formats.spreadsheet import safe_cell

__all__ = [
    "ASCII_DIGITS",
    "char_name",
    "escape_invisible",
    "foreign_digit",
    "lines_for_people",
]

ASCII_DIGITS = frozenset("0123456789")
"""The only digits a number read from outside may hold."""

# C0 controls (tab and line feed included), DEL and the C1 controls (NEL, CSI…); the Arabic letter
# mark, left-to-right and right-to-left marks; the line and paragraph separators; the
# bidirectional embedding, override and isolate controls.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_INVISIBLE_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def char_name(char: str) -> str:
    """``"U+0661 ARABIC-INDIC DIGIT ONE"``: the code point and its Unicode name (``control`` when it has none)."""
    return f"U+{ord(char):04X} {unicodedata.name(char, 'control').upper()}"


def foreign_digit(text: str) -> tuple[int, str] | None:
    """The first digit of ``text`` that is not one of 0-9, as (0-based index, character), or ``None``.

    Digits are the characters :meth:`str.isdigit` accepts: every Unicode decimal digit (which
    :func:`int` and :class:`~decimal.Decimal` read) and the superscript and circled digits.
    """
    for index, char in enumerate(text):
        if char not in ASCII_DIGITS and char.isdigit():
            return index, char
    return None


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04X}"


def escape_invisible(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control, bidirectional control and line separator written as ``\\uXXXX``.

    ``escape_invisible("a\\u202eb\\tc") == "a\\\\u202Eb\\\\u0009c"``. A backslash already in the
    text is kept as it is (the result is for people to read, not to be decoded).

    :param keep_newlines: keep line feeds (``"\\n"``) as they are; carriage returns are escaped
        even then.
    """
    pattern = _INVISIBLE_BUT_NEWLINE if keep_newlines else _INVISIBLE
    return pattern.sub(_escaped, text)


def lines_for_people(text: str) -> str:
    """``text`` made safe to write to a file people open: one line per ``"\\n"``-separated line,
    invisible characters escaped (:func:`escape_invisible`), and a line a spreadsheet would read
    as a formula (``=``, ``+``, ``-``, ``@``…) prefixed with an apostrophe
    (:func:`~ml_connector_provider.formats.spreadsheet.safe_cell`). Ends with a line feed."""
    lines = text.rstrip("\n").split("\n")
    return "".join(safe_cell(escape_invisible(line)) + "\n" for line in lines)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages about answers and payloads that
    break their contract: ``"null"``, ``"a boolean"``, ``"a number"``, ``"a string"``,
    ``"an array"``, ``"an object"`` (a Python type name for anything else)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, Mapping) else type(value).__name__
