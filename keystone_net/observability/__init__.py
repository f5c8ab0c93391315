"""The parts behind :mod:`keystone_net.metrics` (the module the server uses).

* :mod:`.http_endpoint`: a small HTTP/1.1 server on the event loop, for
  Prometheus scrapes and the ``/health`` and ``/ready`` probes;
* :mod:`.grpc_services`: the ``grpc.health.v1.Health`` and server reflection
  services, and the protobuf descriptors reflection serves.
"""
