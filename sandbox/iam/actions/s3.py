"""Amazon S3: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html"""

from __future__ import annotations

from collections.abc import Sequence

from moto.s3.models import s3_backends
from moto.utilities.utils import get_partition

from sandbox.iam.actions import kms
from sandbox.iam.actions.rows import Also, Context, Row, Table
from sandbox.iam.model import Call, IamRequest

# SSE-KMS's encryption context is the object's ARN (the bucket's with S3 Bucket Keys, which the sandbox does not model).
SSE_KMS = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html"


def obj(call: Call) -> Sequence[str]:
    """An object's ARN names neither region nor account."""
    return (f"arn:{get_partition(call.region)}:s3:::{call.params['Bucket']}/{call.params['Key']}",)


def bucket(call: Call) -> Sequence[str]:
    return (f"arn:{get_partition(call.region)}:s3:::{call.params['Bucket']}",)


def listing(call: Call, resource: str) -> Context:
    """s3:ListBucket's condition keys as the request sends them: a grant may hold the list to a prefix (SAR)."""
    sent = {"s3:prefix": "Prefix", "s3:delimiter": "Delimiter", "s3:max-keys": "MaxKeys"}
    return {key: str(call.params[name]) for key, name in sent.items() if call.params.get(name) is not None}


def _bucket_key(call: Call) -> str | None:
    """The key the request names, else the bucket's default SSE-KMS key."""
    named = call.params.get("SSEKMSKeyId")
    if named:
        return str(named)
    bucket = s3_backends[call.account][get_partition(call.region)].buckets.get(call.params["Bucket"])
    rules = ((bucket.encryption or {}).get("Rule") if bucket else None) or []
    for rule in rules if isinstance(rules, list) else [rules]:  # moto keeps one rule as itself, not in a list
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        if default.get("SSEAlgorithm") == "aws:kms" and default.get("KMSMasterKeyID"):
            return str(default["KMSMasterKeyID"])
    return None


def upload_key(call: Call) -> Sequence[IamRequest]:
    return kms.via(call, "s3", _bucket_key(call), ("kms:GenerateDataKey",), {"aws:s3:arn": obj(call)[0]})


def download_key(call: Call) -> Sequence[IamRequest]:
    return kms.via(call, "s3", _bucket_key(call), ("kms:Decrypt",), {"aws:s3:arn": obj(call)[0]})


TABLE: Table = {
    # An object encrypted with SSE-KMS: PutObject needs kms:GenerateDataKey, GetObject kms:Decrypt.
    "PutObject": Row("s3:PutObject", obj, also=(Also(upload_key, SSE_KMS),)),
    "GetObject": Row("s3:GetObject", obj, also=(Also(download_key, SSE_KMS),)),
    # ListObjectsV2 is authorized as s3:ListBucket on the bucket (S3 API Reference, ListObjectsV2, "Permissions").
    "ListObjectsV2": Row("s3:ListBucket", bucket, listing),
}
