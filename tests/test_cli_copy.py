"""``keystone copy SRC DST``: every item, the destination created like the source, resumable.

The DynamoDB side is moto's server (``tests/dynamo.py``); the copy runs as a
real ``python -m keystone`` process, and the interrupted one is killed with
a signal mid-copy, then resumed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from dynamo import Endpoint

import keystone
import keystone_net
from keystone.testing import start_server
from keystone_net.dynamodb.store import DynamoStore


def _keystone(*args: object, cwd: Path, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "keystone", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
        **kw,  # type: ignore[call-overload]
    )


def _run(*args: object, cwd: Path) -> tuple[int, str]:
    proc = _keystone(*args, cwd=cwd)
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def _source(path: Path, n: int, schema: keystone.Schema | None = None) -> list[dict[str, object]]:
    items: list[dict[str, object]] = [
        {
            "pk": f"user#{i:05d}",
            "sk": "profile",
            "n": i,
            "embedding": keystone.Vector([i, 0.5]),
            "tags": {"a", f"t{i % 7}"},
            "blob": bytes([i % 256]) * 3,
            "city": f"c{i % 5}",
        }
        for i in range(n)
    ]
    with keystone.Database.open(path, schema) as db:
        db.batch_write(puts=items)
    return items


def _dynamo_url(where: Endpoint, table: str) -> str:
    return f"dynamodb://{table}?region={where.region}" + (
        f"&endpoint={where.url}" if where.url else ""
    )


def _key(item: dict[str, object]) -> tuple[object, object]:
    return item["pk"], item["sk"]


def test_a_file_is_copied_to_a_new_file_with_its_schema(tmp_path: Path) -> None:
    schema = keystone.Schema(global_indexes=[keystone.GlobalIndex("by_city", "city")])
    items = _source(tmp_path / "src.keystone", 3000, schema)
    status, err = _run("copy", "src.keystone", "dst.keystone", "--page-size", "250", cwd=tmp_path)
    assert status == 0, err
    assert "copied 3,000 items" in err.splitlines()[-1]
    with keystone.Database.open(tmp_path / "dst.keystone") as dst:
        copied = sorted(dst.scan_all(), key=_key)
        assert dst.schema == schema
        assert len(list(dst.query_all("c2", index="by_city"))) == 600
    assert copied == sorted(items, key=_key)
    assert not list(tmp_path.glob(".keystone-copy-*")), "a finished copy leaves no checkpoint"


def test_a_missing_dynamodb_table_is_created_with_the_sources_keys_and_indexes(
    tmp_path: Path, dynamo_endpoint: Endpoint
) -> None:
    schema = keystone.Schema(
        global_indexes=[keystone.GlobalIndex("by_city", "city", "pk", ["n"])],
        local_indexes=[keystone.LocalIndex("by_n", "city", "KEYS_ONLY")],
    )
    items = _source(tmp_path / "src.keystone", 300, schema)
    table = f"copy-{uuid.uuid4().hex[:8]}"
    status, err = _run("copy", "src.keystone", _dynamo_url(dynamo_endpoint, table), cwd=tmp_path)
    assert status == 0, err
    store = DynamoStore(table, client=dynamo_endpoint.client())
    try:
        created = store.schema
        assert (created.partition_key, created.sort_key) == ("pk", "sk")
        assert [(i.name, i.partition_key, i.sort_key) for i in created.global_indexes] == [
            ("by_city", "city", "pk")
        ]
        assert [(i.name, i.sort_key) for i in created.local_indexes] == [("by_n", "city")]
        assert sorted(store.scan_all(), key=_key) == sorted(items, key=_key)
        assert len(store.query("c1", index="by_city").items) == 60
    finally:
        store.delete_table(table)


def test_an_interrupted_copy_resumes_without_duplicates_or_gaps(
    tmp_path: Path, dynamo_endpoint: Endpoint
) -> None:
    items = _source(tmp_path / "src.keystone", 2000)
    table = f"copy-{uuid.uuid4().hex[:8]}"
    url = _dynamo_url(dynamo_endpoint, table)
    checkpoint = tmp_path / "progress.json"
    args = ("copy", "src.keystone", url, "--segments", "3", "--page-size", "50")
    proc = _keystone(*args, "--checkpoint", checkpoint, cwd=tmp_path)
    # Kill it once its checkpoint shows written pages (bounded wait: 600 polls).
    for _ in range(600):
        if checkpoint.exists() and json.loads(checkpoint.read_text())["last"]:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    assert proc.poll() is None, "the copy finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    state = json.loads(checkpoint.read_text())
    assert state["last"] and len(state["done"]) < 3

    store = DynamoStore(table, client=dynamo_endpoint.client())
    try:
        partial = list(store.scan_all())
        assert 0 < len(partial) < len(items)

        status, err = _run(*args, "--checkpoint", checkpoint, "--resume", cwd=tmp_path)
        assert status == 0, err
        copied = sorted(store.scan_all(), key=_key)
        assert len(copied) == len(items)
        assert copied == sorted(items, key=_key)
        assert not checkpoint.exists()
    finally:
        store.delete_table(table)


def test_resume_without_a_checkpoint_is_a_usage_error(tmp_path: Path) -> None:
    _source(tmp_path / "src.keystone", 10)
    status, err = _run("copy", "src.keystone", "dst.keystone", "--resume", cwd=tmp_path)
    assert status == 2
    assert "no checkpoint" in err


def test_into_an_existing_file_items_are_copied_one_by_one_with_plain_log_lines(
    tmp_path: Path,
) -> None:
    items = _source(tmp_path / "src.keystone", 500)
    with keystone.Database.open(tmp_path / "dst.keystone") as dst:
        dst.put({"pk": "kept", "sk": "x"})
    status, err = _run("copy", "src.keystone", "dst.keystone", cwd=tmp_path)
    assert status == 0
    lines = err.splitlines()
    assert "\r" not in err and "\x1b" not in err
    assert lines[-2].startswith("copying: 500 items")
    assert lines[-1].startswith("copied 500 items in ")
    with keystone.Database.open(tmp_path / "dst.keystone") as dst:
        copied = sorted(dst.scan_all(), key=_key)
    assert copied == sorted([*items, {"pk": "kept", "sk": "x"}], key=_key)


def test_a_dynamodb_table_is_copied_back_to_a_new_file(
    tmp_path: Path, dynamo_endpoint: Endpoint
) -> None:
    table = f"copy-{uuid.uuid4().hex[:8]}"
    admin = DynamoStore(table, client=dynamo_endpoint.client())
    store = admin.create_table(table, keystone.Schema(partition_key="user", sort_key="at"))
    try:
        items = [
            {"user": f"u{i}", "at": "x", "n": i, "v": keystone.Vector([i])} for i in range(120)
        ]
        store.batch_write(puts=items)
        url = _dynamo_url(dynamo_endpoint, table)
        status, err = _run("copy", url, "local.keystone", "--segments", "2", cwd=tmp_path)
        assert status == 0, err
        with keystone.Database.open(tmp_path / "local.keystone") as db:
            assert (db.schema.partition_key, db.schema.sort_key) == ("user", "at")
            assert sorted(db.scan_all(), key=lambda i: i["n"]) == items
    finally:
        admin.delete_table(table)


def test_a_copy_survives_a_throttled_destination(
    tmp_path: Path, dynamo_endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB refuses the first writes with ProvisionedThroughputExceeded (injected through
    the real botocore client's ``before-call`` event, since moto never throttles); the copy
    writes those pages again and ends complete."""
    import io

    from botocore.awsrequest import AWSResponse

    import keystone_net.dynamodb.store as dynamo_store
    from keystone.cli.copy import copy

    items = _source(tmp_path / "src.keystone", 300)
    table = f"copy-{uuid.uuid4().hex[:8]}"
    admin = DynamoStore(table, client=dynamo_endpoint.client())
    admin.create_table(table, keystone.Schema())
    refused: list[str] = []

    def throttle(**_: object) -> tuple[AWSResponse, dict[str, object]] | None:
        if len(refused) >= 3:
            return None
        refused.append("BatchWriteItem")
        error = {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
        return AWSResponse("http://moto", 400, {}, None), {"Error": error}

    make_client = dynamo_store.make_client

    def throttled_client(*args: object, **kwargs: object) -> object:
        client = make_client(*args, **kwargs)  # type: ignore[arg-type]
        client.meta.events.register("before-call.dynamodb.BatchWriteItem", throttle)
        return client

    monkeypatch.setattr(dynamo_store, "make_client", throttled_client)
    try:
        count = copy(
            str(tmp_path / "src.keystone"),
            _dynamo_url(dynamo_endpoint, table) + "&retries=1",
            segments=2,
            page_size=100,
            checkpoint_path=str(tmp_path / "ck.json"),
            stderr=io.StringIO(),
            interactive=False,
        )
        assert len(refused) == 3
        assert count == 300
        assert sorted(admin.scan_all(), key=_key) == sorted(items, key=_key)
    finally:
        admin.delete_table(table)


def test_a_named_typed_table_goes_to_dynamodb_and_back_into_a_named_table(
    tmp_path: Path, dynamo_endpoint: Endpoint
) -> None:
    orders = keystone.Schema(partition_key=("customer", "S"), sort_key=("placed", "N"))
    with keystone.Database.open(tmp_path / "app.keystone") as db:
        db.put({"pk": "in-the-default-table", "sk": "x"})
        db.create_table("orders", orders).batch_write(
            puts=[{"customer": f"c{i % 3}", "placed": 1_700_000_000 + i, "n": i} for i in range(90)]
        )
    table = f"copy-{uuid.uuid4().hex[:8]}"
    url = _dynamo_url(dynamo_endpoint, table)
    status, err = _run("copy", "app.keystone", url, "--table", "orders", cwd=tmp_path)
    assert status == 0, err
    assert "copied 90 items" in err.splitlines()[-1]
    admin = DynamoStore(table, client=dynamo_endpoint.client())
    try:
        back = admin.schema_of(table)
        assert (back.partition_key_type, back.sort_key_type) == ("S", "N")
        assert admin.get("c1", 1_700_000_001) == {"customer": "c1", "placed": 1_700_000_001, "n": 1}
        status, err = _run("copy", url, "replica.keystone", "--table", "orders", cwd=tmp_path)
        assert status == 0, err
    finally:
        admin.delete_table(table)
    with keystone.Database.open(tmp_path / "replica.keystone") as replica:
        assert replica.tables() == ["default", "orders"]
        copied = replica.table("orders")
        assert copied.schema.sort_key_type == "N"
        assert sorted(i["n"] for i in copied.scan_all()) == list(range(90))
        assert list(replica.scan_all()) == []  # the default table was not part of the copy
    status, err = _run("copy", "app.keystone", "x.keystone", "--table", "nope", cwd=tmp_path)
    assert status != 0 and "nope" in err


def test_a_named_table_goes_to_a_grpc_server_and_back(tmp_path) -> None:
    orders = keystone.Schema(("pk", "S"), ("n", "N"))
    with keystone.Database.open(tmp_path / "app.keystone") as db:
        db.put({"pk": "stays-in-the-default-table", "sk": "x"})
        db.create_table("orders", orders).batch_write(
            puts=[{"pk": f"c{i % 3}", "n": i, "note": "x" * i} for i in range(120)]
        )
    srv = start_server(tmp_path / "served.keystone", args=["--no-dynamodb"])
    try:
        status, err = _run(
            "copy", "app.keystone", srv.url, "--table", "orders", "--page-size", "25", cwd=tmp_path
        )
        assert status == 0, err
        assert "copied 120 items" in err
        with keystone_net.connect(srv.url) as client:
            assert client.tables() == ["default", "orders"]
            served = client.table("orders")
            assert served.describe()["ItemCount"] == 120
            assert [i["n"] for i in served.query_all("c1")] == list(range(1, 120, 3))
            assert list(client.scan_all()) == []  # only the named table was copied
        status, err = _run("copy", srv.url, "back.keystone", "--table", "orders", cwd=tmp_path)
        assert status == 0, err
        status, err = _run("copy", srv.url, "nothing.keystone", "--table", "nope", cwd=tmp_path)
        assert status != 0 and "nope" in err
    finally:
        srv.stop()
    with keystone.Database.open(tmp_path / "back.keystone") as back:
        assert back.tables() == ["default", "orders"]
        copied = back.table("orders")
        assert copied.schema.sort_key_type == "N"
        assert sorted(i["n"] for i in copied.scan_all()) == list(range(120))
        assert copied.get("c2", 5) == {"pk": "c2", "n": 5, "note": "xxxxx"}


def test_both_sides_dynamodb_refuse_table(tmp_path) -> None:
    status, err = _run(
        "copy", "dynamodb://a?region=x", "dynamodb://b?region=x", "--table", "t1", cwd=tmp_path
    )
    assert status != 0 and "--table" in err
