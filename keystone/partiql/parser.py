"""Recursive-descent parser for KeystoneDB's PartiQL statements.

This module owns the grammar (see ``docs/partiql.md``)::

    SELECT * | path, ... FROM target [WHERE cond] [ORDER BY path [ASC|DESC]]
           [LIMIT n] [OFFSET m]
    INSERT INTO target VALUE value
    UPDATE target (SET path = expr, ... | REMOVE path, ...)+ WHERE cond
    DELETE FROM target WHERE cond

:func:`parse` is pure and cached by the statement text, so a hot statement
is parsed once per process. Every syntax error is a ValidationError naming
the line and column and what was expected there.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from ..errors import ValidationError
from ..expressions import MAX_IN_OPERANDS
from ..types import MAX_NESTING_DEPTH, parse_number
from .ast import (
    And,
    Arithmetic,
    Assignment,
    Between,
    Call,
    Comparison,
    Condition,
    Delete,
    Function,
    In,
    Insert,
    Is,
    ListValue,
    Literal,
    MapValue,
    Not,
    Operand,
    Or,
    OrderBy,
    Param,
    Path,
    Select,
    SetOperand,
    SetValue,
    Size,
    Statement,
    Target,
    Update,
    Value,
    Where,
)
from .lexer import EOF, NUMBER, PARAM, PUNCT, QUOTED, STRING, WORD, Token, error_at, syntax_error
from .lexer import tokenize as _tokenize

#: Statements kept in the parse cache.
CACHE_SIZE: Final = 1024
#: How deeply parentheses, NOT and SET functions may nest in one statement.
MAX_CONDITION_DEPTH: Final = 64

COMPARATORS: Final = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
BOOLEAN_FUNCTIONS: Final = (
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
)
SET_FUNCTIONS: Final = ("list_append", "if_not_exists")

_PATH: Final = "an attribute name (double-quote names that are keywords or hold other characters)"
_VALUE: Final = "a value (a 'string', a number, true, false, null, ?, [list], {map} or <<set>>)"
_OPERAND: Final = "an attribute path or a value"


@lru_cache(maxsize=CACHE_SIZE)
def parse(text: str) -> Statement:
    """Parse one statement (an optional trailing ``;`` is allowed)."""
    if not isinstance(text, str):
        raise ValidationError(f"a PartiQL statement must be a str, got {type(text).__name__}")
    parser = _Parser(_tokenize(text))
    statement = parser.statement()
    if parser.at_punct(";"):
        parser.advance()
    parser.expect_end()
    return statement


class _Parser:
    """Cursor over the tokens of one statement."""

    __slots__ = ("_depth", "_nesting", "_params", "_pos", "_tokens")

    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._pos = 0
        self._params = 0
        self._depth = 0  # of nested values
        self._nesting = 0  # of parentheses and NOT in a condition

    # -- cursor ----------------------------------------------------------------

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

    def at_keyword(self, keyword: str) -> bool:
        return self.peek().keyword == keyword

    def expect_punct(self, text: str, expected: str | None = None) -> Token:
        if not self.at_punct(text):
            syntax_error(self.peek(), expected or repr(text))
        return self.advance()

    def expect_keyword(self, keyword: str, expected: str | None = None, hint: str = "") -> Token:
        if not self.at_keyword(keyword):
            syntax_error(self.peek(), expected or keyword, hint)
        return self.advance()

    def expect_end(self) -> None:
        token = self.peek()
        if token.kind != EOF:
            syntax_error(token, "the end of the statement")

    def _param(self, token: Token) -> Param:
        param = Param(self._params, token.line, token.column)
        self._params += 1
        return param

    # -- statements --------------------------------------------------------------

    def statement(self) -> Statement:
        keyword = self.peek().keyword
        if keyword == "SELECT":
            return self._select()
        if keyword == "INSERT":
            return self._insert()
        if keyword == "UPDATE":
            return self._update()
        if keyword == "DELETE":
            return self._delete()
        syntax_error(self.peek(), "SELECT, INSERT, UPDATE or DELETE")

    def _select(self) -> Select:
        self.advance()
        projection: tuple[Path, ...] | None = None
        if self.at_punct("*"):
            self.advance()
        else:
            paths = [self.path("'*' or " + _PATH)]
            while self.at_punct(","):
                self.advance()
                paths.append(self.path())
            projection = tuple(paths)
        self.expect_keyword("FROM", "FROM" if projection is None else "',' or FROM")
        target = self._target()
        where = self._where() if self.at_keyword("WHERE") else None
        order_by = None
        if self.at_keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY", "BY after ORDER")
            path = self.path("the sort key attribute")
            descending = False
            if self.at_keyword("ASC") or self.at_keyword("DESC"):
                descending = self.advance().keyword == "DESC"
            if self.at_punct(","):
                raise error_at(
                    self.peek().line,
                    self.peek().column,
                    "ORDER BY takes one attribute: the sort key",
                )
            order_by = OrderBy(path, descending)
        limit = None
        offset = 0
        if self.at_keyword("LIMIT"):
            self.advance()
            limit = self._count("LIMIT")
        if self.at_keyword("OFFSET"):
            self.advance()
            offset = self._count("OFFSET")
        if limit is None and self.at_keyword("LIMIT"):
            syntax_error(self.peek(), "the end of the statement", "write LIMIT before OFFSET")
        return Select(projection, target, where, order_by, limit, offset, self._params)

    def _count(self, clause: str) -> int:
        token = self.peek()
        if token.kind != NUMBER or not token.text.isdigit():
            syntax_error(token, f"a non-negative integer after {clause}")
        self.advance()
        return int(token.text)

    def _insert(self) -> Insert:
        self.advance()
        self.expect_keyword("INTO", "INTO after INSERT")
        target = self._target()
        token = self.peek()
        if token.kind == WORD and token.text.upper() == "VALUES":
            syntax_error(token, "VALUE", "PartiQL inserts one item: INSERT INTO t VALUE {...}")
        self.expect_keyword("VALUE", "VALUE {...}")
        value = self.value()
        return Insert(target, value, self._params)

    def _update(self) -> Update:
        self.advance()
        target = self._target()
        sets: list[Assignment] = []
        removes: list[Path] = []
        if not (self.at_keyword("SET") or self.at_keyword("REMOVE")):
            syntax_error(self.peek(), "SET or REMOVE")
        while True:
            if self.at_keyword("SET"):
                self.advance()
                sets.append(self._assignment())
                while self.at_punct(","):
                    self.advance()
                    sets.append(self._assignment())
            elif self.at_keyword("REMOVE"):
                self.advance()
                removes.append(self.path())
                while self.at_punct(","):
                    self.advance()
                    removes.append(self.path())
            else:
                break
        if not self.at_keyword("WHERE"):
            syntax_error(
                self.peek(), "',', SET, REMOVE or WHERE", "UPDATE needs WHERE with the item's key"
            )
        return Update(target, tuple(sets), tuple(removes), self._where(), self._params)

    def _delete(self) -> Delete:
        self.advance()
        self.expect_keyword("FROM", "FROM after DELETE")
        target = self._target()
        if not self.at_keyword("WHERE"):
            syntax_error(self.peek(), "WHERE", "DELETE needs WHERE with the item's key")
        return Delete(target, self._where(), self._params)

    def _target(self) -> Target:
        token = self.peek()
        table = self._name("a table name")
        index = None
        if self.at_punct("."):
            self.advance()
            index = self._name('an index name, e.g. t."by_email"')
        return Target(table, index, token.line, token.column)

    def _where(self) -> Where:
        token = self.advance()  # WHERE
        return Where(self.condition(), token.line, token.column)

    # -- paths -------------------------------------------------------------------

    def _name(self, expected: str) -> str:
        token = self.peek()
        if token.kind == QUOTED:
            self.advance()
            return token.value
        if token.kind == WORD:
            if token.keyword is not None:
                syntax_error(
                    token,
                    expected,
                    f'{token.keyword} is a keyword; write "{token.text}" to use it as a name',
                )
            self.advance()
            return token.value
        syntax_error(token, expected)

    def path(self, expected: str = _PATH) -> Path:
        first = self.peek()
        elements: list[str | int] = [self._name(expected)]
        while True:
            if self.at_punct("."):
                self.advance()
                elements.append(self._name(_PATH))
            elif self.at_punct("["):
                self.advance()
                token = self.advance()
                if token.kind == NUMBER and token.text.isdigit():
                    elements.append(int(token.text))
                elif token.kind == STRING and token.value:
                    elements.append(token.value)
                else:
                    syntax_error(token, "a list index (a non-negative integer) or a 'map key'")
                self.expect_punct("]", "']'")
            else:
                return Path(tuple(elements), first.line, first.column)

    # -- values ------------------------------------------------------------------

    def at_value(self) -> bool:
        token = self.peek()
        if token.kind in (STRING, NUMBER, PARAM):
            return True
        if token.kind == PUNCT:
            return token.text in ("[", "{", "<<") or (
                token.text == "-" and self.peek(1).kind == NUMBER
            )
        return token.keyword in ("TRUE", "FALSE", "NULL")

    def value(self) -> Value:
        token = self.peek()
        kind = token.kind
        if kind == STRING:
            self.advance()
            return Literal(token.value, token.line, token.column)
        if kind == NUMBER:
            self.advance()
            return Literal(self._number(token, token.text), token.line, token.column)
        if kind == PARAM:
            self.advance()
            return self._param(token)
        if kind == PUNCT:
            if token.text == "-" and self.peek(1).kind == NUMBER:
                self.advance()
                number = self.advance()
                return Literal(self._number(token, "-" + number.text), token.line, token.column)
            if token.text in ("[", "{", "<<"):
                return self._container(token)
        keyword = token.keyword
        if keyword == "TRUE" or keyword == "FALSE":
            self.advance()
            return Literal(keyword == "TRUE", token.line, token.column)
        if keyword == "NULL":
            self.advance()
            return Literal(None, token.line, token.column)
        syntax_error(token, _VALUE)

    @staticmethod
    def _number(token: Token, text: str) -> object:
        try:
            return parse_number(text, "literal")
        except ValidationError as exc:
            raise error_at(token.line, token.column, str(exc)) from None

    def _container(self, token: Token) -> Value:
        self._depth += 1
        if self._depth > MAX_NESTING_DEPTH:
            raise error_at(
                token.line,
                token.column,
                f"values nest deeper than the limit of {MAX_NESTING_DEPTH} levels",
            )
        self.advance()
        result: Value
        if token.text == "{":
            pairs: list[tuple[str, Value]] = []
            seen: set[str] = set()
            while not self.at_punct("}"):
                if pairs:
                    self.expect_punct(",", "',' or '}'")
                key = self.peek()
                if key.kind != STRING:
                    syntax_error(key, "a map key in single quotes, e.g. {'name': 'value'}")
                if key.value in seen:
                    raise error_at(key.line, key.column, f"map key {key.value!r} appears twice")
                seen.add(key.value)
                self.advance()
                self.expect_punct(":", "':' after the map key")
                pairs.append((key.value, self.value()))
            self.advance()
            result = MapValue(tuple(pairs), token.line, token.column)
        else:
            close = "]" if token.text == "[" else ">>"
            items: list[Value] = []
            while not self.at_punct(close):
                if items:
                    self.expect_punct(",", f"',' or '{close}'")
                items.append(self.value())
            self.advance()
            if close == "]":
                result = ListValue(tuple(items), token.line, token.column)
            else:
                for item in items:
                    if not isinstance(item, Literal | Param):
                        raise error_at(
                            item.line, item.column, "sets hold strings, numbers or bytes"
                        )
                result = SetValue(tuple(items), token.line, token.column)
        self._depth -= 1
        return result

    # -- conditions ----------------------------------------------------------------

    def condition(self) -> Condition:
        left = self._conjunction()
        while self.at_keyword("OR"):
            self.advance()
            left = Or(left, self._conjunction())
        return left

    def _conjunction(self) -> Condition:
        left = self._negation()
        while self.at_keyword("AND"):
            self.advance()
            left = And(left, self._negation())
        return left

    def _nest(self, token: Token) -> None:
        self._nesting += 1
        if self._nesting > MAX_CONDITION_DEPTH:
            raise error_at(
                token.line,
                token.column,
                f"parentheses, NOT and functions nest deeper than the limit of {MAX_CONDITION_DEPTH} levels",
            )

    def _negation(self) -> Condition:
        if self.at_keyword("NOT"):
            token = self.advance()
            self._nest(token)
            inner = self._negation()
            self._nesting -= 1
            return Not(inner)
        return self._primary()

    def _primary(self) -> Condition:
        token = self.peek()
        if self.at_punct("("):
            self.advance()
            self._nest(token)
            inner = self.condition()
            self._nesting -= 1
            self.expect_punct(")", "')', AND or OR")
            return inner
        if token.kind == WORD and token.keyword is None and self.at_punct("(", 1):
            name = token.text.lower()
            if name in BOOLEAN_FUNCTIONS:
                return self._function(name)
            if name != "size":
                syntax_error(
                    token,
                    "a condition",
                    "known functions are " + ", ".join((*BOOLEAN_FUNCTIONS, "size")),
                )
        if token.kind == EOF:
            syntax_error(token, "a condition")
        return self._predicate(self.operand())

    def _predicate(self, left: Operand) -> Condition:
        token = self.peek()
        if token.kind == PUNCT and token.text in COMPARATORS:
            self.advance()
            return Comparison(COMPARATORS[token.text], left, self.operand())
        keyword = token.keyword
        negated = False
        if keyword == "NOT" and self.peek(1).keyword in ("BETWEEN", "IN"):
            self.advance()
            negated = True
            keyword = self.peek().keyword
        result: Condition
        if keyword == "BETWEEN":
            self.advance()
            low = self.operand()
            self.expect_keyword("AND", "AND between the bounds of BETWEEN")
            result = Between(left, low, self.operand())
        elif keyword == "IN":
            result = self._in(left)
        elif keyword == "IS" and not negated:
            self.advance()
            is_not = False
            if self.at_keyword("NOT"):
                self.advance()
                is_not = True
            what = self.peek()
            if what.keyword not in ("MISSING", "NULL"):
                syntax_error(what, "MISSING or NULL after IS" + (" NOT" if is_not else ""))
            self.advance()
            if not isinstance(left, Path):
                raise error_at(
                    what.line, what.column, f"IS {what.keyword} applies to an attribute path"
                )
            return Is(left, what.keyword or "", is_not)
        else:
            syntax_error(
                token,
                "a comparison (=, <>, !=, <, <=, >, >=), BETWEEN, IN or IS",
            )
        return Not(result) if negated else result

    def _in(self, left: Operand) -> In:
        token = self.advance()  # IN
        opening = self.peek()
        if not (self.at_punct("[") or self.at_punct("(")):
            syntax_error(opening, "'[' or '(' opening the IN list")
        close = "]" if opening.text == "[" else ")"
        self.advance()
        if self.at_punct(close):
            raise error_at(opening.line, opening.column, "the IN list must not be empty")
        choices = [self.operand()]
        while self.at_punct(","):
            self.advance()
            choices.append(self.operand())
        self.expect_punct(close, f"',' or '{close}' closing the IN list")
        if len(choices) > MAX_IN_OPERANDS:
            raise error_at(
                token.line,
                token.column,
                f"IN has {len(choices)} values; the limit is {MAX_IN_OPERANDS}",
            )
        return In(left, tuple(choices))

    def operand(self) -> Operand:
        token = self.peek()
        if token.kind == WORD and token.keyword is None and self.at_punct("(", 1):
            if token.text.lower() != "size":
                syntax_error(token, _OPERAND, f"{token.text}() cannot be used here; size(path) can")
            self.advance()
            self.advance()
            path = self.path()
            self.expect_punct(")", "')'; size takes one attribute path")
            return Size(path)
        if self.at_value():
            return self.value()
        if token.kind in (WORD, QUOTED):
            return self.path(_OPERAND)
        syntax_error(token, _OPERAND)

    def _function(self, name: str) -> Function:
        self.advance()
        self.advance()  # '('
        args: list[Operand] = [self.path(f"an attribute path (the first argument of {name})")]
        if name not in ("attribute_exists", "attribute_not_exists"):
            self.expect_punct(",", f"',' and the second argument of {name}")
            if name == "attribute_type":
                args.append(self.value())
            else:
                args.append(self.operand())
            closing = f"')'; {name} takes two arguments"
        else:
            closing = f"')'; {name} takes one attribute path"
        self.expect_punct(")", closing)
        return Function(name, tuple(args))

    # -- SET values ----------------------------------------------------------------

    def _assignment(self) -> Assignment:
        path = self.path()
        self.expect_punct("=", f"'=' after {path} in SET")
        left = self._set_operand()
        token = self.peek()
        if token.kind == PUNCT and token.text in ("+", "-"):
            self.advance()
            return Assignment(path, Arithmetic(token.text, left, self._set_operand()))
        return Assignment(path, left)

    def _set_operand(self) -> SetOperand:
        token = self.peek()
        if token.kind == WORD and token.keyword is None and self.at_punct("(", 1):
            name = token.text.lower()
            if name not in SET_FUNCTIONS:
                syntax_error(
                    token,
                    "a SET value",
                    "the functions allowed in SET are " + ", ".join(SET_FUNCTIONS),
                )
            self.advance()
            self.advance()
            self._nest(token)  # nested calls recurse: bounded like parentheses
            first: SetOperand = self.path() if name == "if_not_exists" else self._set_operand()
            self.expect_punct(",", f"',' and the second argument of {name}")
            second = self._set_operand()
            self.expect_punct(")", f"')'; {name} takes two arguments")
            self._nesting -= 1
            return Call(name, (first, second))
        if self.at_value():
            return self.value()
        if token.kind in (WORD, QUOTED):
            return self.path("a SET value (an attribute path, a value or a function)")
        syntax_error(token, "a SET value (an attribute path, a value or a function)")


__all__ = ["BOOLEAN_FUNCTIONS", "CACHE_SIZE", "parse"]
