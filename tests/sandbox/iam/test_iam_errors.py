"""errors: the access-denied answer, read back by botocore's own parser for each protocol."""

from __future__ import annotations

from typing import Any

import pytest
from botocore import parsers
from botocore.model import StructureShape
from hypothesis import given
from hypothesis import strategies as st

from sandbox.iam.errors import access_denied, protocol_of

SIGNED = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261206/us-east-1/{service}/aws4_request, SignedHeaders=host"
ENVIRONS: dict[str, dict[str, str]] = {
    "cbor": {"HTTP_SMITHY_PROTOCOL": "rpc-v2-cbor", "HTTP_AUTHORIZATION": SIGNED.format(service="monitoring")},
    "json": {"HTTP_X_AMZ_TARGET": "AmazonSQS.SendMessage", "HTTP_AUTHORIZATION": SIGNED.format(service="sqs")},
    "rest-json": {"HTTP_AUTHORIZATION": SIGNED.format(service="lambda"), "CONTENT_TYPE": "application/json"},
    "rest-xml": {"HTTP_AUTHORIZATION": SIGNED.format(service="s3")},
    "query": {"HTTP_AUTHORIZATION": SIGNED.format(service="sns"), "CONTENT_TYPE": "application/x-www-form-urlencoded"},
    "ec2": {"HTTP_AUTHORIZATION": SIGNED.format(service="ec2"), "CONTENT_TYPE": "application/x-www-form-urlencoded"},
}
PARSERS = {
    "cbor": parsers.RpcV2CBORParser,
    "json": parsers.JSONParser,
    "rest-json": parsers.RestJSONParser,
    "rest-xml": parsers.RestXMLParser,
    "query": parsers.QueryParser,
    "ec2": parsers.EC2QueryParser,
}
NO_OUTPUT = StructureShape("NoOutput", {"type": "structure", "members": {}})  # an error has no modeled output here
CODES = {
    "cbor": ("AccessDeniedException", 400),
    "json": ("AccessDeniedException", 400),
    "rest-json": ("AccessDeniedException", 403),
    "rest-xml": ("AccessDenied", 403),
    "query": ("AccessDenied", 403),
    "ec2": ("UnauthorizedOperation", 403),
}


def parsed(protocol: str, message: str) -> tuple[str, int, str]:
    response = access_denied(ENVIRONS[protocol], message)
    http: dict[str, Any] = {
        "body": response.get_data(),
        "headers": {k.lower(): v for k, v in response.headers.items()},
        "status_code": response.status_code,
    }
    error = PARSERS[protocol]().parse(http, NO_OUTPUT)["Error"]
    return error["Code"], response.status_code, error["Message"]


@pytest.mark.parametrize("protocol", sorted(ENVIRONS))
def test_each_protocol_is_read_from_the_request_and_parsed_to_aws_s_code(protocol: str) -> None:
    code, status, message = parsed(protocol, "User: x is not authorized")

    assert protocol_of(ENVIRONS[protocol]) == protocol
    assert (code, status) == CODES[protocol]
    assert message.endswith("User: x is not authorized")


@given(st.text(max_size=70_000), st.sampled_from(sorted(ENVIRONS)))
def test_any_message_survives_its_protocol_s_encoding(message: str, protocol: str) -> None:
    # XML 1.0 has no encoding for most control characters; AWS's messages (ARNs, actions) never hold them.
    readable = "User: " + "".join(c for c in message if c.isprintable())

    assert parsed(protocol, readable)[2].endswith(readable)


@pytest.mark.parametrize("length", [17, 18, 249, 250, 65_529, 65_530])  # each CBOR length form, with "User: "
def test_cbor_lengths_of_every_size_parse(length: int) -> None:
    message = "User: " + "x" * length

    assert parsed("cbor", message)[2] == message
