"""Helpers of the DynamoDB endpoint's tests: a real server, boto3 clients, raw HTTP requests."""

from __future__ import annotations

import http.client
import json
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

import keystone
from keystone.testing import KeystoneServer, start_server

CREDENTIALS = {"aws_access_key_id": "AKIDTEST", "aws_secret_access_key": "secret"}


#: The tables the tests' files hold before their server starts (S keys pk, sk).
TABLES = ("things", "orders")


def make_tables(path: Path, names: tuple[str, ...] = TABLES) -> Path:
    """Create ``names`` (HASH pk, RANGE sk, both S) in the file at ``path``, if missing."""
    db = keystone.Database.open(path)
    try:
        for name in names:
            if name not in db.tables():
                db.create_table(name, keystone.Schema(("pk", "S"), ("sk", "S")))
    finally:
        db.close()
    return path


def serve(path: Path, *args: str, tables: tuple[str, ...] = TABLES) -> KeystoneServer:
    """A server over ``path`` (holding ``tables``) with its DynamoDB endpoint on a free port."""
    make_tables(path, tables)
    return start_server(path, args=["--metrics-port", "0", *args])


def client(url: str, **kwargs: Any) -> Any:
    config = Config(retries={"max_attempts": 1, "mode": "standard"})
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        config=config,
        **{**CREDENTIALS, **kwargs},
    )


def resource(url: str) -> Any:
    return boto3.resource("dynamodb", endpoint_url=url, region_name="us-east-1", **CREDENTIALS)


def raw(
    url: str,
    body: bytes,
    target: str | None = "DynamoDB_20120810.GetItem",
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request as bytes; ``(status, headers, body)``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        sent = {"Content-Type": "application/x-amz-json-1.0"}
        if target is not None:
            sent["X-Amz-Target"] = target
        sent.update(headers or {})
        conn.request(method, "/", body=body, headers=sent)
        reply = conn.getresponse()
        data = reply.read()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, data
    finally:
        conn.close()


def error_of(data: bytes) -> tuple[str, str]:
    """``(code, message)`` of an error body."""
    body = json.loads(data)
    return body["__type"].rsplit("#", 1)[1], body.get("message", body.get("Message", ""))


def crc_ok(headers: dict[str, str], data: bytes) -> bool:
    return int(headers["x-amz-crc32"]) == zlib.crc32(data)
