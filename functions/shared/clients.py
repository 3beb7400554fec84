"""boto3 clients created lazily, once per container, with standard retries and mutating calls paced (pacing.py).

Every AWS call in Deckhand goes through `client()`, so retries, timeouts and the endpoint
(AWS_ENDPOINT_URL, honoured by botocore) are set in one place. A role (another account's) gives
clients with that role's credentials, refreshed before they expire: what a fan-out over accounts needs.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.loaders import Loader

from functions.shared import pacing

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
    from mypy_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient
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


@cache
def _assumed(role: str) -> boto3.session.Session:
    """A session with the role's credentials, assumed from the function's own and renewed by botocore."""
    source = _session()._session
    fetcher = AssumeRoleCredentialFetcher(
        client_creator=source.create_client,
        source_credentials=source.get_credentials(),
        role_arn=role,
        extra_args={"RoleSessionName": "deckhand"},
    )
    assumed = botocore.session.Session()
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
def client(service: Literal["sts"], region: str | None = None, role: str | None = None) -> STSClient: ...


def client(service: str, region: str | None = None, role: str | None = None) -> Any:
    """One client per service, region and role; region None is the function's own, role None its own account."""
    return _client(service, region, role)


@cache
def _client(service: str, region: str | None, role: str | None) -> Any:
    session = _session() if role is None else _assumed(role)
    made = session.client(service, region_name=region, config=RETRIES)  # type: ignore[call-overload]
    pacing.watch(made.meta.events)
    return made


def reset() -> None:
    """Forget cached clients and the session (its credentials, its event hooks), e.g. after a test moved the endpoint
    or credentials; the parsed service models stay."""
    _client.cache_clear()
    _assumed.cache_clear()
    _session.cache_clear()
