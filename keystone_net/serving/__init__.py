"""What every door of the server shares: settings, limits, logs, metrics, TLS, sockets.

* :mod:`.config`: every setting of ``python -m keystone_net serve`` (flags and
  ``KEYSTONE_*`` variables);
* :mod:`.limits`: admission (connections, rates, queues) and the worker lanes;
* :mod:`.logs`: the process log and one line per call;
* :mod:`.metrics`: Prometheus metrics and the health and readiness state;
* :mod:`.http`: the HTTP endpoint of ``/metrics``, ``/health`` and ``/ready`` (uvicorn);
* :mod:`.tls`: the ``ssl.SSLContext`` of a server and of a client;
* :mod:`.sockets`: listening sockets.

The doors themselves are :mod:`keystone_net.grpc` (and, beside it, the
DynamoDB endpoint); each converts its wire format to ``keystone`` calls.
"""
