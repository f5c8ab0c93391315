"""Parser for condition, filter, key condition, update and projection expressions.

This module owns the grammar and the text-level limits, which are
DynamoDB's: 4096 UTF-8 bytes, 300 operators and functions, 100 ``IN``
operands, document paths 32 levels deep, list indexes up to 4294967294.
Each ``parse_*`` function is pure and cached by (text, kind), so a hot
expression is parsed once per process. Every error is a
:class:`ValidationError` worded as DynamoDB words it, prefixed with the
expression's kind (``Invalid UpdateExpression: Syntax error; token: ...``).

The parse depth is bounded by construction: chains of ``AND``/``OR`` are
read in loops into one n-ary node, a run of ``NOT`` in a loop, and only
parentheses and nested function calls recurse, each counted against
:data:`MAX_NESTING`; past it the parser stops with a ValidationError
before Python's own stack is anywhere near its limit.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from ..errors import ValidationError
from ..types import check_unicode
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
from .reserved import RESERVED_WORDS

#: DynamoDB's limit on the length of one expression, in UTF-8 bytes.
MAX_EXPRESSION_BYTES: Final = 4096
#: DynamoDB's limit on the operands of one ``IN``.
MAX_IN_OPERANDS: Final = 100
#: DynamoDB's limit on operators and functions in one expression.
MAX_OPERATORS: Final = 300
#: DynamoDB's limit on the levels of one document path (``a.b[0]`` has 3).
MAX_PATH_DEPTH: Final = 32
#: DynamoDB's largest list index in a document path.
MAX_LIST_INDEX: Final = 4_294_967_294
#: Levels of parentheses and nested function calls one expression may use
#: (ours: DynamoDB documents none; this keeps parsing and evaluation far from
#: Python's recursion limit whatever the text).
MAX_NESTING: Final = 64
#: Entries kept in each parse cache.
CACHE_SIZE: Final = 2048

COMPARATORS: Final = frozenset({"=", "<>", "<", "<=", ">", ">="})
#: Boolean functions of conditions and the number of operands each takes.
CONDITION_FUNCTIONS: Final = {
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
}
UPDATE_FUNCTIONS: Final = frozenset({"list_append", "if_not_exists"})
KNOWN_FUNCTIONS: Final = frozenset({*CONDITION_FUNCTIONS, *UPDATE_FUNCTIONS, "size"})
UPDATE_CLAUSES: Final = ("SET", "REMOVE", "ADD", "DELETE")

CONDITION: Final = "ConditionExpression"
FILTER: Final = "FilterExpression"
KEY_CONDITION: Final = "KeyConditionExpression"
UPDATE: Final = "UpdateExpression"
PROJECTION: Final = "ProjectionExpression"


def invalid(kind: str, message: str) -> ValidationError:
    """DynamoDB's error for a fault in an expression of ``kind``."""
    return ValidationError(f"Invalid {kind}: {message}")


def check_text(text: object, kind: str) -> str:
    """Check the type, encoding, emptiness and byte length of an expression."""
    if not isinstance(text, str):
        raise ValidationError(f"{kind} must be a str, got {type(text).__name__}")
    check_unicode(text, kind)
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    if size > MAX_EXPRESSION_BYTES:
        raise invalid(
            kind, f"Expression size has exceeded the maximum allowed size; expression size: {size}"
        )
    if not text.strip():
        raise invalid(kind, "The expression can not be empty;")
    return text


def _parse(text: str, kind: str, rule: str) -> object:
    check_text(text, kind)
    try:
        parser = _Parser(text)
        if rule == "condition":
            result: object = parser.condition()
            parser.expect_end()
        elif rule == "update":
            result = parser.update()
        else:
            paths = [parser.path()]
            while parser.at_punct(","):
                parser.advance()
                paths.append(parser.path())
            parser.expect_end()
            result = ProjectionExpression(tuple(paths))
        parser.check_operators()
    except ValidationError as exc:
        raise invalid(kind, str(exc)) from None
    return result


@lru_cache(maxsize=CACHE_SIZE)
def parse_condition(text: str, kind: str = CONDITION) -> ConditionNode:
    """Parse a condition, filter or key condition expression."""
    return _parse(text, kind, "condition")  # type: ignore[return-value]


@lru_cache(maxsize=CACHE_SIZE)
def parse_update(text: str) -> UpdateExpression:
    """Parse an update expression (SET / REMOVE / ADD / DELETE clauses)."""
    return _parse(text, UPDATE, "update")  # type: ignore[return-value]


@lru_cache(maxsize=CACHE_SIZE)
def parse_projection(text: str) -> ProjectionExpression:
    """Parse a projection expression: comma-separated paths."""
    return _parse(text, PROJECTION, "projection")  # type: ignore[return-value]


def _function_misused(name: str) -> ValidationError:
    return ValidationError(
        f"The function is not allowed to be used this way in an expression; function: {name}"
    )


def _operand_count(name: str, count: int) -> ValidationError:
    return ValidationError(
        "Incorrect number of operands for operator or function; "
        f"operator or function: {name}, number of operands: {count}"
    )


def _needs_path(name: str) -> ValidationError:
    return ValidationError(
        f"Operator or function requires a document path; operator or function: {name}"
    )


class _Parser:
    """Cursor over the tokens of one expression, with its depth and operator counts."""

    __slots__ = ("_depth", "_operators", "_pos", "_text", "_tokens")

    def __init__(self, text: str) -> None:
        self._text = text
        self._tokens = tokenize(text)
        self._pos = 0
        self._depth = 0
        self._operators = 0

    # -- cursor ------------------------------------------------------------

    def peek(self, offset: int = 0) -> Token:
        return self._tokens[min(self._pos + offset, len(self._tokens) - 1)]

    def advance(self) -> Token:
        token = self._tokens[self._pos]
        if token.kind != EOF:
            self._pos += 1
        return token

    def fail(self) -> None:
        """Raise the syntax error for the current token."""
        syntax_error(self._text, self._tokens, self._pos)

    def at_punct(self, text: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return token.kind == PUNCT and token.text == text

    def expect_punct(self, text: str) -> Token:
        if not self.at_punct(text):
            self.fail()
        return self.advance()

    def expect_end(self) -> None:
        if self.peek().kind != EOF:
            self.fail()

    def at_call(self) -> bool:
        return self.peek().kind == IDENT and self.at_punct("(", 1)

    def operator(self) -> None:
        self._operators += 1

    def check_operators(self) -> None:
        if self._operators > MAX_OPERATORS:
            raise ValidationError(
                f"The expression contains too many operators; operator count: {self._operators}"
            )

    def enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise ValidationError(
                "The expression has too many nested levels of parentheses or functions; "
                f"nesting levels: {self._depth}, limit: {MAX_NESTING}"
            )

    def leave(self) -> None:
        self._depth -= 1

    # -- paths -------------------------------------------------------------

    def path(self) -> Path:
        elements: list[PathElement] = [self._name()]
        while True:
            if self.at_punct("."):
                self.advance()
                elements.append(self._name())
            elif self.at_punct("["):
                self.advance()
                if self.peek().kind != INT:
                    self.fail()
                index = int(self.advance().text)
                if index > MAX_LIST_INDEX:
                    raise ValidationError(
                        f"List index is not within the allowable range; index: [{index}]"
                    )
                self.expect_punct("]")
                elements.append(Index(index))
            else:
                break
        if len(elements) > MAX_PATH_DEPTH:
            raise ValidationError(
                "The document path has too many nesting levels; "
                f"nesting levels: {len(elements)}, limit: {MAX_PATH_DEPTH}"
            )
        return Path(tuple(elements))

    def _name(self) -> Name:
        token = self.peek()
        if token.kind == NAME_REF:
            self.advance()
            return Name(token.text, True)
        if token.kind == IDENT and token.keyword is None:
            if token.text.upper() in RESERVED_WORDS:
                raise ValidationError(
                    f"Attribute name is a reserved keyword; reserved keyword: {token.text}"
                )
            self.advance()
            return Name(token.text, False)
        self.fail()
        raise AssertionError("not reached")

    # -- conditions ----------------------------------------------------------

    def condition(self) -> ConditionNode:
        parts = [self._conjunction()]
        while self.peek().keyword == "OR":
            self.advance()
            self.operator()
            parts.append(self._conjunction())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def _conjunction(self) -> ConditionNode:
        parts = [self._negation()]
        while self.peek().keyword == "AND":
            self.advance()
            self.operator()
            parts.append(self._negation())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def _negation(self) -> ConditionNode:
        negated = False
        while self.peek().keyword == "NOT":  # NOT NOT x is x: a loop, not recursion
            self.advance()
            self.operator()
            negated = not negated
        node = self._primary()
        return Not(node) if negated else node

    def _primary(self) -> ConditionNode:
        if self.at_punct("("):
            self.advance()
            self.enter()
            inner = self.condition()
            self.expect_punct(")")
            self.leave()
            return inner
        token = self.peek()
        if self.at_call():
            name = token.text
            if name in CONDITION_FUNCTIONS:
                return self._function()
            if name != "size":
                if name in KNOWN_FUNCTIONS:
                    raise _function_misused(name)
                raise ValidationError(f"Invalid function name; function: {name}")
        return self._comparison(self.operand())

    def _comparison(self, left: Operand) -> ConditionNode:
        token = self.peek()
        if token.kind == PUNCT and token.text in COMPARATORS:
            self.advance()
            self.operator()
            return Comparison(token.text, left, self.operand())
        keyword = token.keyword
        if keyword == "BETWEEN":
            self.advance()
            self.operator()
            low = self.operand()
            if self.peek().keyword != "AND":
                self.fail()
            self.advance()
            return Between(left, low, self.operand())
        if keyword == "IN":
            self.advance()
            self.operator()
            self.expect_punct("(")
            choices = [self.operand()]
            while self.at_punct(","):
                self.advance()
                choices.append(self.operand())
            self.expect_punct(")")
            if len(choices) > MAX_IN_OPERANDS:
                raise ValidationError(
                    "The IN operator is provided with too many operands; "
                    f"number of operands: {len(choices)}"
                )
            return In(left, tuple(choices))
        self.fail()
        raise AssertionError("not reached")

    def operand(self) -> Operand:
        """A path, a ``:value`` or ``size(...)``: what comparisons compare."""
        token = self.peek()
        if token.kind == VALUE_REF:
            self.advance()
            return ValueRef(token.text)
        if self.at_call():
            name = token.text
            if name != "size":
                if name in KNOWN_FUNCTIONS:
                    raise _function_misused(name)
                raise ValidationError(f"Invalid function name; function: {name}")
            args = self._arguments()
            if len(args) != 1:
                raise _operand_count("size", len(args))
            return Size(args[0])
        return self.path()

    def _arguments(self) -> list[Path | ValueRef]:
        """``name(arg, ...)`` of a condition function: paths and ``:values``."""
        self.advance()
        self.advance()  # '('
        self.operator()
        args: list[Path | ValueRef] = []
        if self.at_punct(")"):
            self.advance()
            return args
        while True:
            token = self.peek()
            if token.kind == VALUE_REF:
                self.advance()
                args.append(ValueRef(token.text))
            elif self.at_call():
                raise _function_misused(token.text)
            else:
                args.append(self.path())
            if not self.at_punct(","):
                break
            self.advance()
        self.expect_punct(")")
        return args

    def _function(self) -> Function:
        name = self.peek().text
        args = self._arguments()
        if len(args) != CONDITION_FUNCTIONS[name]:
            raise _operand_count(name, len(args))
        if name in ("attribute_exists", "attribute_not_exists") and not isinstance(args[0], Path):
            raise _needs_path(name)
        return Function(name, tuple(args))

    # -- updates -------------------------------------------------------------

    def update(self) -> UpdateExpression:
        actions: dict[str, list[object]] = {clause: [] for clause in UPDATE_CLAUSES}
        seen: set[str] = set()
        while True:
            token = self.peek()
            if token.kind == EOF and seen:
                break
            clause = token.keyword
            if clause not in actions:
                self.fail()
            assert clause is not None
            if clause in seen:
                raise ValidationError(
                    f'The "{clause}" section can only be used once in an update expression;'
                )
            seen.add(clause)
            self.advance()
            actions[clause].append(self._action(clause))
            while self.at_punct(","):
                self.advance()
                actions[clause].append(self._action(clause))
        return UpdateExpression(
            tuple(a for a in actions["SET"] if isinstance(a, SetAction)),
            tuple(a for a in actions["REMOVE"] if isinstance(a, RemoveAction)),
            tuple(a for a in actions["ADD"] if isinstance(a, AddAction)),
            tuple(a for a in actions["DELETE"] if isinstance(a, DeleteAction)),
        )

    def _action(self, clause: str) -> SetAction | RemoveAction | AddAction | DeleteAction:
        path = self.path()
        if clause == "SET":
            self.expect_punct("=")
            return SetAction(path, self._set_value())
        if clause == "REMOVE":
            return RemoveAction(path)
        token = self.peek()
        if token.kind != VALUE_REF:
            self.fail()
        self.advance()
        self.operator()
        if clause == "ADD":
            return AddAction(path, ValueRef(token.text))
        return DeleteAction(path, ValueRef(token.text))

    def _set_value(self) -> SetValue:
        left = self._set_operand(False)
        token = self.peek()
        if token.kind == PUNCT and token.text in ("+", "-"):
            self.advance()
            self.operator()
            return Arithmetic(token.text, left, self._set_operand(False))
        return left

    def _set_operand(self, in_list_append: bool) -> SetOperand:
        token = self.peek()
        if token.kind == VALUE_REF:
            self.advance()
            return ValueRef(token.text)
        if not self.at_call():
            return self.path()
        name = token.text
        if name not in UPDATE_FUNCTIONS:
            if name in KNOWN_FUNCTIONS:
                raise _function_misused(name)
            raise ValidationError(f"Invalid function name; function: {name}")
        if name == "list_append" and in_list_append:
            raise _function_misused(name)
        self.advance()
        self.advance()  # '('
        self.operator()
        self.enter()
        inner = in_list_append or name == "list_append"
        args: list[SetOperand] = []
        if not self.at_punct(")"):
            args.append(self._set_operand(inner))
            while self.at_punct(","):
                self.advance()
                args.append(self._set_operand(inner))
        self.expect_punct(")")
        self.leave()
        if len(args) != 2:
            raise _operand_count(name, len(args))
        if name == "if_not_exists" and not isinstance(args[0], Path):
            raise _needs_path(name)
        return Call(name, (args[0], args[1]))
