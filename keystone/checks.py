"""Argument checks shared by ``keystone.Database`` and the ``keystone_net`` clients.

One copy of each rule, so a bad argument gets the same ``ValidationError``
whether the store is local or remote (the clients check before sending,
since the wire cannot carry some bad values at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from .errors import ValidationError
from .types import shown

PutReturns = Literal["NONE", "ALL_OLD"]
UpdateReturns = Literal["NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"]
PUT_RETURNS: Final = ("NONE", "ALL_OLD")
#: DynamoDB's ReturnValuesOnConditionCheckFailure.
OnConditionFailure = Literal["NONE", "ALL_OLD"]
ON_CONDITION_FAILURE: Final = ("NONE", "ALL_OLD")
UPDATE_RETURNS: Final = ("NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW")


def check_limit(limit: object) -> int | None:
    """``limit`` if it is ``None`` or a positive int, else ``ValidationError``."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValidationError(f"limit must be a positive int, got {shown(limit)}")
    return limit


def check_returns(returns: object, allowed: Sequence[str], what: str = "returns") -> str:
    """``returns`` if it is one of ``allowed``, else ``ValidationError``."""
    if type(returns) is not str or returns not in allowed:
        raise ValidationError(f"{what} must be one of {', '.join(allowed)}; got {shown(returns)}")
    return returns


def keep_old_on_failure(value: object) -> bool:
    """Whether ``return_values_on_condition_check_failure`` asks for the old item."""
    if value == "NONE" and type(value) is str:
        return False
    return (
        check_returns(value, ON_CONDITION_FAILURE, "return_values_on_condition_check_failure")
        == "ALL_OLD"
    )


__all__ = [
    "ON_CONDITION_FAILURE",
    "OnConditionFailure",
    "keep_old_on_failure",
    "PUT_RETURNS",
    "UPDATE_RETURNS",
    "PutReturns",
    "UpdateReturns",
    "check_limit",
    "check_returns",
]
