"""The DynamoDB endpoint as a door of ``python -m keystone_net serve``: the same limits,
metrics, request log, TLS and graceful drain as gRPC, in the same process over the same file.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from certs import Pki, make_pki
from dynamodbsupport import client, make_tables, serve

import keystone
from keystone_net import connect

KEY = {"pk": {"S": "k"}, "sk": {"S": "1"}}


def test_both_doors_serve_one_file(tmp_path: Path) -> None:
    srv = serve(tmp_path / "both.keystone")
    try:
        assert srv.dynamodb_url is not None
        assert "DynamoDB endpoint on http://127.0.0.1:" in srv.output()
        # the gRPC door serves the default table, the endpoint every table, "default" among them
        client(srv.dynamodb_url).put_item(TableName="default", Item={**KEY, "v": {"N": "7"}})
        with connect(srv.url) as grpc_client:
            assert grpc_client.get("k", "1") == {"pk": "k", "sk": "1", "v": 7}
            grpc_client.put({"pk": "g", "sk": "1", "from": "grpc"})
        got = client(srv.dynamodb_url).get_item(
            TableName="default", Key={"pk": {"S": "g"}, "sk": {"S": "1"}}
        )
        assert got["Item"]["from"] == {"S": "grpc"}
    finally:
        assert srv.stop() == 0


def test_no_dynamodb_turns_the_endpoint_off(tmp_path: Path) -> None:
    srv = serve(tmp_path / "off.keystone", "--no-dynamodb")
    try:
        assert srv.dynamodb_url is None
        assert "DynamoDB endpoint" not in srv.output()
    finally:
        srv.stop()


def test_no_grpc_serves_only_the_endpoint(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "keystone_net",
        "serve",
        "--db-path",
        str(make_tables(tmp_path / "d.keystone")),
        "--no-grpc",
        "--dynamodb-port",
        "0",
        "--metrics-port",
        "0",
    ]
    env = {**os.environ, "KEYSTONE_LOG_LEVEL": "INFO"}
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
    )
    try:
        url = None
        assert proc.stderr is not None
        for _ in range(50):
            line = proc.stderr.readline()
            found = re.search(r"DynamoDB endpoint on (\S+)", line)
            if found:
                url = found[1]
            if "gRPC is off" in line:
                break
        assert url is not None
        client(url).put_item(TableName="things", Item=KEY)
        assert client(url).get_item(TableName="things", Key=KEY)["Item"] == KEY
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_the_global_rate_limit_throttles_dynamodb_requests(tmp_path: Path) -> None:
    srv = serve(tmp_path / "rate.keystone", "--max-rps-global", "3")
    try:
        c = client(srv.dynamodb_url)
        codes = []
        for _ in range(300):  # at 3 requests/s, far more than pass in the time these take
            try:
                c.get_item(TableName="things", Key=KEY)
                codes.append("OK")
            except ClientError as exc:
                codes.append(exc.response["Error"]["Code"])
                break
        assert codes[-1] == "ThrottlingException"
        assert codes[0] == "OK"
    finally:
        srv.stop()


def test_requests_are_logged_and_counted(tmp_path: Path) -> None:
    srv = serve(tmp_path / "m.keystone", "--metrics-port", "0")
    try:
        c = client(srv.dynamodb_url)
        c.get_item(TableName="things", Key=KEY)
        with pytest.raises(ClientError):
            c.get_item(TableName="x", Key=KEY)
        deadline = time.monotonic() + 10
        while "method=GetItem status=ValidationException" not in srv.output():
            assert time.monotonic() < deadline, srv.output()
            time.sleep(0.05)
        assert "method=GetItem status=OK" in srv.output()
    finally:
        srv.stop()


def test_metrics_count_dynamodb_operations(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = serve(tmp_path / "mm.keystone", "--metrics-port", str(port))
    try:
        c = client(srv.dynamodb_url)
        c.put_item(TableName="things", Item=KEY)
        c.get_item(TableName="things", Key=KEY)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
        assert 'rpc_requests_total{method="GetItem",status="OK"} 1.0' in text
        assert 'rpc_requests_total{method="PutItem",status="OK"} 1.0' in text
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_tls_serves_https(tmp_path: Path, pki: Pki) -> None:
    srv = serve(
        tmp_path / "tls.keystone",
        "--tls-cert",
        str(pki.server_cert),
        "--tls-key",
        str(pki.server_key),
    )
    try:
        assert srv.dynamodb_url is not None and srv.dynamodb_url.startswith("https://")
        c = client(srv.dynamodb_url, verify=str(pki.ca))
        c.put_item(TableName="things", Item=KEY)
        assert c.get_item(TableName="things", Key=KEY)["Item"] == KEY
        plain = client(srv.dynamodb_url.replace("https://", "http://"))
        with pytest.raises((EndpointConnectionError, ConnectionClosedError)):
            plain.get_item(TableName="things", Key=KEY)
    finally:
        srv.stop()


def test_sigterm_drains_requests_in_flight_and_keeps_every_acknowledged_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "drain.keystone"
    srv = serve(path)
    acknowledged: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        c = client(srv.dynamodb_url)
        for i in range(10_000):
            if stop.is_set():
                return
            key = f"w{n}-{i}"
            try:
                c.put_item(TableName="things", Item={"pk": {"S": key}, "sk": {"S": "1"}})
            except ClientError as exc:
                failures.append(exc.response["Error"]["Code"])
                return
            except Exception:  # the connection closed: the server is gone
                return
            acknowledged.append(key)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)
    srv.process.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(30)
    stop.set()
    assert srv.stop() == 0
    assert set(failures) <= {"ServiceUnavailable"}
    with keystone.Database.open(path) as db:
        things = db.table("things")
        for key in acknowledged:
            assert things.get(key, "1") is not None
