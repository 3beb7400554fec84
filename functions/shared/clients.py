"""boto3 clients created lazily, once per container, with standard retries and mutating calls paced (pacing.py).

Every AWS call in Deckhand goes through `client()`, so retries, timeouts and the endpoint
(AWS_ENDPOINT_URL, honoured by botocore) are set in one place. A role (another account's) gives
clients with that role's credentials, refreshed before they expire: what a fan-out over accounts needs. Inside
`acting(Acting(...))` (the cleanup fan-out's work in one member account), clients of a named region act in that account:
`role=None` as its member role, a removal's role (the hub deleter) chained on to its member deleter; clients of the
function's own region (region None: its audit, state, reports, notices) stay the hub's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.loaders import Loader

from functions.shared import pacing_hooks

if TYPE_CHECKING:  # the stubs are a development dependency: types only, never in the function's asset
    from mypy_boto3_application_autoscaling import ApplicationAutoScalingClient
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_codepipeline import CodePipelineClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_stepfunctions import SFNClient
    from mypy_boto3_sts import STSClient

# Standard, not adaptive: adaptive's per-client limiter collapses under a shared bucket (see pacing.py), whose
# Pacer paces mutating calls per account-region instead.
RETRIES = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=20,
    user_agent_appid="deckhand",  # type: ignore[call-arg]  # botocore takes it since 1.31; botocore-stubs lacks it
)


@cache
def _models() -> Loader:
    """The service models and endpoints botocore parsed, kept by `reset()`: parsing them is most of a client's cost."""
    return botocore.session.get_session().get_component("data_loader")  # type: ignore[no-any-return]


@cache
def _session() -> boto3.session.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", _models())
    return boto3.session.Session(botocore_session=core)


@dataclass(frozen=True)
class Acting:
    """Work in another account: its member role (reads, marks) and its member deleter (removals), which trusts the
    hub deleter only, so it is assumed from it (role chaining)."""

    role: str
    deleter: str | None = None


_ACTING: ContextVar[Acting | None] = ContextVar("deckhand_acting", default=None)


@contextmanager
def acting(as_: Acting) -> Iterator[None]:
    """Clients of a named region made in this block (in this thread, and in workers given a copy of its context) act
    as `as_`."""
    token = _ACTING.set(as_)
    try:
        yield
    finally:
        _ACTING.reset(token)


def assume(role: str, via: str | None = None) -> None:
    """Assume the role now (from `via`'s credentials when given, chained), with no other call: raises what STS answers
    when it cannot be assumed. The session keeps the credentials for the clients that follow."""
    credentials = (_assumed(role) if via is None else _assumed(role, via)).get_credentials()  # _client's cache keys
    assert credentials is not None  # _assumed always sets them
    credentials.get_frozen_credentials()


@cache
def _assumed(role: str, via: str | None = None) -> boto3.session.Session:
    """A session with the role's credentials, assumed from the function's own (or from `via`'s, chained) and renewed
    by botocore."""
    source = (_session() if via is None else _assumed(via))._session
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=source.create_client,
        source_credentials=source.get_credentials(),
        role_arn=role,
        extra_args={"RoleSessionName": "deckhand"},
    )
    assumed = botocore.session.Session()
    assumed.register_component("data_loader", _models())  # one parse of each model, not one per role assumed
    # No public setter takes refreshable credentials; botocore's own assume-role provider sets this attribute too.
    assumed._credentials = DeferredRefreshableCredentials(  # type: ignore[attr-defined]
        method="assume-role", refresh_using=fetcher.fetch_credentials
    )
    return boto3.session.Session(botocore_session=assumed)


@overload
def client(
    service: Literal["application-autoscaling"], region: str | None = None, role: str | None = None
) -> ApplicationAutoScalingClient: ...


@overload
def client(
    service: Literal["autoscaling"], region: str | None = None, role: str | None = None
) -> AutoScalingClient: ...


@overload
def client(
    service: Literal["cloudformation"], region: str | None = None, role: str | None = None
) -> CloudFormationClient: ...


@overload
def client(service: Literal["cloudwatch"], region: str | None = None, role: str | None = None) -> CloudWatchClient: ...


@overload
def client(
    service: Literal["codepipeline"], region: str | None = None, role: str | None = None
) -> CodePipelineClient: ...


@overload
def client(service: Literal["dynamodb"], region: str | None = None, role: str | None = None) -> DynamoDBClient: ...


@overload
def client(service: Literal["ec2"], region: str | None = None, role: str | None = None) -> EC2Client: ...


@overload
def client(service: Literal["ecr"], region: str | None = None, role: str | None = None) -> ECRClient: ...


@overload
def client(service: Literal["ecs"], region: str | None = None, role: str | None = None) -> ECSClient: ...


@overload
def client(service: Literal["lambda"], region: str | None = None, role: str | None = None) -> LambdaClient: ...


@overload
def client(service: Literal["logs"], region: str | None = None, role: str | None = None) -> CloudWatchLogsClient: ...


@overload
def client(
    service: Literal["organizations"], region: str | None = None, role: str | None = None
) -> OrganizationsClient: ...


@overload
def client(
    service: Literal["resourcegroupstaggingapi"], region: str | None = None, role: str | None = None
) -> ResourceGroupsTaggingAPIClient: ...


@overload
def client(service: Literal["s3"], region: str | None = None, role: str | None = None) -> S3Client: ...


@overload
def client(
    service: Literal["scheduler"], region: str | None = None, role: str | None = None
) -> EventBridgeSchedulerClient: ...


@overload
def client(service: Literal["sns"], region: str | None = None, role: str | None = None) -> SNSClient: ...


@overload
def client(service: Literal["ssm"], region: str | None = None, role: str | None = None) -> SSMClient: ...


@overload
def client(service: Literal["stepfunctions"], region: str | None = None, role: str | None = None) -> SFNClient: ...


@overload
def client(service: Literal["sts"], region: str | None = None, role: str | None = None) -> STSClient: ...


def client(service: str, region: str | None = None, role: str | None = None) -> Any:
    """One client per service, region and role; region None is the function's own, role None its own account."""
    as_ = _ACTING.get()
    if as_ is None or region is None:
        return _client(service, region, role, None)
    if role is None:
        return _client(service, region, as_.role, None)
    if as_.deleter is None:
        raise PermissionError(f"{role} acts in another account, and no member deleter role was given for it")
    return _client(service, region, as_.deleter, role)


@cache
def _client(service: str, region: str | None, role: str | None, via: str | None) -> Any:
    # One cache entry per role assumed from the function's own credentials, whoever asks for it: _assumed(role).
    session = _session() if role is None else _assumed(role) if via is None else _assumed(role, via)
    made = session.client(service, region_name=region, config=RETRIES)  # type: ignore[call-overload]
    pacing_hooks.watch(made.meta.events)
    return made


def reset() -> None:
    """Forget cached clients and the session (its credentials, its event hooks), e.g. after a test moved the endpoint
    or credentials; the parsed service models stay."""
    _client.cache_clear()
    _assumed.cache_clear()
    _session.cache_clear()
