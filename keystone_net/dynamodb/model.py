"""DynamoDB's service model as data: which operations exist and what their requests may hold.

The shapes come from botocore's copy of DynamoDB's published model
(``dynamodb`` and ``dynamodbstreams``, API version 2012-08-10), never
written out by hand. :class:`ServiceModel` compiles each operation's input
shape, once, into a checker that walks a decoded JSON request and reports

* a JSON value of the wrong kind (a number where a string belongs, a list
  where a structure belongs) as :func:`~keystone_net.dynamodb.errors.serialization`,
  as DynamoDB's parser does, before any constraint is looked at;
* every broken constraint (``required``, ``min``/``max`` lengths and ranges,
  ``enum``, ``pattern``) as one ValidationException in DynamoDB's words::

      1 validation error detected: Value 'ab' at 'tableName' failed to satisfy
      constraint: Member must have length greater than or equal to 3

  (``N validation errors detected: ...; ...`` for several). Paths name
  members in lower camel case, list entries as ``name.1.member`` (1-based).

A table name may be an ARN (the model types it ``TableArn``); a name that is
not one keeps DynamoDB's rules for names (``TableName``: 3 to 255 of
``[a-zA-Z0-9_.-]``), which the endpoint applies as DynamoDB does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Final

import botocore.session

from keystone_net.dynamodb import errors

__all__ = ["DYNAMODB", "STREAMS", "MAX_NESTING", "ServiceModel", "invalid", "null_at"]

#: Nesting levels of a request beyond which it is refused (DynamoDB's 32 for
#: documents, plus the levels of the request around them).
MAX_NESTING: Final = 48

Problems = list[str]
Check = Callable[[Any, str, Problems, int], None]

_JSON_KIND: Final = {
    str: "VALUE_STRING",
    int: "VALUE_NUMBER_INT",
    float: "VALUE_NUMBER_FLOAT",
    bool: "VALUE_BOOLEAN",
    list: "START_ARRAY",
    dict: "START_OBJECT",
}


def _kind(value: Any) -> str:
    return _JSON_KIND.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """A value as DynamoDB quotes it in a validation message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    if isinstance(value, list):
        return "'[" + ", ".join(str(v) for v in value) + "]'"
    if isinstance(value, dict):
        return "'{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}'"
    return f"'{value}'"


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


class ServiceModel:
    """One service's operations (``GetItem``, ...) and their compiled request checkers."""

    def __init__(self, service: str) -> None:
        session = botocore.session.get_session()
        data = session.get_component("data_loader").load_service_model(service, "service-2")
        self.target_prefix: str = data["metadata"]["targetPrefix"]
        self._operations: dict[str, str] = {
            name: op["input"]["shape"] for name, op in data["operations"].items() if "input" in op
        }
        self._shapes: dict[str, dict[str, Any]] = data["shapes"]
        self._checks: dict[str, Check] = {}
        self._names = self._shapes.get("TableName")

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(self._operations)

    def has(self, operation: str) -> bool:
        return operation in self._operations

    def check(self, operation: str, request: Any) -> None:
        """Raise the DynamoDB error of the first problem of ``request``, if any."""
        check = self._check_of(self._operations[operation])
        problems: Problems = []
        check(request, "", problems, 0)
        if problems:
            raise invalid(problems)

    # -- compiling --------------------------------------------------------------

    def _check_of(self, shape_name: str) -> Check:
        check = self._checks.get(shape_name)
        if check is None:
            # A placeholder first: recursive shapes (AttributeValue) refer to themselves.
            def later(value: Any, path: str, problems: Problems, depth: int) -> None:
                self._checks[shape_name](value, path, problems, depth)

            self._checks[shape_name] = later
            check = self._compile(shape_name, self._shapes[shape_name])
            self._checks[shape_name] = check
        return check

    def _compile(self, name: str, shape: dict[str, Any]) -> Check:
        kind = shape["type"]
        if kind == "structure":
            return self._structure(shape)
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            return self._map(shape)
        if kind == "string":
            string = _string(shape)
            if name == "TableArn" and self._names is not None:
                return _table_name(string, _string(self._names))
            return string
        if kind in ("integer", "long"):
            return _number(shape, "Integer" if kind == "integer" else "Long")
        if kind == "double":
            return _number(shape, "Double", floats=True)
        if kind == "boolean":
            return _boolean
        if kind == "blob":
            return _blob
        if kind == "timestamp":
            return _timestamp
        raise ValueError(f"shape {name}: unknown type {kind}")

    def _structure(self, shape: dict[str, Any]) -> Check:
        members = [
            (member, _camel(member), self._check_of(spec["shape"]))
            for member, spec in shape.get("members", {}).items()
        ]
        by_name = {member: (camel, sub) for member, camel, sub in members}
        required = tuple(shape.get("required", ()))

        def in_order(value: dict[str, Any], path: str, problems: Problems, depth: int) -> None:
            prefix = path + "." if path else ""
            for member, camel, sub in members:
                got = value.get(member)
                if got is None:
                    if member in required:
                        problems.append(null_at(prefix + camel))
                    continue
                sub(got, prefix + camel, problems, depth + 1)

        def check(value: Any, path: str, problems: Problems, depth: int) -> None:
            if type(value) is not dict:
                raise errors.serialization(_unexpected(value, "structure"))
            if depth > MAX_NESTING:
                raise errors.validation("Nesting Levels have exceeded supported limits")
            if type(problems) is _InOrder:
                in_order(value, path, problems, depth)
                return
            # The quick check: the members the request has (an AttributeValue
            # has one of ten), no paths built. When all is well, that is the
            # whole check. Otherwise it runs again in the model's order of
            # members, with paths, nested shapes too: DynamoDB's messages in
            # DynamoDB's order. (The top of every check is a structure.)
            seen = len(problems)
            for member in required:
                if value.get(member) is None:
                    break
            else:
                try:
                    for member, got in value.items():
                        entry = by_name.get(member)
                        if entry is not None and got is not None:
                            entry[1](got, "", problems, depth + 1)
                except errors.DynamoError:
                    pass
                else:
                    if len(problems) == seen:
                        return
            ordered = _InOrder()
            in_order(value, path, ordered, depth)
            problems[seen:] = ordered

        return check

    def _list(self, shape: dict[str, Any]) -> Check:
        member = self._check_of(shape["member"]["shape"])
        low, high = shape.get("min"), shape.get("max")

        def check(value: Any, path: str, problems: Problems, depth: int) -> None:
            if type(value) is not list:
                raise errors.serialization(_unexpected(value, "list"))
            if depth > MAX_NESTING:
                raise errors.validation("Nesting Levels have exceeded supported limits")
            _length(value, len(value), low, high, path, problems)
            paths = type(problems) is _InOrder  # (a quick check builds none)
            for i, entry in enumerate(value):
                at = f"{path}.{i + 1}.member" if paths else ""
                if entry is None:  # (no operation has a use for a null in a list)
                    problems.append(null_at(at))
                else:
                    member(entry, at, problems, depth + 1)

        return check

    def _map(self, shape: dict[str, Any]) -> Check:
        key = self._check_of(shape["key"]["shape"])
        item = self._check_of(shape["value"]["shape"])
        low, high = shape.get("min"), shape.get("max")

        def check(value: Any, path: str, problems: Problems, depth: int) -> None:
            if type(value) is not dict:
                raise errors.serialization(_unexpected(value, "map"))
            if depth > MAX_NESTING:
                raise errors.validation("Nesting Levels have exceeded supported limits")
            _length(value, len(value), low, high, path, problems)
            paths = type(problems) is _InOrder  # (a quick check builds none)
            for k, v in value.items():
                key(k, path, problems, depth + 1)
                if v is not None:
                    item(v, f"{path}.{k}.member" if paths else "", problems, depth + 1)

        return check


def null_at(path: str) -> str:
    """The problem of a null (or missing) member at ``path``."""
    return f"Value null at '{path}' failed to satisfy constraint: Member must not be null"


def invalid(problems: Problems) -> errors.DynamoError:
    """DynamoDB's ValidationException for ``problems`` (one or more)."""
    n = len(problems)
    head = "1 validation error detected: " if n == 1 else f"{n} validation errors detected: "
    return errors.validation(head + "; ".join(problems))


class _InOrder(list[str]):
    """The problems of a check that runs in the model's order (see ``_structure``)."""


def _unexpected(value: Any, wanted: str) -> str:
    if isinstance(value, dict):
        return "Start of structure or map found where not expected."
    if isinstance(value, list):
        return "Start of list found where not expected"
    if wanted == "list":
        return f"Unexpected value type in payload: {_kind(value)} where a list belongs"
    return f"Unexpected value type in payload: {_kind(value)} where a {wanted} belongs"


def _length(
    value: Any, size: int, low: int | None, high: int | None, path: str, problems: Problems
) -> None:
    if low is not None and size < low:
        problems.append(
            f"Value {_show(value)} at '{path}' failed to satisfy constraint: "
            f"Member must have length greater than or equal to {low}"
        )
    if high is not None and size > high:
        problems.append(
            f"Value {_show(value)} at '{path}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {high}"
        )


def _string(shape: dict[str, Any]) -> Check:
    low, high = shape.get("min"), shape.get("max")
    enum = tuple(shape.get("enum", ()))
    enum_text = "[" + ", ".join(enum) + "]"
    pattern = shape.get("pattern")
    regex = _regex(pattern)

    def check(value: Any, path: str, problems: Problems, depth: int) -> None:
        if type(value) is not str:
            if isinstance(value, (dict, list)):
                raise errors.serialization(_unexpected(value, "string"))
            raise errors.serialization(f"{_number_kind(value)} cannot be converted to String")
        if low is not None or high is not None:
            _length(value, len(value), low, high, path, problems)
        if enum and value not in enum:
            problems.append(
                f"Value {_show(value)} at '{path}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: {enum_text}"
            )
        if regex is not None and value and not regex.fullmatch(value):
            problems.append(
                f"Value {_show(value)} at '{path}' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {pattern}"
            )

    return check


def _regex(pattern: str | None) -> re.Pattern[str] | None:
    """The model's (Java) pattern as a Python one; ``None`` if Python's ``re`` cannot read it.

    (The patterns that only spell out "any XML character", with surrogate pairs,
    cannot be read; every string a JSON request carries satisfies them.)
    """
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _table_name(as_arn: Check, as_name: Check) -> Check:
    """A ``TableArn`` member: an ARN by the ARN's rules, a name by the name's."""

    def check(value: Any, path: str, problems: Problems, depth: int) -> None:
        if type(value) is str and value.startswith("arn:"):
            as_arn(value, path, problems, depth)
        else:
            as_name(value, path, problems, depth)

    return check


def _number_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_BOOLEAN" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "NUMBER_VALUE"
    if isinstance(value, float):
        return "NUMBER_VALUE"
    return _kind(value)


def _number(shape: dict[str, Any], java: str, floats: bool = False) -> Check:
    low, high = shape.get("min"), shape.get("max")

    def check(value: Any, path: str, problems: Problems, depth: int) -> None:
        ok = type(value) is int or (floats and type(value) is float)
        if not ok:
            if isinstance(value, (dict, list)):
                raise errors.serialization(_unexpected(value, "number"))
            if type(value) is float:  # 1.5 where an integer belongs
                raise errors.serialization(f"NUMBER_VALUE cannot be converted to {java}")
            kind = "STRING_VALUE" if isinstance(value, str) else _number_kind(value)
            raise errors.serialization(f"{kind} cannot be converted to {java}")
        if low is not None and value < low:
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {low}"
            )
        if high is not None and value > high:
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {high}"
            )

    return check


def _boolean(value: Any, path: str, problems: Problems, depth: int) -> None:
    if type(value) is not bool:
        if isinstance(value, (dict, list)):
            raise errors.serialization(_unexpected(value, "boolean"))
        kind = "STRING_VALUE" if isinstance(value, str) else "NUMBER_VALUE"
        raise errors.serialization(f"{kind} cannot be converted to Boolean")


def _blob(value: Any, path: str, problems: Problems, depth: int) -> None:
    if type(value) is not str:
        if isinstance(value, (dict, list)):
            raise errors.serialization(_unexpected(value, "blob"))
        raise errors.serialization(f"{_number_kind(value)} cannot be converted to Blob")


def _timestamp(value: Any, path: str, problems: Problems, depth: int) -> None:
    if type(value) not in (int, float) or isinstance(value, bool):
        raise errors.serialization(f"{_kind(value)} cannot be converted to Timestamp")


@functools.cache
def _load(service: str) -> ServiceModel:
    return ServiceModel(service)


def DYNAMODB() -> ServiceModel:  # noqa: N802 (a constant, loaded on first use)
    """The model of ``DynamoDB_20120810`` (loaded once)."""
    return _load("dynamodb")


def STREAMS() -> ServiceModel:  # noqa: N802
    """The model of ``DynamoDBStreams_20120810`` (loaded once)."""
    return _load("dynamodbstreams")
