"""KMS keys from CloudFormation: moto keeps a template's key policy as an object and reads its tags in the
API's shape, so DescribeKey and a tagged stack fail without these."""

from __future__ import annotations

import json
from typing import Any

from moto.kms.models import Key, KmsBackend

from sandbox.gaps.cloudformation import convert_tags


def _cloudformation_tags(tags: Any) -> Any:
    if isinstance(tags, list) and tags and "Key" in tags[0]:
        return [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in tags]
    return tags


def _key_policy_as_text() -> None:
    """moto's CloudFormation hands a template's KeyPolicy object to create_key, and DescribeKey then fails on it:
    KMS keeps a key policy as text."""
    original = KmsBackend.create_key
    if getattr(original, "deckhand_policy_text", False):
        return

    def create_key(self: KmsBackend, policy: Any, *args: Any, **kwargs: Any) -> Any:
        return original(self, json.dumps(policy) if isinstance(policy, dict) else policy, *args, **kwargs)

    create_key.deckhand_policy_text = True  # type: ignore[attr-defined]
    KmsBackend.create_key = create_key  # type: ignore[method-assign]


def patch() -> None:
    """Teach moto's KMS what a deployed stack needs of it (each patch applies once per process)."""
    _key_policy_as_text()
    convert_tags(Key, _cloudformation_tags)  # the CDK app tags everything
