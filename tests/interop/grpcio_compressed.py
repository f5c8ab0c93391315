"""A grpcio (C-core) client with gzip compression on, as another language's client would use it.

Run by ``tests/test_net_compression.py``: ``python grpcio_compressed.py GENERATED_DIR HOST:PORT``.
Puts a large item (compressed on the way up) and gets it back (compressed on
the way down, the server started with ``--compression gzip``); prints what
it got as JSON. Nothing from keystone or keystone_net is imported.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    sys.path.insert(0, sys.argv[1])
    import grpc
    import keystone_pb2 as pb
    import keystone_pb2_grpc as rpc

    with grpc.insecure_channel(sys.argv[2], compression=grpc.Compression.Gzip) as channel:
        grpc.channel_ready_future(channel).result(timeout=20)
        stub = rpc.KeystoneDBStub(channel)
        item = pb.Item()
        item.attributes["text"].string_value = "keystone " * 4000
        item.attributes["n"].number_value = "7"
        stub.Put(pb.PutRequest(partition_key=b"big", sort_key=b"item", item=item), timeout=20)
        got = stub.Get(pb.GetRequest(partition_key=b"big", sort_key=b"item"), timeout=20)
        attributes = got.item.attributes
        print(
            json.dumps(
                {
                    "text_length": len(attributes["text"].string_value),
                    "n": attributes["n"].number_value,
                }
            )
        )


if __name__ == "__main__":
    main()
