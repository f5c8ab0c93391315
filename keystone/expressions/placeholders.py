"""Expression attribute names (``#n``) and values (``:v``) of one request.

A :class:`Placeholders` is built once per request from the user's ``names``
and ``values`` mappings. Values are normalised here, once. Binding an
expression checks that every placeholder it uses was given and records the
use, so :meth:`Placeholders.check_all_used` can refuse the ones nobody used,
as DynamoDB does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ValidationError
from ..types import MAX_NAME_BYTES, check_name_size, check_unicode, clip, normalize_value

_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _check_key(key: object, prefix: str, what: str) -> str:
    if (
        not isinstance(key, str)
        or not key.startswith(prefix)
        or len(key) < 2
        or not _WORD_CHARS.issuperset(key[1:])
    ):
        shown = clip(key) if isinstance(key, str) else repr(key)
        raise ValidationError(
            f'{what} contains invalid key: Syntax error; key: "{shown}" '
            f"(keys are {prefix!r} followed by letters, digits or '_')"
        )
    return key


def _mapping(given: object, what: str) -> Mapping[Any, Any]:
    if given is None:
        return {}
    if type(given) is dict:
        return given
    if not isinstance(given, Mapping):
        raise ValidationError(f"{what} must be a dict, got {type(given).__name__}")
    return given


class Placeholders:
    """The ``#name`` and ``:value`` substitutions available to a request's expressions."""

    __slots__ = ("env", "names", "used_names", "used_values", "values")

    def __init__(
        self, names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None
    ) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        for key, name in _mapping(names, "ExpressionAttributeNames").items():
            _check_key(key, "#", "ExpressionAttributeNames")
            if not isinstance(name, str) or not name:
                raise ValidationError(
                    "ExpressionAttributeNames contains invalid value: Empty attribute name "
                    f"for key {key}"
                    if name == ""
                    else f"ExpressionAttributeNames: {key} must stand for a str, got "
                    f"{type(name).__name__}"
                )
            if not name.isascii():
                check_unicode(name, f"ExpressionAttributeNames {key}")
            if len(name) > MAX_NAME_BYTES // 4:
                check_name_size(name)
            self.names[key] = name
        for key, value in _mapping(values, "ExpressionAttributeValues").items():
            _check_key(key, ":", "ExpressionAttributeValues")
            self.values[key] = normalize_value(value, path=key)
        #: Names and values together: what compiled expressions look placeholders up in.
        self.env: dict[str, Any] = {**self.names, **self.values}
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()

    def use(self, names: Iterable[str], values: Iterable[str]) -> None:
        """Record that an expression uses these placeholders; refuse undefined ones."""
        for key in names:
            if key not in self.names:
                raise ValidationError(
                    "An expression attribute name used in the document path is not defined; "
                    f"attribute name: {key}"
                )
            self.used_names.add(key)
        for key in values:
            if key not in self.values:
                raise ValidationError(
                    "An expression attribute value used in expression is not defined; "
                    f"attribute value: {key}"
                )
            self.used_values.add(key)

    def check_all_used(self) -> None:
        """Raise ValidationError naming the names and values no expression used."""
        problems = []
        unused_names = sorted(set(self.names) - self.used_names)
        unused_values = sorted(set(self.values) - self.used_values)
        if unused_names:
            problems.append(
                "Value provided in ExpressionAttributeNames unused in expressions: "
                f"keys: {{{', '.join(unused_names)}}}"
            )
        if unused_values:
            problems.append(
                "Value provided in ExpressionAttributeValues unused in expressions: "
                f"keys: {{{', '.join(unused_values)}}}"
            )
        if problems:
            raise ValidationError("; ".join(problems))

    def __repr__(self) -> str:
        return f"Placeholders(names={self.names!r}, values={self.values!r})"
