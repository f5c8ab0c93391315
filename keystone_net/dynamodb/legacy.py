"""DynamoDB's legacy parameters, translated into expressions in one place.

``Expected`` + ``ConditionalOperator`` become a ``ConditionExpression``,
``QueryFilter``/``ScanFilter`` a ``FilterExpression``, ``KeyConditions`` a
``KeyConditionExpression``, ``AttributesToGet`` a ``ProjectionExpression``
and ``AttributeUpdates`` an ``UpdateExpression``, each with placeholders of
its own (``#lg0``, ``:lg0``, ...) added to the request's
``ExpressionAttributeNames``/``Values``. :func:`translate` rewrites a
request in place, so an operation only ever sees expressions; a request
that mixes both styles gets DynamoDB's ValidationException.
"""

from __future__ import annotations

from typing import Any, Final

from . import errors

__all__ = ["translate"]

#: The legacy parameter -> the expression parameter it becomes.
_EXPRESSION_OF: Final = {
    "Expected": "ConditionExpression",
    "QueryFilter": "FilterExpression",
    "ScanFilter": "FilterExpression",
    "KeyConditions": "KeyConditionExpression",
    "AttributesToGet": "ProjectionExpression",
    "AttributeUpdates": "UpdateExpression",
}
_EXPRESSIONS: Final = (
    "ConditionExpression",
    "FilterExpression",
    "KeyConditionExpression",
    "ProjectionExpression",
    "UpdateExpression",
)
_COMPARE: Final = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
#: How many values each operator takes (None: one or more).
_ARITY: Final = {
    **{op: 1 for op in _COMPARE},
    "NOT_NULL": 0,
    "NULL": 0,
    "CONTAINS": 1,
    "NOT_CONTAINS": 1,
    "BEGINS_WITH": 1,
    "BETWEEN": 2,
    "IN": None,
}


class _Builder:
    """Placeholders for one request's translated expressions."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attribute: str) -> str:
        key = f"#lg{len(self.names)}"
        self.names[key] = attribute
        return key

    def value(self, av: Any) -> str:
        key = f":lg{len(self.values)}"
        self.values[key] = av
        return key

    def condition(self, attribute: str, spec: dict[str, Any], what: str) -> str:
        n = self.name(attribute)
        op = spec.get("ComparisonOperator")
        if op is None:  # Expected's short form: Value and/or Exists
            exists = spec.get("Exists", True)
            if "Value" in spec and spec["Value"] is not None:
                if exists is False:
                    raise errors.validation(
                        "One or more parameter values were invalid: Value cannot be used when "
                        f"Exists is false for Attribute: {attribute}"
                    )
                return f"{n} = {self.value(spec['Value'])}"
            if exists is False:
                return f"attribute_not_exists({n})"
            raise errors.validation(
                "One or more parameter values were invalid: Value must be provided when Exists "
                f"is null for Attribute: {attribute}"
            )
        values = spec.get("AttributeValueList") or []
        arity = _ARITY.get(op)
        if op not in _ARITY:
            raise errors.validation(f"Unsupported operator on {what}: {op}")
        if (arity is None and not values) or (arity is not None and len(values) != arity):
            raise errors.validation(
                "One or more parameter values were invalid: Invalid number of argument(s) "
                f"for the {op} ComparisonOperator"
            )
        refs = [self.value(v) for v in values]
        if op in _COMPARE:
            return f"{n} {_COMPARE[op]} {refs[0]}"
        if op == "NOT_NULL":
            return f"attribute_exists({n})"
        if op == "NULL":
            return f"attribute_not_exists({n})"
        if op == "CONTAINS":
            return f"contains({n}, {refs[0]})"
        if op == "NOT_CONTAINS":
            return f"NOT contains({n}, {refs[0]})"
        if op == "BEGINS_WITH":
            return f"begins_with({n}, {refs[0]})"
        if op == "BETWEEN":
            return f"{n} BETWEEN {refs[0]} AND {refs[1]}"
        return f"{n} IN ({', '.join(refs)})"

    def conditions(self, specs: dict[str, Any], joiner: str | None, what: str) -> str:
        word = (joiner or "AND").upper()
        parts = [f"({self.condition(a, s or {}, what)})" for a, s in specs.items()]
        return f" {word} ".join(parts)

    def updates(self, specs: dict[str, Any]) -> str:
        sets, removes, adds, deletes = [], [], [], []
        for attribute, spec in specs.items():
            spec = spec or {}
            action = spec.get("Action") or "PUT"
            value = spec.get("Value")
            n = self.name(attribute)
            if action == "PUT":
                if value is None:
                    raise errors.validation(
                        "One or more parameter values were invalid: Only DELETE action is "
                        f"allowed when no attribute value is specified: {attribute}"
                    )
                sets.append(f"{n} = {self.value(value)}")
            elif action == "DELETE":
                if value is None:
                    removes.append(n)
                else:
                    deletes.append(f"{n} {self.value(value)}")
            else:  # ADD
                if value is None:
                    raise errors.validation(
                        "One or more parameter values were invalid: Only DELETE action is "
                        f"allowed when no attribute value is specified: {attribute}"
                    )
                adds.append(f"{n} {self.value(value)}")
        clauses = []
        for word, entries in (
            ("SET", sets),
            ("REMOVE", removes),
            ("ADD", adds),
            ("DELETE", deletes),
        ):
            if entries:
                clauses.append(f"{word} {', '.join(entries)}")
        return " ".join(clauses)


def translate(request: dict[str, Any]) -> None:
    """Rewrite ``request``'s legacy parameters as expressions (in place)."""
    if _EXPRESSION_OF.keys().isdisjoint(request):
        return  # (the usual case, and the cheapest test of it)
    legacy = [p for p in _EXPRESSION_OF if request.get(p) is not None]
    if not legacy:
        return
    modern = [p for p in _EXPRESSIONS if request.get(p) is not None]
    if modern:
        raise errors.validation(
            "Can not use both expression and non-expression parameters in the same request: "
            f"Non-expression parameters: {{{', '.join(legacy)}}} "
            f"Expression parameters: {{{', '.join(modern)}}}"
        )
    if request.get("ExpressionAttributeNames") or request.get("ExpressionAttributeValues"):
        raise errors.validation(
            "ExpressionAttributeNames and ExpressionAttributeValues can only be specified "
            "when using expressions"
        )
    b = _Builder(request)
    joiner = request.pop("ConditionalOperator", None)
    for param in legacy:
        spec = request.pop(param)
        if param == "AttributesToGet":
            if spec:
                request["ProjectionExpression"] = ", ".join(b.name(a) for a in spec)
        elif param == "AttributeUpdates":
            if spec:
                request["UpdateExpression"] = b.updates(spec)
        elif param == "KeyConditions":
            request["KeyConditionExpression"] = b.conditions(spec, "AND", "KeyConditions")
        elif spec:
            request[_EXPRESSION_OF[param]] = b.conditions(spec, joiner, param)
    if b.names:
        request["ExpressionAttributeNames"] = b.names
    if b.values:
        request["ExpressionAttributeValues"] = b.values
