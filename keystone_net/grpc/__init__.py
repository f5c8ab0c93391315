"""The gRPC door: the KeystoneDB service, its clients and the wire conversions.

* :mod:`.server`: the grpclib service over one ``keystone.Database``;
* :mod:`.runner`: serving it (connections, the call gate, metrics, drain);
* :mod:`.gate`: what every call passes through (auth, limits, logs, metrics);
* :mod:`.services`: gRPC health checking and server reflection;
* :mod:`.convert`: protobuf messages <-> keystone values, errors <-> statuses;
* :mod:`.compression`: gzip and deflate message compression on grpclib;
* :mod:`.client`, :mod:`.sync`, :mod:`.calls`, :mod:`.transport`,
  :mod:`.retry`: the async and blocking clients.
"""
