"""The DynamoDB-compatible endpoint: DynamoDB's JSON protocol over HTTP, over ``keystone``.

* :mod:`.model`: DynamoDB's service model (from botocore), compiled into request checks;
* :mod:`.errors`: DynamoDB's error codes and bodies, and the one mapping from ``keystone`` errors;
* :mod:`.wire`: the one conversion of values, items, keys and key conditions;
* :mod:`.legacy`: the legacy parameters as expressions;
* :mod:`.capacity`: consumed capacity by DynamoDB's rules;
* :mod:`.tables`: which table a request names, and its description;
* :mod:`.operations`: one method per operation;
* :mod:`.sigv4`: signature checks;
* :mod:`.app`: the ASGI application; :mod:`.door`: uvicorn serving it;
  :mod:`.serve`: the endpoint of ``python -m keystone_net serve``.

And the other way round, a ``keystone.Store`` on Amazon DynamoDB (or any
compatible service) through boto3: :mod:`.store` (``DynamoStore``,
``connect_dynamodb``), :mod:`.aio`, :mod:`.encoding`, :mod:`.boto_errors`,
:mod:`.batches`, :mod:`.definitions`, :mod:`.streams`. ``DynamoStore`` and
``connect_dynamodb`` need boto3 (``pip install 'keystonedb[dynamodb]'``) and
are imported on first use, so that this package imports without it.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("DynamoStore", "connect_dynamodb"):
        from . import store

        return getattr(store, name)
    raise AttributeError(name)


__all__ = ["DynamoStore", "connect_dynamodb"]
