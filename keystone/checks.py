"""Argument checks shared by ``keystone.Database`` and the ``keystone_net`` clients.

One copy of each rule, so a bad argument gets the same ``ValidationError``
whether the store is local or remote (the clients check before sending,
since the wire cannot carry some bad values at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

from .errors import ValidationError

PutReturns = Literal["NONE", "ALL_OLD"]
UpdateReturns = Literal["NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW"]
PUT_RETURNS: Final = ("NONE", "ALL_OLD")
UPDATE_RETURNS: Final = ("NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW")


def check_limit(limit: object) -> int | None:
    """``limit`` if it is ``None`` or a positive int, else ``ValidationError``."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ValidationError(f"limit must be a positive int, got {limit!r}")
    return limit


def check_returns(returns: object, allowed: Sequence[str]) -> str:
    """``returns`` if it is one of ``allowed``, else ``ValidationError``."""
    if type(returns) is not str or returns not in allowed:
        raise ValidationError(f"returns must be one of {', '.join(allowed)}; got {returns!r}")
    return returns


__all__ = [
    "PUT_RETURNS",
    "UPDATE_RETURNS",
    "PutReturns",
    "UpdateReturns",
    "check_limit",
    "check_returns",
]
