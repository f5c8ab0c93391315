"""Signatures on the DynamoDB endpoint: unchecked by default, verified with --aws-credentials.

Requests are signed with botocore's own SigV4 signer and then tampered with
(the body, a signed header, the date, the key, the secret) to pin that each
change is refused with DynamoDB's error and the server keeps serving.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from dynamodbsupport import client, error_of, raw, serve

from keystone.testing import KeystoneServer

KEYS = "AKIDONE:secret-one,AKIDTWO:secret-two"
BODY = json.dumps({"TableName": "things", "Key": {"pk": {"S": "k"}, "sk": {"S": "1"}}}).encode()
TARGET = "DynamoDB_20120810.GetItem"


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeystoneServer]:
    srv = serve(tmp_path_factory.mktemp("sig") / "sig.keystone", "--aws-credentials", KEYS)
    try:
        yield srv
    finally:
        srv.stop()


def signed(
    url: str,
    key: str = "AKIDONE",
    secret: str = "secret-one",
    body: bytes = BODY,
    when: dt.datetime | None = None,
) -> dict[str, str]:
    """The headers botocore's signer gives a GetItem request."""
    parts = urlsplit(url)
    request = AWSRequest(
        method="POST",
        url=url + "/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": TARGET,
            "Host": f"{parts.hostname}:{parts.port}",
        },
    )
    signer = SigV4Auth(Credentials(key, secret), "dynamodb", "us-east-1")
    if when is None:
        signer.add_auth(request)
    else:  # sign as of another time
        request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
        signer._modify_request_before_signing(request)
        canonical = signer.canonical_request(request)
        signature = signer.signature(signer.string_to_sign(request, canonical), request)
        signer._inject_signature_to_request(request, signature)
    return dict(request.headers.items())


def test_by_default_any_signature_is_accepted(tmp_path_factory: pytest.TempPathFactory) -> None:
    srv = serve(tmp_path_factory.mktemp("open") / "open.keystone")
    try:
        got = client(srv.dynamodb_url, aws_access_key_id="whoever", aws_secret_access_key="x")
        assert "Item" not in got.get_item(
            TableName="things", Key={"pk": {"S": "k"}, "sk": {"S": "1"}}
        )
        status, _, _ = raw(srv.dynamodb_url, BODY)  # no signature at all
        assert status == 200
    finally:
        srv.stop()


def test_each_configured_key_with_its_secret_is_accepted(checked: KeystoneServer) -> None:
    for key, secret in (("AKIDONE", "secret-one"), ("AKIDTWO", "secret-two")):
        c = client(checked.dynamodb_url, aws_access_key_id=key, aws_secret_access_key=secret)
        c.put_item(TableName="things", Item={"pk": {"S": key}, "sk": {"S": "1"}})
        assert c.get_item(TableName="things", Key={"pk": {"S": key}, "sk": {"S": "1"}})["Item"]


def test_an_unknown_key_is_unrecognized(checked: KeystoneServer) -> None:
    c = client(checked.dynamodb_url, aws_access_key_id="AKIDNOPE", aws_secret_access_key="x")
    with pytest.raises(ClientError) as info:
        c.get_item(TableName="things", Key={"pk": {"S": "k"}, "sk": {"S": "1"}})
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert info.value.response["Error"]["Message"] == (
        "The security token included in the request is invalid."
    )


def test_a_wrong_secret_is_an_invalid_signature(checked: KeystoneServer) -> None:
    c = client(
        checked.dynamodb_url, aws_access_key_id="AKIDONE", aws_secret_access_key="secret-two"
    )
    with pytest.raises(ClientError) as info:
        c.get_item(TableName="things", Key={"pk": {"S": "k"}, "sk": {"S": "1"}})
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert info.value.response["Error"]["Message"].startswith(
        "The request signature we calculated does not match the signature you provided."
    )


def test_a_signed_request_sent_as_is_passes(checked: KeystoneServer) -> None:
    status, _, data = raw(
        checked.dynamodb_url, BODY, target=None, headers=signed(checked.dynamodb_url)
    )
    assert status == 200, data


def test_a_changed_body_is_refused(checked: KeystoneServer) -> None:
    headers = signed(checked.dynamodb_url)
    other = BODY.replace(b'"k"', b'"j"')
    status, _, data = raw(checked.dynamodb_url, other, target=None, headers=headers)
    assert status == 400
    assert error_of(data)[0] == "InvalidSignatureException"


def test_a_changed_signed_header_is_refused(checked: KeystoneServer) -> None:
    headers = signed(checked.dynamodb_url)
    headers["X-Amz-Target"] = "DynamoDB_20120810.DeleteItem"
    status, _, data = raw(checked.dynamodb_url, BODY, target=None, headers=headers)
    assert status == 400
    assert error_of(data)[0] == "InvalidSignatureException"


def test_a_changed_date_is_refused(checked: KeystoneServer) -> None:
    headers = signed(checked.dynamodb_url)
    stamp = headers["X-Amz-Date"]
    headers["X-Amz-Date"] = stamp[:-3] + ("00Z" if not stamp.endswith("00Z") else "01Z")
    status, _, data = raw(checked.dynamodb_url, BODY, target=None, headers=headers)
    assert status == 400
    assert error_of(data)[0] == "InvalidSignatureException"


def test_an_old_signature_has_expired(checked: KeystoneServer) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    headers = signed(checked.dynamodb_url, when=old)
    status, _, data = raw(checked.dynamodb_url, BODY, target=None, headers=headers)
    assert status == 400
    code, message = error_of(data)
    assert code == "InvalidSignatureException"
    assert message.startswith("Signature expired: ")


def test_no_signature_is_a_missing_token(checked: KeystoneServer) -> None:
    status, _, data = raw(checked.dynamodb_url, BODY)
    assert status == 400
    assert error_of(data)[0] == "MissingAuthenticationTokenException"
    status, _, _ = raw(
        checked.dynamodb_url, BODY, target=None, headers=signed(checked.dynamodb_url)
    )
    assert status == 200  # and the server goes on serving
