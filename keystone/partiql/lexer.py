"""Tokens of KeystoneDB's PartiQL dialect, with their line and column.

This module owns the lexical level of PartiQL statements: words (keywords
and identifiers), double-quoted identifiers, single-quoted strings (``''``
escapes a quote), numbers, ``?`` parameters and punctuation, plus ``--`` and
``/* */`` comments. It also owns how every PartiQL error names its position
(:func:`syntax_error`, :func:`error_at`), so all of them read alike::

    PartiQL syntax error at line 1, column 15: expected FROM, found 'FORM'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NoReturn

from ..errors import ValidationError

#: Token kinds.
WORD: Final = "word"
QUOTED: Final = "quoted identifier"
STRING: Final = "string"
NUMBER: Final = "number"
PARAM: Final = "parameter"
PUNCT: Final = "punctuation"
EOF: Final = "end"

#: Words of the grammar. They cannot name an attribute or table unless double-quoted.
KEYWORDS: Final = frozenset(
    {
        "AND",
        "ASC",
        "BETWEEN",
        "BY",
        "DELETE",
        "DESC",
        "FALSE",
        "FROM",
        "IN",
        "INSERT",
        "INTO",
        "IS",
        "LIMIT",
        "MISSING",
        "NOT",
        "NULL",
        "OFFSET",
        "OR",
        "ORDER",
        "REMOVE",
        "SELECT",
        "SET",
        "TRUE",
        "UPDATE",
        "VALUE",
        "WHERE",
    }
)

_TWO_CHAR: Final = frozenset({"<=", ">=", "<>", "!=", "<<", ">>"})
_ONE_CHAR: Final = frozenset("*,.[](){}:=<>+-;")
_WORD_START: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_WORD_CHARS: Final = _WORD_START | frozenset("0123456789$")
_DIGITS: Final = frozenset("0123456789")
_SPACE: Final = frozenset(" \t\r\n\f\v")


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its source text, its value and its 1-based position.

    ``value`` is the identifier of a word or quoted identifier, the content of
    a string (quotes removed, ``''`` unescaped), and the text otherwise.
    ``keyword`` is the upper-cased keyword a bare word spells, else ``None``.
    """

    kind: str
    text: str
    value: str
    line: int
    column: int
    keyword: str | None = None

    def describe(self) -> str:
        if self.kind == EOF:
            return "the end of the statement"
        text = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return repr(text)


def error_at(line: int, column: int, message: str) -> ValidationError:
    """A ValidationError for a problem at ``line``/``column`` of the statement."""
    return ValidationError(f"PartiQL error at line {line}, column {column}: {message}")


def syntax_error(token: Token, expected: str, hint: str = "") -> NoReturn:
    """Raise the ValidationError for ``token`` where ``expected`` was expected."""
    message = (
        f"PartiQL syntax error at line {token.line}, column {token.column}: "
        f"expected {expected}, found {token.describe()}"
    )
    raise ValidationError(message + (f" ({hint})" if hint else ""))


def _error(line: int, column: int, message: str) -> NoReturn:
    raise ValidationError(f"PartiQL syntax error at line {line}, column {column}: {message}")


def tokenize(text: str) -> list[Token]:
    """Split a statement into tokens, ending with an EOF token."""
    tokens: list[Token] = []
    append = tokens.append
    i = 0
    n = len(text)
    line = 1
    line_start = 0  # index of the first character of the current line
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            if ch == "\n":
                line += 1
                line_start = i + 1
            i += 1
            continue
        column = i - line_start + 1
        start = i
        if ch in _WORD_START:
            i += 1
            while i < n and text[i] in _WORD_CHARS:
                i += 1
            word = text[start:i]
            upper = word.upper()
            append(Token(WORD, word, word, line, column, upper if upper in KEYWORDS else None))
        elif ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            i = _number_end(text, i, line, column)
            append(Token(NUMBER, text[start:i], text[start:i], line, column))
        elif ch == "'" or ch == '"':
            value, i, line, line_start = _quoted(text, i, line, line_start, column)
            kind = STRING if ch == "'" else QUOTED
            if kind == QUOTED and not value:
                _error(line, column, "a quoted identifier must not be empty")
            append(Token(kind, text[start:i], value, line, column))
        elif ch == "?":
            i += 1
            append(Token(PARAM, "?", "?", line, column))
        elif ch == "-" and text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif ch == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                _error(line, column, "unterminated comment (a /* opened here is never closed)")
            line += text.count("\n", i, end)
            newline = text.rfind("\n", i, end)
            if newline >= 0:
                line_start = newline + 1
            i = end + 2
        elif text[i : i + 2] in _TWO_CHAR:
            i += 2
            append(Token(PUNCT, text[start:i], text[start:i], line, column))
        elif ch in _ONE_CHAR:
            i += 1
            append(Token(PUNCT, ch, ch, line, column))
        else:
            _error(line, column, f"unexpected character {ch!r}")
    append(Token(EOF, "", "", line, n - line_start + 1))
    return tokens


def _number_end(text: str, i: int, line: int, column: int) -> int:
    """The end of the number starting at ``i``: digits [. digits] [e [+-] digits]."""
    n = len(text)
    start = i
    while i < n and text[i] in _DIGITS:
        i += 1
    if i < n and text[i] == ".":
        i += 1
        while i < n and text[i] in _DIGITS:
            i += 1
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j >= n or text[j] not in _DIGITS:
            _error(line, column, f"malformed number {text[start : j + 1]!r}")
        i = j
        while i < n and text[i] in _DIGITS:
            i += 1
    if i < n and text[i] in _WORD_CHARS:
        _error(line, column, "a number runs into a word; separate them with a space")
    return i


def _quoted(
    text: str, i: int, line: int, line_start: int, column: int
) -> tuple[str, int, int, int]:
    """Read the quoted string or identifier starting at ``i`` (doubled quote = escape)."""
    quote = text[i]
    start_line = line
    parts: list[str] = []
    i += 1
    n = len(text)
    while True:
        end = text.find(quote, i)
        if end < 0:
            what = "string" if quote == "'" else "quoted identifier"
            _error(start_line, column, f"unterminated {what} (the {quote} here is never closed)")
        parts.append(text[i:end])
        newlines = text.count("\n", i, end)
        if newlines:
            line += newlines
            line_start = text.rfind("\n", i, end) + 1
        if end + 1 < n and text[end + 1] == quote:
            parts.append(quote)
            i = end + 2
            continue
        return "".join(parts), end + 1, line, line_start
