"""Recursive-descent parser for condition, update and projection expressions.

This module owns the grammar and the text-level limits (4096 UTF-8 bytes, up
to 100 ``IN`` operands). Each ``parse_*`` function is pure and cached by the
expression text, so a hot expression is parsed once per process. Syntax
errors are :class:`ValidationError` naming the column and what was expected.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from ..errors import ValidationError
from .ast import (
    AddAction,
    And,
    Arithmetic,
    Between,
    Call,
    Comparison,
    ConditionNode,
    DeleteAction,
    Function,
    In,
    Index,
    Name,
    Not,
    Operand,
    Or,
    Path,
    PathElement,
    ProjectionExpression,
    RemoveAction,
    SetAction,
    SetOperand,
    SetValue,
    Size,
    UpdateExpression,
    ValueRef,
)
from .lexer import EOF, IDENT, INT, NAME_REF, PUNCT, VALUE_REF, Token, syntax_error, tokenize

#: DynamoDB's limit on the length of one expression, in UTF-8 bytes.
MAX_EXPRESSION_BYTES: Final = 4096
#: DynamoDB's limit on the operands of one ``IN``.
MAX_IN_OPERANDS: Final = 100
#: Entries kept in each parse cache.
CACHE_SIZE: Final = 2048

COMPARATORS: Final = frozenset({"=", "<>", "<", "<=", ">", ">="})
CONDITION_FUNCTIONS: Final = frozenset(
    {"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"}
)
UPDATE_FUNCTIONS: Final = frozenset({"list_append", "if_not_exists"})
UPDATE_CLAUSES: Final = ("SET", "REMOVE", "ADD", "DELETE")

_OPERAND: Final = "an operand (an attribute path, a :value or size(path))"
_PATH: Final = "an attribute name or a #name placeholder"


def check_text(text: object, kind: str) -> str:
    """Check the type, emptiness and byte length of an expression."""
    if not isinstance(text, str):
        raise ValidationError(f"{kind} expression must be a str, got {type(text).__name__}")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_EXPRESSION_BYTES:
        raise ValidationError(
            f"{kind} expression is {size} bytes; the limit is {MAX_EXPRESSION_BYTES}"
        )
    if not text.strip():
        raise ValidationError(f"{kind} expression is empty")
    return text


@lru_cache(maxsize=CACHE_SIZE)
def parse_condition(text: str) -> ConditionNode:
    """Parse a condition (or filter) expression."""
    check_text(text, "condition")
    try:
        parser = _Parser(text)
        result = parser.condition()
        parser.expect_end("AND, OR or the end of the expression")
    except ValidationError as exc:
        raise ValidationError(f"invalid condition expression: {exc}") from None
    return result


@lru_cache(maxsize=CACHE_SIZE)
def parse_update(text: str) -> UpdateExpression:
    """Parse an update expression (SET / REMOVE / ADD / DELETE clauses)."""
    check_text(text, "update")
    try:
        return _Parser(text).update()
    except ValidationError as exc:
        raise ValidationError(f"invalid update expression: {exc}") from None


@lru_cache(maxsize=CACHE_SIZE)
def parse_projection(text: str) -> ProjectionExpression:
    """Parse a projection expression: comma-separated paths."""
    check_text(text, "projection")
    try:
        parser = _Parser(text)
        paths = [parser.path()]
        while parser.at_punct(","):
            parser.advance()
            paths.append(parser.path())
        parser.expect_end("',' or the end of the expression")
    except ValidationError as exc:
        raise ValidationError(f"invalid projection expression: {exc}") from None
    return ProjectionExpression(tuple(paths))


class _Parser:
    """Cursor over the tokens of one expression."""

    __slots__ = ("_pos", "_tokens")

    def __init__(self, text: str) -> None:
        self._tokens = tokenize(text)
        self._pos = 0

    # -- cursor ------------------------------------------------------------

    def peek(self, offset: int = 0) -> Token:
        return self._tokens[min(self._pos + offset, len(self._tokens) - 1)]

    def advance(self) -> Token:
        token = self._tokens[self._pos]
        if token.kind != EOF:
            self._pos += 1
        return token

    def at_punct(self, text: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token.kind == PUNCT and token.text == text

    def expect_punct(self, text: str, expected: str | None = None) -> Token:
        token = self.peek()
        if token.kind != PUNCT or token.text != text:
            syntax_error(token, expected or repr(text))
        return self.advance()

    def expect_end(self, expected: str) -> None:
        token = self.peek()
        if token.kind != EOF:
            syntax_error(token, expected)

    def at_call(self) -> bool:
        return self.peek().kind == IDENT and self.at_punct("(", 1)

    # -- paths -------------------------------------------------------------

    def path(self, expected: str = _PATH) -> Path:
        elements: list[PathElement] = [self._name(expected)]
        while True:
            if self.at_punct("."):
                self.advance()
                elements.append(self._name(_PATH))
            elif self.at_punct("["):
                self.advance()
                token = self.advance()
                if token.kind != INT:
                    syntax_error(token, "a list index (a non-negative integer)")
                self.expect_punct("]", "']' closing the list index")
                elements.append(Index(int(token.text)))
            else:
                return Path(tuple(elements))

    def _name(self, expected: str) -> Name:
        token = self.peek()
        if token.kind == NAME_REF:
            self.advance()
            return Name(token.text, True)
        if token.kind == IDENT:
            keyword = token.keyword
            if keyword is not None:
                syntax_error(
                    token,
                    f"{expected}; {keyword} is a reserved word, so an attribute with "
                    f"that name needs a #name placeholder",
                )
            self.advance()
            return Name(token.text, False)
        syntax_error(token, expected)

    # -- conditions ----------------------------------------------------------

    def condition(self) -> ConditionNode:
        left = self._conjunction()
        while self.peek().keyword == "OR":
            self.advance()
            left = Or(left, self._conjunction())
        return left

    def _conjunction(self) -> ConditionNode:
        left = self._negation()
        while self.peek().keyword == "AND":
            self.advance()
            left = And(left, self._negation())
        return left

    def _negation(self) -> ConditionNode:
        if self.peek().keyword == "NOT":
            self.advance()
            return Not(self._negation())
        return self._primary()

    def _primary(self) -> ConditionNode:
        if self.at_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")", "')' closing the parenthesis, AND or OR")
            return inner
        token = self.peek()
        if self.at_call():
            if token.text in CONDITION_FUNCTIONS:
                return self._function()
            if token.text != "size":
                syntax_error(
                    token,
                    "a condition; known functions are "
                    + ", ".join(sorted(CONDITION_FUNCTIONS | {"size"})),
                )
        if token.kind == EOF:
            syntax_error(token, "a condition")
        return self._comparison(self.operand())

    def _comparison(self, left: Operand) -> ConditionNode:
        token = self.peek()
        if token.kind == PUNCT and token.text in COMPARATORS:
            self.advance()
            return Comparison(token.text, left, self.operand())
        keyword = token.keyword
        if keyword == "BETWEEN":
            self.advance()
            low = self.operand()
            if self.peek().keyword != "AND":
                syntax_error(self.peek(), "AND between the bounds of BETWEEN")
            self.advance()
            return Between(left, low, self.operand())
        if keyword == "IN":
            self.advance()
            self.expect_punct("(", "'(' opening the list of IN operands")
            choices = [self.operand()]
            while self.at_punct(","):
                self.advance()
                choices.append(self.operand())
            self.expect_punct(")", "',' or ')' closing the list of IN operands")
            if len(choices) > MAX_IN_OPERANDS:
                raise ValidationError(
                    f"IN at column {token.column} has {len(choices)} operands; "
                    f"the limit is {MAX_IN_OPERANDS}"
                )
            return In(left, tuple(choices))
        syntax_error(token, "a comparator (=, <>, <, <=, >, >=), BETWEEN or IN")

    def operand(self) -> Operand:
        token = self.peek()
        if token.kind == VALUE_REF:
            self.advance()
            return ValueRef(token.text)
        if self.at_call():
            if token.text != "size":
                syntax_error(token, f"{_OPERAND}; {token.text}() cannot be used here")
            self.advance()
            self.advance()
            path = self.path()
            self.expect_punct(")", "')' closing size(; size takes one attribute path")
            return Size(path)
        if token.kind == INT:
            syntax_error(token, f"{_OPERAND}; literal values must be passed as :value placeholders")
        return self.path(_OPERAND)

    def _function(self) -> Function:
        name = self.advance().text
        self.advance()  # '('
        args: list[Operand] = [self.path()]
        if name in ("attribute_exists", "attribute_not_exists"):
            closing = f"')'; {name} takes one attribute path"
        else:
            self.expect_punct(",", f"',' and the second argument of {name}")
            if name == "attribute_type":
                token = self.peek()
                if token.kind != VALUE_REF:
                    syntax_error(token, "a :value placeholder holding a type code such as 'S'")
                self.advance()
                args.append(ValueRef(token.text))
            else:
                args.append(self.operand())
            closing = f"')'; {name} takes two arguments"
        self.expect_punct(")", closing)
        return Function(name, tuple(args))

    # -- updates -------------------------------------------------------------

    def update(self) -> UpdateExpression:
        actions: dict[str, list[object]] = {clause: [] for clause in UPDATE_CLAUSES}
        seen: dict[str, int] = {}
        expected = "SET, REMOVE, ADD or DELETE"
        while True:
            token = self.peek()
            if token.kind == EOF and seen:
                break
            clause = token.keyword
            if clause not in actions:
                syntax_error(token, expected)
            if clause in seen:
                raise ValidationError(
                    f"syntax error at column {token.column}: the {clause} clause appears twice "
                    f"(first at column {seen[clause]}); put all its actions in one clause, "
                    "separated by commas"
                )
            seen[clause] = token.column
            self.advance()
            actions[clause].append(self._action(clause))
            while self.at_punct(","):
                self.advance()
                actions[clause].append(self._action(clause))
            expected = f"',' (another {clause} action), SET, REMOVE, ADD, DELETE or the end"
        return UpdateExpression(
            tuple(a for a in actions["SET"] if isinstance(a, SetAction)),
            tuple(a for a in actions["REMOVE"] if isinstance(a, RemoveAction)),
            tuple(a for a in actions["ADD"] if isinstance(a, AddAction)),
            tuple(a for a in actions["DELETE"] if isinstance(a, DeleteAction)),
        )

    def _action(self, clause: str) -> SetAction | RemoveAction | AddAction | DeleteAction:
        path = self.path()
        if clause == "SET":
            self.expect_punct("=", f"'=' after the path {path} in SET")
            return SetAction(path, self._set_value())
        if clause == "REMOVE":
            return RemoveAction(path)
        token = self.peek()
        if token.kind != VALUE_REF:
            syntax_error(token, f"a :value placeholder ({clause} path :value)")
        self.advance()
        if clause == "ADD":
            return AddAction(path, ValueRef(token.text))
        return DeleteAction(path, ValueRef(token.text))

    def _set_value(self) -> SetValue:
        left = self._set_operand()
        token = self.peek()
        if token.kind == PUNCT and token.text in ("+", "-"):
            self.advance()
            return Arithmetic(token.text, left, self._set_operand())
        return left

    def _set_operand(self) -> SetOperand:
        token = self.peek()
        if token.kind == VALUE_REF:
            self.advance()
            return ValueRef(token.text)
        if self.at_call():
            if token.text not in UPDATE_FUNCTIONS:
                syntax_error(
                    token,
                    "a SET value; the functions allowed in SET are list_append and if_not_exists",
                )
            self.advance()
            self.advance()
            first: SetOperand = (
                self.path() if token.text == "if_not_exists" else self._set_operand()
            )
            self.expect_punct(",", f"',' and the second argument of {token.text}")
            second = self._set_operand()
            self.expect_punct(")", f"')'; {token.text} takes two arguments")
            return Call(token.text, (first, second))
        if token.kind == INT:
            syntax_error(token, "a SET value; literal values must be passed as :value placeholders")
        return self.path("a SET value (an attribute path, a :value or a function)")
