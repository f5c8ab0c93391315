"""Interoperability with Node.js: a @grpc/grpc-js client talks to a real server process.

The client (``tests/interop/grpc_js/client.js``) loads ``protos/keystone.proto``
with @grpc/proto-loader and knows nothing else of keystone: it is what a Node
user writes from the protocol definition. Its packages are installed by
``npm ci`` in ``tests/interop/grpc_js`` (``.ci/run`` does it when ``node`` is
present); without ``node`` or those packages the test is skipped, saying so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from netsupport import calls_logged, wait_until, writer_lock_held

ROOT = Path(__file__).resolve().parent.parent
CLIENT_DIR = ROOT / "tests" / "interop" / "grpc_js"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(
        NODE is None, reason="node is not installed (needed for the grpc-js client)"
    ),
    pytest.mark.skipif(
        not (CLIENT_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir(),
        reason="tests/interop/grpc_js/node_modules is missing: run `npm ci` there (.ci/run does)",
    ),
]


def test_a_grpc_js_client_puts_gets_queries_updates_and_reads_error_details(
    start_server: Any,
) -> None:
    server = start_server(None, 0, "--log-format", "json")
    assert NODE is not None
    node = subprocess.Popen(
        [NODE, str(CLIENT_DIR / "client.js"), str(ROOT / "protos" / "keystone.proto"), server.url],
        cwd=CLIENT_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert node.stdout is not None and node.stdin is not None
        ready = node.stdout.readline()  # (the client gives up by itself after 60 s)
        assert ready == "ready\n", node.communicate(timeout=30)[1]
        with writer_lock_held(server.db_path):  # the last call, a Put, waits past its deadline
            node.stdin.write("go\n")
            node.stdin.close()
            line = node.stdout.readline()
        node.wait(30)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait(10)
    assert node.returncode == 0, node.stderr.read() if node.stderr else ""
    seen = json.loads(line)

    assert seen["put_success"] is True
    assert seen["get"] == {
        "pk": ["binary_value", "user#1"],
        "sk": ["binary_value", "profile"],
        "name": ["string_value", "Ada"],
        "age": ["number_value", "36"],
    }
    assert seen["query_count"] == 3 and seen["query_totals"] == ["0", "10", "20"]
    assert seen["update_item"]["age"] == ["number_value", "37"]
    assert seen["update_attributes"] == seen["update_item"]

    assert seen["condition_code"] == 9  # FAILED_PRECONDITION
    condition = seen["condition_details"]
    assert condition["code"] == 9 and condition["message"]
    assert condition["error_info"] == [
        {
            "reason": "CONDITIONAL_CHECK_FAILED",
            "domain": "keystonedb",
            "metadata": {"error": "ConditionalCheckFailed"},
        }
    ]
    assert seen["transaction_code"] == 10  # ABORTED
    (info,) = seen["transaction_details"]["error_info"]
    assert info["reason"] == "TRANSACTION_CANCELED"
    assert json.loads(info["metadata"]["cancellation_reasons"]) == ["ConditionalCheckFailed"]

    assert seen["deadline_code_name"] == "DEADLINE_EXCEEDED"
    assert wait_until(lambda: "DEADLINE_EXCEEDED" in calls_logged(server.output(), "Put"))
