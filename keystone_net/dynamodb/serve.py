"""Putting the DynamoDB endpoint together for ``python -m keystone_net serve``.

:func:`door_for` builds the endpoint of one served database: its
:class:`~keystone_net.dynamodb.operations.Operations` over the database,
the :class:`~keystone_net.dynamodb.app.DynamoApp` sharing the server's worker
threads, call gate, connection table and metrics, the signature checks of
``--aws-credentials``, and the uvicorn door that serves it.
"""

from __future__ import annotations

import ssl
from typing import Any

import keystone
from keystone_net.grpc.gate import CallGate, MetricsSink
from keystone_net.serving.config import ServerConfig
from keystone_net.serving.limits import ConnectionTable, WorkerPool

from .app import DynamoApp
from .door import DynamoDBDoor
from .operations import Operations
from .sigv4 import Verifier

__all__ = ["door_for"]


def door_for(
    db: keystone.Database,
    config: ServerConfig,
    bind: tuple[str, int],
    connections: ConnectionTable,
    gate: CallGate,
    metrics: MetricsSink,
    ssl_context: ssl.SSLContext | None,
    pool: WorkerPool,
) -> DynamoDBDoor:
    credentials = config.credentials
    app = DynamoApp(
        Operations(db),
        pool,
        gate,
        connections,
        metrics,
        Verifier(credentials) if credentials else None,
    )
    host, port = bind
    door: Any = DynamoDBDoor(app, host, port, connections, ssl_context, config.shutdown_timeout)
    return door  # type: ignore[no-any-return]
