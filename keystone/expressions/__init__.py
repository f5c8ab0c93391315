"""DynamoDB's expression language: conditions, filters, updates and projections.

Usage (this is the whole surface the database uses)::

    ph = Placeholders(names={"#a": "age"}, values={":n": 21})
    cond = condition("#a >= :n", ph)          # cond(item) -> bool
    proj = projection("a.b, c[1]", ph)        # proj(item) -> dict
    upd = update("SET #a = #a + :n", ph)      # upd.apply(item) -> new item
    ph.check_all_used()                       # after binding every expression

Expressions are parsed and compiled once per text (an LRU cache); binding
to placeholders and evaluating are cheap. Every problem with an expression
or its placeholders is a :class:`keystone.errors.ValidationError`.

Modules: ``lexer`` and ``parser`` (grammar, limits, syntax errors) produce the
immutable trees of ``ast``; ``compare`` holds DynamoDB's typed equality and
order; ``paths`` reads and checks document paths; ``evaluate`` compiles
conditions and projections; ``update`` applies SET/REMOVE/ADD/DELETE;
``placeholders`` holds a request's ``#names`` and ``:values``.
"""

from __future__ import annotations

from ..errors import ValidationError
from .evaluate import (
    Condition,
    Projection,
    bind_projection,
    compile_condition,
    compile_projection,
)
from .parser import (
    CONDITION,
    FILTER,
    KEY_CONDITION,
    MAX_EXPRESSION_BYTES,
    MAX_IN_OPERANDS,
    PROJECTION,
    UPDATE,
    invalid,
    parse_condition,
    parse_projection,
    parse_update,
)
from .placeholders import Placeholders
from .update import Update, compile_update


def _text(text: object, kind: str) -> str:
    # Before the caches: an unhashable or non-str text must not reach lru_cache.
    if type(text) is not str:
        raise ValidationError(f"{kind} must be a str, got {type(text).__name__}")
    return text


def condition(text: str, placeholders: Placeholders, kind: str = CONDITION) -> Condition:
    """Bind a condition, filter or key condition: ``condition(text, ph)(item) -> bool``."""
    compiled = compile_condition(_text(text, kind), kind)
    try:
        placeholders.use(compiled.names, compiled.values)
        env = placeholders.env
        for check in compiled.checks:
            check(env)
    except ValidationError as exc:
        raise invalid(kind, str(exc)) from None
    return Condition(text, compiled.predicate, env, compiled.roots)


def projection(text: str, placeholders: Placeholders) -> Projection:
    """Bind a projection expression: ``projection(text, ph)(item) -> dict``."""
    compiled = compile_projection(_text(text, PROJECTION))
    try:
        placeholders.use(compiled.names, ())
        return bind_projection(compiled, placeholders.env)
    except ValidationError as exc:
        raise invalid(PROJECTION, str(exc)) from None


def update(text: str, placeholders: Placeholders) -> Update:
    """Bind an update expression: ``update(text, ph).apply(item) -> new item``."""
    compiled = compile_update(_text(text, UPDATE))
    try:
        placeholders.use(compiled.names, compiled.values)
        return Update(text, compiled, placeholders.env)
    except ValidationError as exc:
        raise invalid(UPDATE, str(exc)) from None


__all__ = [
    "CONDITION",
    "FILTER",
    "KEY_CONDITION",
    "MAX_EXPRESSION_BYTES",
    "MAX_IN_OPERANDS",
    "Condition",
    "Placeholders",
    "Projection",
    "Update",
    "condition",
    "parse_condition",
    "parse_projection",
    "parse_update",
    "projection",
    "update",
]
