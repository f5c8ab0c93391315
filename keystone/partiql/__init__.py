"""PartiQL for KeystoneDB: ``db.execute(statement, parameters)`` (SPEC section 6).

Supported statements (the grammar is in ``docs/partiql.md``)::

    SELECT * | a, b.c FROM t [WHERE ...] [ORDER BY sk [ASC|DESC]] [LIMIT n] [OFFSET m]
    INSERT INTO t VALUE {'pk': 'a', 'sk': 'b', 'n': 1}
    UPDATE t SET a = 1, b = b + ? REMOVE c WHERE pk = ? AND sk = ?
    DELETE FROM t WHERE pk = ? AND sk = ?

A statement goes through ``lexer`` -> ``parser`` (an ``ast``) -> ``planner``
(which picks get / query / scan / put / update / delete and, with
``translate``, turns WHERE, SET/REMOVE and the SELECT list into DynamoDB
expressions with generated ``#pN``/``:pN`` placeholders) -> a plan from
``plans``, which calls the database's public operations. Parsing and
planning happen once per statement text (an LRU cache); executing a cached
statement only binds its ``?`` parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError
from ..table import Page
from .parser import parse
from .planner import cached_plan
from .plans import Plan
from .translate import explain

if TYPE_CHECKING:
    from .plans import Database


def prepare(db: Database, statement: str) -> Plan:
    """The (cached) plan of ``statement`` against ``db``'s schema."""
    if type(statement) is not str:
        raise ValidationError(f"a PartiQL statement must be a str, got {type(statement).__name__}")
    schema = db.schema
    return cached_plan(statement, schema.partition_key, schema.sort_key)


def execute(db: Database, statement: str, parameters: Sequence[Any] | None = None) -> Page:
    """Run one PartiQL statement; each ``?`` takes the next of ``parameters``.

    SELECT returns the matching items (all of them, or the LIMIT/OFFSET
    slice) in one :class:`Page` whose ``last_key`` is ``None``; UPDATE
    returns the updated item; INSERT and DELETE return an empty page.
    """
    # prepare(), inlined: this is the hot path of every point read.
    if type(statement) is not str:
        raise ValidationError(f"a PartiQL statement must be a str, got {type(statement).__name__}")
    schema = db.schema
    plan_ = cached_plan(statement, schema.partition_key, schema.sort_key)
    params: Sequence[Any] = () if parameters is None else parameters
    if (
        type(params) is not list  # the fast, common cases first
        and type(params) is not tuple
        and (
            not isinstance(params, Sequence)
            or isinstance(params, str | bytes | bytearray | memoryview)
        )
    ):
        raise ValidationError(
            "parameters must be a list of values, one for each ? in the statement; "
            f"got {type(parameters).__name__}"
        )
    count = plan_.bindings.param_count
    if len(params) != count:
        raise ValidationError(
            f"the statement has {count} ? parameter{'s' if count != 1 else ''}, "
            f"but {len(params)} value{'s were' if len(params) != 1 else ' was'} given"
        )
    try:
        return plan_.run(db, params)
    except ValidationError as exc:
        better = explain(exc, plan_.bindings.labels)
        if better is exc:
            raise
        raise better from None


__all__ = ["execute", "parse", "prepare"]
