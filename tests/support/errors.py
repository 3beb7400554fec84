"""botocore's ClientError as a service answers a call, for the twins and fakes that answer as AWS does."""

from __future__ import annotations

from botocore.exceptions import ClientError


def client_error(code: str, operation: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message or code}}, operation)


def throttling(operation: str) -> ClientError:
    return client_error("Throttling", operation, "Rate exceeded")
