"""AWS KMS: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_awskeymanagementservice.html

Also the key requests other services make with the caller's permissions (SNS, SQS, S3, DynamoDB on a
resource encrypted with a customer managed key). An AWS managed key (aws/sns, aws/sqs, ...) is not
checked here: its key policy lets every principal of the account use it through its service
(https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-key).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence

from moto.kms.models import kms_backends
from moto.kms.utils import _deserialize_ciphertext_blob

from sandbox.iam.actions.rows import MOTO_ERRORS, Context, Row, Table, arn
from sandbox.iam.model import Call, IamRequest


def customer_key(call: Call, key_id: str) -> str | None:
    """The ARN of a customer managed key named by id, ARN or alias; None for an AWS managed or unknown key."""
    try:
        key = kms_backends[call.account][call.region].describe_key(key_id)
    except (*MOTO_ERRORS, KeyError):
        return None
    return str(key.arn) if key.key_manager == "CUSTOMER" else None


def context_keys(encryption: Mapping[str, str]) -> dict[str, str | Sequence[str]]:
    """kms:EncryptionContext:<key> for each pair, and kms:EncryptionContextKeys."""
    found: dict[str, str | Sequence[str]] = {f"kms:EncryptionContext:{k}": str(v) for k, v in encryption.items()}
    if encryption:
        found["kms:EncryptionContextKeys"] = sorted(encryption)
    return found


def via(
    call: Call, service: str, key_id: str | None, actions: Sequence[str], encryption: Mapping[str, str]
) -> list[IamRequest]:
    """The key requests `service` makes for the call with the caller's permissions, with the encryption context
    the service documents for its resource."""
    key = customer_key(call, key_id) if key_id else None
    if key is None:
        return []
    context = {
        "kms:ViaService": f"{service}.{call.region}.amazonaws.com",
        "kms:CallerAccount": call.account,
        **context_keys(encryption),
    }
    return [IamRequest(action, key, context) for action in actions]


def _key_of_ciphertext(call: Call) -> str:
    """Decrypt may omit KeyId: the ciphertext names its key (moto's own blob format)."""
    blob = call.params.get("CiphertextBlob", b"")
    try:
        raw = base64.b64decode(blob) if isinstance(blob, str) else bytes(blob)
        return str(_deserialize_ciphertext_blob(raw).key_id)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return "*"


def key(call: Call) -> Sequence[str]:
    key_id = call.params.get("KeyId") or _key_of_ciphertext(call)
    try:
        return (str(kms_backends[call.account][call.region].describe_key(key_id).arn),)
    except (*MOTO_ERRORS, KeyError):
        return (key_id if key_id.startswith("arn:") else arn(call, "kms", f"key/{key_id}"),)


def encryption_context(call: Call, resource: str) -> Context:
    return {"kms:CallerAccount": call.account, **context_keys(call.params.get("EncryptionContext") or {})}


TABLE: Table = {
    "Decrypt": Row("kms:Decrypt", key, encryption_context),
    "GenerateDataKey": Row("kms:GenerateDataKey", key, encryption_context),
}
