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
"""
