"""gRPC health checking and server reflection for the KeystoneDB server (grpclib's services).

:func:`make_services` gives ``grpc.health.v1.Health``, whose overall status
``""`` and ``keystone.KeystoneDB`` follow one switch, and server reflection
(v1 and v1alpha). Reflection describes the protocol from
``keystone_net/_proto/keystone.binpb``, the ``FileDescriptorSet`` that
``make proto`` writes beside the generated code, so ``grpcurl list`` and
``grpcurl describe`` work without the ``.proto`` file. As grpc-go's and
grpcio's do, it lists every service the server offers, itself included
(:data:`REFLECTION_SERVICES`), and finds the file of any symbol grpcurl asks
for: a service, a method (``keystone.KeystoneDB.Get``, which protobuf's
pool alone does not resolve), a message, an enum or a field.

Both services are built on Google's ``protobuf`` runtime, imported only here.
"""

from __future__ import annotations

import importlib.resources
import threading
from typing import Any, Final

__all__ = [
    "HEALTH_SERVICE",
    "KEYSTONE_SERVICE",
    "REFLECTION_SERVICES",
    "HealthSwitch",
    "make_services",
    "reflection_pool",
]

#: The gRPC service the health service reports on (besides the overall status "").
KEYSTONE_SERVICE: Final = "keystone.KeystoneDB"
HEALTH_SERVICE: Final = "grpc.health.v1.Health"
#: The reflection services, v1 and the older v1alpha (grpcurl tries v1 first).
REFLECTION_SERVICES: Final = (
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
)

_DESCRIPTOR_SET: Final = "keystone.binpb"  # in keystone_net._proto, written by `make proto`

#: grpclib's ``ServiceStatus``: ``set(True)`` SERVING, ``set(False)`` NOT_SERVING.
HealthSwitch = Any


class _Named:
    """Stands for a service by name where grpclib wants a service object."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __mapping__(self) -> dict[str, Any]:
        return {f"/{self._name}/": None}


_pool_lock = threading.Lock()
_pool: Any = None


def reflection_pool() -> Any:
    """A protobuf ``DescriptorPool`` of keystone.proto and the health and reflection protocols.

    Its own pool, not protobuf's default one, so nothing else in the process
    that registers a ``keystone.proto`` (a grpcio-tools client, say) clashes with it.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            from google.protobuf import descriptor_pb2, descriptor_pool  # type: ignore[import-untyped]
            from grpclib.health.v1 import health_pb2
            from grpclib.reflection.v1 import reflection_pb2
            from grpclib.reflection.v1alpha import reflection_pb2 as reflection_v1alpha_pb2

            pool = descriptor_pool.DescriptorPool()
            for module in (health_pb2, reflection_pb2, reflection_v1alpha_pb2):
                pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
            data = importlib.resources.files("keystone_net._proto").joinpath(_DESCRIPTOR_SET)
            files = descriptor_pb2.FileDescriptorSet.FromString(data.read_bytes())
            for file in files.file:
                pool.AddSerializedFile(file.SerializeToString())
            _pool = pool
        return _pool


class _Symbols:
    """A descriptor pool that also finds the file of a method (``package.Service.Method``)."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def FindFileContainingSymbol(self, symbol: str) -> Any:  # noqa: N802 (protobuf's name)
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            service_name, _, method = symbol.rpartition(".")
            if not service_name:
                raise
            service = self._pool.FindServiceByName(service_name)  # KeyError if none
            if method not in service.methods_by_name:
                raise KeyError(f"no method {symbol}") from None
            return service.file


def make_services(serving: bool) -> tuple[HealthSwitch, list[Any]]:
    """The health switch (set to ``serving``) and the services for ``grpclib.server.Server``."""
    from grpclib.health.check import ServiceStatus
    from grpclib.health.service import OVERALL, Health
    from grpclib.reflection._deprecated import ServerReflection as ServerReflectionV1Alpha
    from grpclib.reflection.service import ServerReflection

    switch = ServiceStatus()
    switch.set(serving)
    health = Health({_Named(KEYSTONE_SERVICE): [switch], OVERALL: [switch]})
    names = [KEYSTONE_SERVICE, HEALTH_SERVICE, *REFLECTION_SERVICES]
    pool = _Symbols(reflection_pool())
    # (grpclib's ServerReflection.extend would list only the services given, not itself)
    reflection = [
        cls(_service_names=names, _pool=pool) for cls in (ServerReflection, ServerReflectionV1Alpha)
    ]
    return switch, [health, *reflection]
