"""AWS's "access denied" answer, in the wire protocol the request came in, so botocore raises what AWS makes it raise.

The protocol is read from the request itself, not from the service model: botocore may fall back from a
model's first protocol (CloudWatch and CodePipeline list smithy-rpc-v2-cbor first, yet send JSON when the
endpoint is custom), and the answer must be parsed by the parser that sent the request.

What each protocol's parser reads (botocore/parsers.py) and what AWS sends:
- json (X-Amz-Target): HTTP 400, `{"__type": "AccessDeniedException", "message": ...}`;
- smithy-rpc-v2-cbor (`Smithy-Protocol: rpc-v2-cbor`): the same map, CBOR-encoded;
- rest-json (Lambda, Scheduler): HTTP 403, `x-amzn-ErrorType: AccessDeniedException` and a JSON body;
- query (IAM, STS, SNS, CloudFormation, Auto Scaling): HTTP 403, `<ErrorResponse><Error><Type>Sender</Type>
  <Code>AccessDenied</Code>...`;
- ec2: HTTP 403, `<Response><Errors><Error><Code>UnauthorizedOperation</Code>...`, the message starting
  "You are not authorized to perform this operation." (EC2 API reference, "Error codes");
- rest-xml (S3): HTTP 403, `<Error><Code>AccessDenied</Code>...` (S3 API reference, "Error responses").
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Literal
from urllib.parse import parse_qs
from wsgiref.types import WSGIEnvironment
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

Protocol = Literal["json", "cbor", "rest-json", "rest-xml", "query", "ec2"]

SIGNED_SERVICE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/(?P<service>[^/]+)/")
EC2_PREFIX = "You are not authorized to perform this operation. "


def credential(environ: WSGIEnvironment) -> str:
    """`Credential=KEY/DATE/REGION/SERVICE/aws4_request` of a signed request, from its header or presigned URL."""
    presigned = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential", [""])[0]
    return environ.get("HTTP_AUTHORIZATION", "") or f"Credential={presigned}"


def protocol_of(environ: WSGIEnvironment) -> Protocol:
    if environ.get("HTTP_SMITHY_PROTOCOL", "").lower() == "rpc-v2-cbor":
        return "cbor"
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    signed = SIGNED_SERVICE.search(credential(environ))
    service = signed.group("service") if signed else ""
    if service == "ec2":
        return "ec2"
    if service == "s3":
        return "rest-xml"
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return "query"
    return "rest-json"


def denied_message(principal: str, action: str, resource: str, why: str) -> str:
    """AWS's wording: `User: ARN is not authorized to perform: ACTION on resource: ARN because WHY`."""
    return f"User: {principal} is not authorized to perform: {action} on resource: {resource} because {why}"


def access_denied(environ: WSGIEnvironment, message: str) -> Response:
    request_id = str(uuid.uuid4())
    protocol = protocol_of(environ)
    if protocol in ("json", "cbor"):
        fields = {"__type": "AccessDeniedException", "message": message}
        if protocol == "json":
            body, content_type = json.dumps(fields).encode(), "application/x-amz-json-1.1"
        else:
            body, content_type = cbor_text_map(fields), "application/cbor"
        headers = {"x-amzn-RequestId": request_id}
        if protocol == "cbor":
            headers["Smithy-Protocol"] = "rpc-v2-cbor"
        return Response(body, status=400, content_type=content_type, headers=headers)
    if protocol == "rest-json":
        return Response(
            json.dumps({"Type": "User", "message": message}),
            status=403,
            content_type="application/json",
            headers={"x-amzn-ErrorType": "AccessDeniedException", "x-amzn-RequestId": request_id},
        )
    if protocol == "ec2":
        body_text = (
            f"<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>{escape(EC2_PREFIX + message)}"
            f"</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    elif protocol == "rest-xml":
        body_text = (
            f"<Error><Code>AccessDenied</Code><Message>{escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
    else:
        body_text = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{escape(message)}"
            f"</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return Response(body_text, status=403, content_type="text/xml")


def cbor_text_map(fields: dict[str, str]) -> bytes:
    """RFC 8949 encoding of a small map of text strings: all an error body needs."""
    return _cbor_head(5, len(fields)) + b"".join(_cbor_text(k) + _cbor_text(v) for k, v in fields.items())


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    return _cbor_head(3, len(data)) + data


def _cbor_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | extra]) + length.to_bytes(size, "big")
    raise ValueError("a CBOR length fits in 8 bytes")
