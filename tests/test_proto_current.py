"""The generated code in keystone_net/_proto matches protos/keystone.proto.

That is the betterproto2 package and ``keystone.binpb``, the serialized
``FileDescriptorSet`` that server reflection (keystone_net.serving.metrics) serves.

Also pins the wire contract: every field number of the original protocol
(PROTOCOL.md) and the numbers of our additions, so a client generated from
the original definition keeps working.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from keystone_net._proto import keystone as pb

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
GENERATED = ROOT / "keystone_net" / "_proto"
PLUGIN = "protoc-gen-python_betterproto2"


def _tool_path() -> str:
    # The compiler plugin and the ruff it formats with live next to the
    # interpreter in a virtualenv; fall back to PATH.
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def _plugin_options() -> list[str]:
    """The plugin options of the Makefile's `proto` recipe (one source of truth)."""
    makefile = (ROOT / "Makefile").read_text()
    options = re.findall(r"--python_betterproto2_opt=(\S+)", makefile)
    assert options, "the Makefile's proto recipe passes no --python_betterproto2_opt"
    return options


def _descriptor_set_out() -> str:
    """The file name the Makefile's `proto` recipe writes the descriptor set to."""
    makefile = (ROOT / "Makefile").read_text()
    found = re.findall(r"--descriptor_set_out=keystone_net/_proto/(\S+)", makefile)
    assert found, "the Makefile's proto recipe writes no descriptor set into keystone_net/_proto"
    return str(found[0])


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def test_generated_code_is_current(tmp_path: Path) -> None:
    path = _tool_path()
    if importlib.util.find_spec("grpc_tools") is None:
        pytest.skip("grpcio-tools is not installed")
    if shutil.which(PLUGIN, path=path) is None:
        pytest.skip(f"{PLUGIN} (betterproto2-compiler) is not installed")
    if shutil.which("ruff", path=path) is None:
        pytest.skip("ruff (used by the betterproto2 compiler to format) is not installed")

    out = tmp_path / "_proto"
    out.mkdir()
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"--python_betterproto2_out={out}",
        *(f"--python_betterproto2_opt={opt}" for opt in _plugin_options()),
        f"--descriptor_set_out={out / _descriptor_set_out()}",
        str(PROTO_DIR / "keystone.proto"),
    ]
    # cwd=ROOT: the compiler formats with ruff, which reads pyproject.toml.
    result = subprocess.run(
        command, cwd=ROOT, env={**os.environ, "PATH": path}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr

    fresh, committed = _files(out), _files(GENERATED)
    assert sorted(fresh) == sorted(committed), "run `make proto` and commit the result"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"generated code is out of date ({', '.join(stale)}): run `make proto`"


# --------------------------------------------------------------------------
# The wire contract
# --------------------------------------------------------------------------

#: field -> number, per message: the original protocol's and ours (>= 100).
FIELD_NUMBERS: dict[str, dict[str, int]] = {
    "Key": {"partition_key": 1, "sort_key": 2},
    "Value": {
        "string_value": 1,
        "number_value": 2,
        "binary_value": 3,
        "bool_value": 4,
        "null_value": 5,
        "list_value": 6,
        "map_value": 7,
        "vector_value": 8,
        "timestamp_value": 9,
        "string_set": 100,
        "number_set": 101,
        "binary_set": 102,
    },
    "ListValue": {"items": 1},
    "MapValue": {"fields": 1},
    "VectorValue": {"values": 1},
    "StringSet": {"values": 1},
    "BinarySet": {"values": 1},
    "Item": {"attributes": 1},
    "LastKey": {"partition_key": 1, "sort_key": 2, "cursor": 100},
    "PutRequest": {
        "partition_key": 1,
        "sort_key": 2,
        "item": 3,
        "condition_expression": 4,
        "expression_values": 5,
        "expression_names": 100,
        "return_values": 102,
    },
    "PutResponse": {"success": 1, "error": 2, "attributes": 100},
    "GetRequest": {
        "partition_key": 1,
        "sort_key": 2,
        "expression_names": 100,
        "projection_expression": 101,
    },
    "GetResponse": {"item": 1, "error": 2},
    "DeleteRequest": {
        "partition_key": 1,
        "sort_key": 2,
        "condition_expression": 3,
        "expression_values": 4,
        "expression_names": 100,
        "return_values": 102,
    },
    "DeleteResponse": {"success": 1, "error": 2, "attributes": 100},
    "QueryRequest": {
        "partition_key": 1,
        "sort_key_condition": 2,
        "filter_expression": 3,
        "expression_values": 4,
        "index_name": 5,
        "limit": 6,
        "exclusive_start_key": 7,
        "scan_forward": 8,
        "expression_names": 100,
        "projection_expression": 101,
        "index_partition_key": 102,
    },
    "SortKeyCondition": {
        "equal_to": 1,
        "between": 2,
        "less_than": 3,
        "less_than_or_equal": 4,
        "greater_than": 5,
        "greater_than_or_equal": 6,
        "begins_with": 7,
    },
    "BetweenCondition": {"lower": 1, "upper": 2},
    "QueryResponse": {
        "items": 1,
        "count": 2,
        "scanned_count": 3,
        "last_evaluated_key": 4,
        "error": 5,
    },
    "ScanRequest": {
        "filter_expression": 1,
        "expression_values": 2,
        "limit": 3,
        "exclusive_start_key": 4,
        "index_name": 5,
        "segment": 6,
        "total_segments": 7,
        "expression_names": 100,
        "projection_expression": 101,
    },
    "ScanResponse": {
        "items": 1,
        "count": 2,
        "scanned_count": 3,
        "last_evaluated_key": 4,
        "error": 5,
    },
    "BatchGetRequest": {"keys": 1},
    "BatchGetResponse": {"items": 1, "count": 2, "error": 3},
    "BatchWriteRequest": {"writes": 1},
    "WriteRequest": {"put": 1, "delete": 2},
    "PutItem": {"partition_key": 1, "sort_key": 2, "item": 3},
    "DeleteKey": {"partition_key": 1, "sort_key": 2},
    "BatchWriteResponse": {"success": 1, "error": 2},
    "TransactGetRequest": {"keys": 1},
    "TransactGetResponse": {"items": 1, "error": 2},
    "TransactGetItem": {"item": 1},
    "TransactWriteRequest": {"items": 1, "expression_values": 100, "expression_names": 101},
    "TransactWriteItem": {"put": 1, "update": 2, "delete": 3, "condition_check": 4},
    "TransactPut": {"partition_key": 1, "sort_key": 2, "item": 3, "condition_expression": 4},
    "TransactUpdate": {
        "partition_key": 1,
        "sort_key": 2,
        "update_expression": 3,
        "condition_expression": 4,
    },
    "TransactDelete": {"partition_key": 1, "sort_key": 2, "condition_expression": 3},
    "ConditionCheck": {"partition_key": 1, "sort_key": 2, "condition_expression": 3},
    "TransactWriteResponse": {"success": 1, "error": 2},
    "UpdateRequest": {
        "partition_key": 1,
        "sort_key": 2,
        "update_expression": 3,
        "condition_expression": 4,
        "expression_values": 5,
        "expression_names": 100,
        "return_values": 102,
    },
    "UpdateResponse": {"item": 1, "error": 2, "attributes": 100},
    "ExecuteStatementRequest": {"statement": 1, "parameters": 100},
    "ExecuteStatementResponse": {"select": 1, "insert": 2, "update": 3, "delete": 4, "error": 5},
    "SelectResult": {"items": 1, "count": 2, "scanned_count": 3, "last_key": 4},
    "InsertResult": {"success": 1},
    "UpdateResult": {"item": 1},
    "DeleteResult": {"success": 1},
}

RPCS = {
    "Put": ("PutRequest", "PutResponse", False),
    "Get": ("GetRequest", "GetResponse", False),
    "Delete": ("DeleteRequest", "DeleteResponse", False),
    "Query": ("QueryRequest", "QueryResponse", False),
    "Scan": ("ScanRequest", "ScanResponse", True),
    "BatchGet": ("BatchGetRequest", "BatchGetResponse", False),
    "BatchWrite": ("BatchWriteRequest", "BatchWriteResponse", False),
    "TransactGet": ("TransactGetRequest", "TransactGetResponse", False),
    "TransactWrite": ("TransactWriteRequest", "TransactWriteResponse", False),
    "Update": ("UpdateRequest", "UpdateResponse", False),
    "ExecuteStatement": ("ExecuteStatementRequest", "ExecuteStatementResponse", False),
}


#: Ours, for many tables per file (PROTOCOL.md): `table` = 103 on every request
#: and on every key or part inside batch and transaction requests, and the API
#: additions after it; merged into FIELD_NUMBERS by the test below.
_T: Final = {"table": 103}
_ON_FAILURE: Final = {"table": 103, "return_values_on_condition_check_failure": 104}
#: The key values with their types (ours: partition_key_value, sort_key_value)
#: beside the key bytes, on every message that names a key by its fields.
_KEYS_104: Final = {"table": 103, "partition_key_value": 104, "sort_key_value": 105}
_KEYS_105: Final = {**_ON_FAILURE, "partition_key_value": 105, "sort_key_value": 106}
TABLE_FIELD_NUMBERS: dict[str, dict[str, int]] = {
    "Key": _KEYS_104,
    "PutRequest": _ON_FAILURE,
    "GetRequest": _KEYS_104,
    "DeleteRequest": _KEYS_105,
    "UpdateRequest": _KEYS_105,
    "QueryRequest": {"table": 103, "key_condition_expression": 104, "select": 105},
    "ScanRequest": {"table": 103, "select": 104},
    "BatchGetRequest": {"expression_names": 100, "projection_expression": 101, "table": 103},
    "TransactGetRequest": {"expression_names": 100, "projection_expression": 101, "table": 103},
    "BatchWriteRequest": _T,
    "PutItem": _T,
    "DeleteKey": _KEYS_104,
    "TransactWriteRequest": {"table": 103, "client_request_token": 104},
    "TransactPut": _ON_FAILURE,
    "TransactUpdate": _KEYS_105,
    "TransactDelete": _KEYS_105,
    "ConditionCheck": _KEYS_105,
    "ExecuteStatementRequest": _T,
    # Table management (new messages, numbered from 1).
    "KeyAttribute": {"name": 1, "type": 2},
    "IndexProjection": {"projection_type": 1, "non_key_attributes": 2},
    "LocalIndexDefinition": {"name": 1, "sort_key": 2, "projection": 3},
    "GlobalIndexDefinition": {"name": 1, "partition_key": 2, "sort_key": 3, "projection": 4},
    "StreamSpecification": {"view": 1, "retention_records": 2, "retention_ms": 3},
    "TableSchema": {
        "partition_key": 1,
        "sort_key": 2,
        "local_indexes": 3,
        "global_indexes": 4,
        "ttl_attribute": 5,
        "stream": 6,
    },
    "CreateTableRequest": {"table": 1, "schema": 2},
    "DescribeTableRequest": {"table": 1},
    "ListTablesRequest": {},
    "ListTablesResponse": {"tables": 1},
    "StreamChange": {"enabled": 1, "specification": 2},
    "UpdateTableRequest": {
        "table": 1,
        "add_local_indexes": 2,
        "add_global_indexes": 3,
        "drop_indexes": 4,
        "stream": 5,
    },
    "DeleteTableRequest": {"table": 1},
    "DeleteTableResponse": {},
    "TableDescriptionResponse": {"description": 1},
}

TABLE_RPCS = {
    "CreateTable": ("CreateTableRequest", "TableDescriptionResponse", False),
    "DescribeTable": ("DescribeTableRequest", "TableDescriptionResponse", False),
    "ListTables": ("ListTablesRequest", "ListTablesResponse", False),
    "UpdateTable": ("UpdateTableRequest", "TableDescriptionResponse", False),
    "DeleteTable": ("DeleteTableRequest", "DeleteTableResponse", False),
}


@pytest.mark.parametrize("message", sorted({*FIELD_NUMBERS, *TABLE_FIELD_NUMBERS}))
def test_field_numbers_match_the_protocol(message: str) -> None:
    meta = getattr(pb, message)._betterproto.meta_by_field_name
    expected = {**FIELD_NUMBERS.get(message, {}), **TABLE_FIELD_NUMBERS.get(message, {})}
    assert {name: m.number for name, m in meta.items()} == expected


def test_oneofs_match_the_protocol() -> None:
    groups = {
        "Value": "value",
        "SortKeyCondition": "condition",
        "WriteRequest": "request",
        "TransactWriteItem": "item",
        "ExecuteStatementResponse": "response",
    }
    for message, group in groups.items():
        fields = getattr(pb, message)._betterproto.oneof_field_by_group[group]
        expected = set(FIELD_NUMBERS[message]) - {"error"}
        assert {f.name for f in fields} == expected, message


def test_service_has_the_eleven_rpcs() -> None:
    from grpclib.const import Cardinality

    class Service(pb.KeystoneDbBase):
        pass

    mapping = Service().__mapping__()
    rpcs = {**RPCS, **TABLE_RPCS}
    assert set(mapping) == {f"/keystone.KeystoneDB/{rpc}" for rpc in rpcs}
    for rpc, (request, response, streaming) in rpcs.items():
        handler = mapping[f"/keystone.KeystoneDB/{rpc}"]
        assert handler.request_type is getattr(pb, request)
        assert handler.reply_type is getattr(pb, response)
        expected = Cardinality.UNARY_STREAM if streaming else Cardinality.UNARY_UNARY
        assert handler.cardinality is expected


def test_google_protobuf_reads_what_we_write_and_back(tmp_path: Path) -> None:
    """Clients in other languages use Google's protobuf: the bytes must agree."""
    if importlib.util.find_spec("grpc_tools") is None:
        pytest.skip("grpcio-tools is not installed")
    pytest.importorskip("google.protobuf")
    import datetime as dt
    from decimal import Decimal

    from keystone.types import Vector
    from keystone_net.grpc import convert

    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--python_out={tmp_path}",
            str(PROTO_DIR / "keystone.proto"),
        ],
        check=True,
        capture_output=True,
    )
    spec = importlib.util.spec_from_file_location(
        "_keystone_pb2_check", tmp_path / "keystone_pb2.py"
    )
    assert spec is not None and spec.loader is not None
    google = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(google)

    item = {
        "pk": "a",
        "empty": "",
        "n": Decimal("0.1"),
        "b": b"\x00",
        "f": False,
        "l": [1, [True, None]],
        "m": {"x": {"y": "z"}},
        "v": Vector([1.5, -2.0]),
        "t": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        "ss": {"a", "b"},
        "ns": {1, 2},
        "bs": {b"q"},
    }
    ours = pb.PutRequest(
        partition_key=b"a",
        item=convert.item_to_proto(item),
        condition_expression="attribute_not_exists(pk)",
        expression_names={"#a": "x"},
        return_values="ALL_OLD",
    )
    theirs = google.PutRequest.FromString(bytes(ours))
    assert theirs.partition_key == b"a" and not theirs.HasField("sort_key")
    assert theirs.return_values == "ALL_OLD" and dict(theirs.expression_names) == {"#a": "x"}
    kinds = {name: v.WhichOneof("value") for name, v in theirs.item.attributes.items()}
    assert kinds == {
        "pk": "string_value",
        "empty": "string_value",
        "n": "number_value",
        "b": "binary_value",
        "f": "bool_value",
        "l": "list_value",
        "m": "map_value",
        "v": "vector_value",
        "t": "timestamp_value",
        "ss": "string_set",
        "ns": "number_set",
        "bs": "binary_set",
    }
    back = pb.PutRequest.parse(theirs.SerializeToString())
    assert convert.item_from_proto(back.item) == item
    assert back.return_values == "ALL_OLD" and back.sort_key is None
