"""Tokens of DynamoDB's expression language.

This module owns the lexical level: it turns an expression string into
:class:`Token` objects that remember where they stand in the text, and it
owns :func:`syntax_error`, so that every syntax error reads as DynamoDB's
does: ``Syntax error; token: "BETWEN", near: "a BETWEN :x"`` (the token and
its neighbours, as they appear in the text).

DynamoDB's lexical rules: a bare name starts with a letter and goes on with
letters, digits and ``_``; ``#name`` and ``:value`` go on with letters,
digits and ``_`` (so ``#1`` and ``:_`` are fine); integers are list indexes.
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

#: Words of the grammar itself (case-insensitive).
KEYWORDS: Final = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE"})

_SINGLE: Final = frozenset(".[](),=+-")
_LETTERS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS: Final = frozenset("0123456789")
_WORD_CHARS: Final = _LETTERS | _DIGITS | frozenset("_")
_SPACE: Final = frozenset(" \t\r\n")


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its exact text and where it starts (0-based) in the text."""

    kind: str
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)

    @property
    def keyword(self) -> str | None:
        """The upper-cased keyword this token spells, if it is one."""
        if self.kind == IDENT:
            upper = self.text.upper()
            if upper in KEYWORDS:
                return upper
        return None

    @property
    def shown(self) -> str:
        """The token as DynamoDB's messages show it."""
        return "<EOF>" if self.kind == EOF else self.text


def syntax_error(text: str, tokens: list[Token], index: int) -> NoReturn:
    """Raise DynamoDB's syntax error for ``tokens[index]`` of ``text``."""
    token = tokens[index]
    first = tokens[index - 1].start if index > 0 else token.start
    last = tokens[index + 1].end if index + 1 < len(tokens) else token.end
    near = text[first:last]
    raise ValidationError(f'Syntax error; token: "{_clip(token.shown)}", near: "{_clip(near)}"')


def _clip(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an EOF token.

    A character no token can start with (``_``, ``$``, a quote, ...) is a
    syntax error naming it.
    """
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            i += 1
            continue
        start = i
        if ch in _LETTERS:
            i += 1
            while i < n and text[i] in _WORD_CHARS:
                i += 1
            tokens.append(Token(IDENT, text[start:i], start))
        elif ch in _DIGITS:
            i += 1
            while i < n and text[i] in _DIGITS:
                i += 1
            tokens.append(Token(INT, text[start:i], start))
        elif ch == "#" or ch == ":":
            i += 1
            while i < n and text[i] in _WORD_CHARS:
                i += 1
            if i == start + 1:
                tokens.append(Token(PUNCT, ch, start))
                _bad_at_end(text, tokens, n)
            tokens.append(Token(NAME_REF if ch == "#" else VALUE_REF, text[start:i], start))
        elif ch in "<>":
            nxt = text[i + 1] if i + 1 < n else ""
            i += 2 if nxt == "=" or (ch == "<" and nxt == ">") else 1
            tokens.append(Token(PUNCT, text[start:i], start))
        elif ch in _SINGLE:
            i += 1
            tokens.append(Token(PUNCT, ch, start))
        else:
            tokens.append(Token(PUNCT, ch, start))
            _bad_at_end(text, tokens, n)
    tokens.append(Token(EOF, "", n))
    return tokens


def _bad_at_end(text: str, tokens: list[Token], n: int) -> NoReturn:
    """The last token is one the grammar never takes: raise for it, with what follows."""
    bad = tokens[-1]
    rest = bad.end
    while rest < n and text[rest] in _SPACE:
        rest += 1
    stop = rest
    while stop < n and text[stop] in _WORD_CHARS:
        stop += 1
    follow = [Token(PUNCT, text[rest:stop], rest)] if stop > rest else []
    syntax_error(text, [*tokens, *follow], len(tokens) - 1)
