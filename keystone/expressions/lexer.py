"""Tokens of DynamoDB's expression language.

This module owns the lexical level: it turns an expression string into
:class:`Token` objects that remember their 1-based column, and it owns the
:func:`syntax_error` helper every later stage uses, so that all syntax errors
read alike (``syntax error at column 7 near 'BETWEN': expected ...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, NoReturn

from ..errors import ValidationError

#: Token kinds.
IDENT: Final = "identifier"
NAME_REF: Final = "#name"
VALUE_REF: Final = ":value"
INT: Final = "integer"
PUNCT: Final = "punctuation"
EOF: Final = "end of expression"

#: Words of the grammar itself; they cannot name an attribute without ``#``.
KEYWORDS: Final = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE"})

_SINGLE: Final = frozenset(".[](),=+-")
_IDENT_START: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_CHARS: Final = _IDENT_START | frozenset("0123456789")
_DIGITS: Final = frozenset("0123456789")
_SPACE: Final = frozenset(" \t\r\n")


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its exact text and its 1-based column."""

    kind: str
    text: str
    column: int

    @property
    def keyword(self) -> str | None:
        """The upper-cased keyword this token spells, if it is one."""
        if self.kind == IDENT:
            upper = self.text.upper()
            if upper in KEYWORDS:
                return upper
        return None

    def describe(self) -> str:
        if self.kind == EOF:
            return "the end of the expression"
        return repr(self.text)


def syntax_error(token: Token, expected: str) -> NoReturn:
    """Raise the ValidationError for ``token`` where ``expected`` was expected."""
    if token.kind == EOF:
        where = f"syntax error at column {token.column} (end of expression)"
    else:
        where = f"syntax error at column {token.column} near {token.text!r}"
    raise ValidationError(f"{where}: expected {expected}")


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an EOF token."""
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            i += 1
            continue
        start = i
        if ch in _IDENT_START:
            i += 1
            while i < n and text[i] in _IDENT_CHARS:
                i += 1
            tokens.append(Token(IDENT, text[start:i], start + 1))
        elif ch in _DIGITS:
            i += 1
            while i < n and text[i] in _DIGITS:
                i += 1
            tokens.append(Token(INT, text[start:i], start + 1))
        elif ch == "#" or ch == ":":
            i += 1
            while i < n and text[i] in _IDENT_CHARS:
                i += 1
            if i == start + 1:
                what = "an attribute name" if ch == "#" else "a value name"
                bad = Token(PUNCT, text[start : start + 2] or ch, start + 1)
                syntax_error(bad, f"{what} after {ch!r} (letters, digits or '_')")
            tokens.append(Token(NAME_REF if ch == "#" else VALUE_REF, text[start:i], start + 1))
        elif ch in "<>":
            nxt = text[i + 1] if i + 1 < n else ""
            i += 2 if nxt == "=" or (ch == "<" and nxt == ">") else 1
            tokens.append(Token(PUNCT, text[start:i], start + 1))
        elif ch in _SINGLE:
            i += 1
            tokens.append(Token(PUNCT, ch, start + 1))
        else:
            bad = Token(PUNCT, ch, start + 1)
            syntax_error(bad, "an attribute name, a #name or :value placeholder, or an operator")
    tokens.append(Token(EOF, "", n + 1))
    return tokens
