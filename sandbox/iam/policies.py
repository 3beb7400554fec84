"""The policies AWS evaluates, as deployed: read from moto's backends in the sandbox server's own process.

The sandbox server runs moto in-process, so these reads see exactly what CloudFormation (or an API call)
deployed, without an HTTP round trip. moto keeps policy documents as the JSON text it was given
(CloudFormation's AWS::IAM::Policy resources become the roles' inline policies); `IAM` answers them
URL-encoded on the wire, so both forms are read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from moto.awslambda.utils import get_backend as lambda_backend
from moto.core.exceptions import ServiceException
from moto.ecr.models import ecr_backends
from moto.events.models import events_backends
from moto.iam.models import Role, get_account_id_from, iam_backends
from moto.kms.models import kms_backends
from moto.organizations.models import organizations_backends
from moto.s3.models import s3_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.sts.models import sts_backends
from werkzeug.exceptions import HTTPException

from sandbox.iam.simulator import Policy

PARTITION = "aws"
MotoNotFound = (KeyError, ServiceException, HTTPException)  # moto's "no such resource", old style and new


def _document(text: str | bytes | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if text is None or text == "":
        return None
    if isinstance(text, Mapping):
        return dict(text)
    raw = text.decode() if isinstance(text, bytes) else text
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        parsed = json.loads(unquote(raw))
    return parsed if isinstance(parsed, dict) else None


def _role(account: str, role_name_or_arn: str) -> Role | None:
    backend = iam_backends[account][PARTITION]
    try:
        if role_name_or_arn.startswith("arn:"):
            return backend.get_role_by_arn(role_name_or_arn)
        return backend.get_role(role_name_or_arn)
    except MotoNotFound:
        return None


def identity_policies(account: str, role_name_or_arn: str) -> list[Policy]:
    """The role's inline policies, then its attached managed policies (their default version); [] for no role."""
    role = _role(account, role_name_or_arn)
    if role is None:
        return []
    found = [Policy(name, doc) for name, text in sorted(role.policies.items()) if (doc := _document(text))]
    for arn, managed in sorted(role.managed_policies.items()):
        default = next((v for v in managed.versions if v.version_id == managed.default_version_id), None)
        doc = _document(default.document) if default is not None else None
        if doc:
            found.append(Policy(arn, doc))
    return found


def trust_policy(account: str, role_name_or_arn: str) -> dict[str, Any] | None:
    role = _role(account, role_name_or_arn)
    return _document(role.assume_role_policy_document) if role is not None else None


def resource_policy(arn: str) -> dict[str, Any] | None:
    """The resource-based policy AWS evaluates for a request on `arn`; None where there is none or can be none."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return None
    service, region, account, resource = parts[2], parts[3], parts[4], parts[5]
    try:
        return _RESOURCE_POLICIES[service](region, account, resource) if service in _RESOURCE_POLICIES else None
    except MotoNotFound:  # the resource is gone: the request is decided on the identity side alone
        return None


def _sns(region: str, account: str, resource: str) -> dict[str, Any] | None:
    topic = sns_backends[account][region].topics.get(f"arn:{PARTITION}:sns:{region}:{account}:{resource}")
    return _document(topic.policy) if topic is not None else None


def _sqs(region: str, account: str, resource: str) -> dict[str, Any] | None:
    return _document(sqs_backends[account][region].get_queue(resource).policy)


def _kms(region: str, account: str, resource: str) -> dict[str, Any] | None:
    if not resource.startswith("key/"):
        return None  # an alias ARN: KMS authorizes the key it names, by that key's own ARN
    return _document(kms_backends[account][region].keys[resource.removeprefix("key/")].policy)


def _lambda(region: str, account: str, resource: str) -> dict[str, Any] | None:
    kind, _, rest = resource.partition(":")
    if kind != "function":
        return None
    name, _, qualifier = rest.partition(":")
    function = lambda_backend(account, region).get_function(name, qualifier or None)
    if not function.policy.statements:
        return None
    return {"Version": "2012-10-17", "Id": "default", "Statement": list(function.policy.statements)}


def _s3(_region: str, _account: str, resource: str) -> dict[str, Any] | None:
    bucket_name = resource.split("/", 1)[0]
    owner = s3_backends.bucket_accounts.get(bucket_name)
    if owner is None:
        return None
    partition, bucket_account = owner
    return _document(s3_backends[bucket_account][partition].get_bucket(bucket_name).policy)


def _ecr(region: str, account: str, resource: str) -> dict[str, Any] | None:
    if not resource.startswith("repository/"):
        return None
    repository = ecr_backends[account][region].repositories.get(resource.removeprefix("repository/"))
    return _document(repository.policy) if repository is not None else None


def _iam(_region: str, account: str, resource: str) -> dict[str, Any] | None:
    if not resource.startswith("role/"):
        return None
    return trust_policy(account, f"arn:{PARTITION}:iam::{account}:{resource}")


def _events(region: str, account: str, resource: str) -> dict[str, Any] | None:
    if not resource.startswith("event-bus/"):
        return None
    bus = events_backends[account][region].event_buses.get(resource.removeprefix("event-bus/"))
    return _document(bus.policy) if bus is not None else None


_RESOURCE_POLICIES = {
    "sns": _sns,
    "sqs": _sqs,
    "kms": _kms,
    "lambda": _lambda,
    "s3": _s3,
    "ecr": _ecr,
    "iam": _iam,
    "events": _events,
}


def organization_of(account: str) -> str | None:
    """The id of the organization `account` belongs to (as management account or member); None outside any."""
    management, _ = organizations_backends.master_accounts.get(account, (account, PARTITION))
    organization = organizations_backends[management][PARTITION].org
    return str(organization.id) if organization is not None else None


def role_of_session(access_key_id: str) -> tuple[str, str, str] | None:
    """(account, role ARN, session ARN) of an STS AssumeRole key; None for any other key (the admin keys)."""
    account = get_account_id_from(access_key_id)
    session = sts_backends[account][PARTITION].get_assumed_role_from_access_key(access_key_id)
    if session is None:
        return None
    return session.account_id, session.role_arn, session.arn
