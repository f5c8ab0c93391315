"""DynamoDB in keystone_net: a ``keystone.Store`` on Amazon DynamoDB (``store.py``).

``DynamoStore`` and ``connect_dynamodb`` need boto3 (``pip install
'keystonedb[dynamodb]'``); they are imported on first use, so that this
package imports without it.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("DynamoStore", "connect_dynamodb"):
        from . import store

        return getattr(store, name)
    raise AttributeError(name)


__all__ = ["DynamoStore", "connect_dynamodb"]
