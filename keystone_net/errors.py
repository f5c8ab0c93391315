"""Exceptions of the network layer that the library itself never raises.

Every one is a ``keystone.KeystoneError``, so ``except KeystoneError``
still catches everything a client raises on purpose.
"""

from __future__ import annotations

from keystone.errors import KeystoneError

__all__ = ["AuthenticationError"]


class AuthenticationError(KeystoneError, PermissionError):
    """The server refused the call's credentials: a missing or wrong ``auth_token``.

    Raised for the gRPC statuses UNAUTHENTICATED and PERMISSION_DENIED (also
    what a proxy's HTTP 401 and 403 become). A server raising it answers
    UNAUTHENTICATED. Nothing was read or changed; trying again with the
    same credentials fails the same way.
    """
