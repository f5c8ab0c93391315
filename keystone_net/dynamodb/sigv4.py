"""Checking the AWS Signature Version 4 of a request, with botocore's signer.

:class:`Verifier` holds the configured access keys and secrets
(``--aws-credentials``). :meth:`Verifier.check` reads a request's
``Authorization`` header (``AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/
SERVICE/aws4_request, SignedHeaders=..., Signature=...``), rebuilds the
request from exactly the headers it says it signed and its body, recomputes
the signature with ``botocore.auth.SigV4Auth`` (so the canonical request is
botocore's own) and compares. It refuses, with DynamoDB's errors:

* no ``Authorization`` header: MissingAuthenticationTokenException;
* an unknown access key: UnrecognizedClientException;
* a malformed header, a date outside 15 minutes of the server's clock, a
  credential scope whose date is not the request's, a body whose hash is not
  the one signed, or a signature that does not match:
  InvalidSignatureException.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Final

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from . import errors

__all__ = ["MAX_SKEW", "Verifier"]

#: How far a request's X-Amz-Date may be from the server's clock.
MAX_SKEW: Final = _dt.timedelta(minutes=15)
_AUTH: Final = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<signature>[0-9a-f]{64})\s*"
)
_MISMATCH: Final = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_FORMAT: Final = "%Y%m%dT%H%M%SZ"


class Verifier:
    """Verifies SigV4 signatures against a set of access keys."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._secrets = dict(secrets)

    def check(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        now: _dt.datetime | None = None,
    ) -> str:
        """The access key of a correctly signed request; raises DynamoDB's error otherwise.

        ``headers`` has lower-case names.
        """
        authorization = headers.get("authorization")
        if not authorization:
            raise errors.DynamoError(
                "MissingAuthenticationTokenException", "Request is missing Authentication Token"
            )
        match = _AUTH.fullmatch(authorization.strip())
        if match is None:
            raise errors.invalid_signature(
                "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
                f"parameters of the AWS4-HMAC-SHA256 scheme. Authorization={authorization}"
            )
        parts = match["credential"].split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise errors.invalid_signature(
                f"Credential should be scoped correctly: {match['credential']}"
            )
        key, day, region, service, _ = parts
        secret = self._secrets.get(key)
        if secret is None:
            raise errors.unrecognized_client()
        stamp = headers.get("x-amz-date", "")
        try:
            when = _dt.datetime.strptime(stamp, _FORMAT).replace(tzinfo=_dt.UTC)
        except ValueError:
            raise errors.invalid_signature(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
            ) from None
        now = now or _dt.datetime.now(_dt.UTC)
        if abs(now - when) > MAX_SKEW:
            raise errors.invalid_signature(
                f"Signature expired: {stamp} is now earlier than "
                f"{(now - MAX_SKEW).strftime(_FORMAT)} ({now.strftime(_FORMAT)} - 15 min.)"
                if when < now
                else f"Signature not yet current: {stamp} is still later than "
                f"{(now + MAX_SKEW).strftime(_FORMAT)} ({now.strftime(_FORMAT)} + 15 min.)"
            )
        if day != stamp[:8]:
            raise errors.invalid_signature(
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                f"date from HTTP: '{day}' != '{stamp[:8]}', from '{stamp}'."
            )
        signed = match["signed"].split(";")
        if "host" not in signed:
            raise errors.invalid_signature("'Host' must be a signed header")
        missing = [h for h in signed if h not in headers]
        if missing:
            raise errors.invalid_signature(_MISMATCH)
        digest = hashlib.sha256(body).hexdigest()
        claimed = headers.get("x-amz-content-sha256")
        if claimed is not None and claimed != digest:
            raise errors.invalid_signature(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        url = "http://" + headers["host"] + path + (f"?{query}" if query else "")
        request = AWSRequest(
            method=method, url=url, headers={h: headers[h] for h in signed}, data=body
        )
        request.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials(key, secret), service, region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, match["signature"]):
            raise errors.invalid_signature(_MISMATCH)
        return key
