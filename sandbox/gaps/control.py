"""The sandbox's own routes, `/_sandbox/...`: what scenarios and tests ask of the server beside AWS's API.

CodePipeline jobs, stage advances, how executions run by themselves (the runner's settings, an action's injected
failure, a source change), creation dates (`backdate`), injected failures, the seeded estate, a steady
ECS service, the state and events the gap fillers keep, Step Functions' transitions and Retry time scale, and the
IAM enforcer's routes and ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.utils import get_backend as lambda_backend
from moto.cloudformation.models import cloudformation_backends
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.models import ec2_backends
from moto.ecr.models import ecr_backends
from moto.ecs.exceptions import ECSException
from moto.ecs.models import ecs_backends
from moto.logs.models import logs_backends
from werkzeug.wrappers import Request, Response

from sandbox.gaps import bus, cloudwatch, stepfunctions
from sandbox.gaps.common import JSON, ApiError, caller, parse_time, rest_json, validation
from sandbox.gaps.store import Store
from sandbox.iam import deliveries, enforce, policies

PREFIX = "/_sandbox/"

# Routes that run deployed functions: never under the store's lock.
UNLOCKED: dict[str, Callable[[Store, str, str, JSON], JSON]] = {
    bus.PUT_ROUTE: lambda store, account, region, body: bus.put_service_event(store.bus, account, region, body),
    bus.DELIVERIES_ROUTE: lambda store, _account, _region, body: bus.deliveries_of(store.bus, body),
    cloudwatch.STATE_ROUTE: lambda store, account, region, body: cloudwatch.set_state(
        store.bus, store.mute_rules, account, region, body
    ),
}


def answer(store: Store, enforcer: enforce.Enforcer | None, request: Request) -> Response:
    try:
        body: JSON = (request.get_json(silent=True) or {}) if request.method == "POST" else {}
        account = body.get("account") or caller(request)[0]
        region = body.get("region") or request.args.get("region") or caller(request)[1]
        if request.method == "POST" and request.path in UNLOCKED:  # they run functions, which call back in
            return rest_json(UNLOCKED[request.path](store, account, region, body))
        with store.lock:
            result = _route(store, enforcer, request, body, account=account, region=region)
        return rest_json(result)
    except (KeyError, TypeError, ValueError) as error:
        return rest_json({"error": "ValidationException", "message": f"invalid request: {error!r}"}, 400)
    except ApiError as error:
        return rest_json({"error": error.code, "message": error.message}, error.status)


def _route(
    store: Store, enforcer: enforce.Enforcer | None, request: Request, body: JSON, *, account: str, region: str
) -> JSON:
    method, path = request.method, request.path
    if method == "GET" and path == deliveries.LEDGER_ROUTE:
        return store.deliveries.document()
    if method == "GET":
        return _read(store, enforcer, request, account, region)
    posts: dict[str, Callable[[], JSON]] = {
        "/_sandbox/codepipeline/job": lambda: store.pipelines.create_job(account, region, body),
        "/_sandbox/codepipeline/advance": lambda: store.pipelines.advance(account, region, body),
        "/_sandbox/codepipeline/runner": lambda: store.pipelines.runner(body),
        "/_sandbox/codepipeline/fail": lambda: store.pipelines.fail_next(body),
        "/_sandbox/codepipeline/source-change": lambda: store.pipelines.source_change(account, region, body),
        "/_sandbox/backdate": lambda: _backdate_route(body, account, region),
        "/_sandbox/failures": lambda: store.failures.inject(body),
        "/_sandbox/estate": lambda: _record_estate(store, account, region, body),
        "/_sandbox/ecs/steady": lambda: _steady_service(body, account, region),
        stepfunctions.TIME_SCALE_ROUTE: lambda: store.states.scaled(body),
        deliveries.CHECK_ROUTE: lambda: store.deliveries.authorize(
            deliveries.CheckRequest.model_validate(body), policies, store.simulator
        ).model_dump(mode="json"),
        enforce.EXPECT_ROUTE: lambda: _iam(enforcer).expect(body),
        enforce.SWITCH_ROUTE: lambda: _iam(enforcer).switch(body),
        enforce.AUTHORIZE_ROUTE: lambda: _iam(enforcer).authorize(body, region),
    }
    if method == "POST" and path in posts:
        return posts[path]()
    raise ApiError("NotFound", f"no sandbox route {method} {path}", 404)


def _read(store: Store, enforcer: enforce.Enforcer | None, request: Request, account: str, region: str) -> JSON:
    path = request.path
    if path.startswith("/_sandbox/codepipeline/job/"):
        return store.pipelines.job_event(account, path.rsplit("/", 1)[1])
    if path == stepfunctions.TRANSITIONS_ROUTE:
        return store.states.counted(request.args["execution"])
    if path == "/_sandbox/estate":
        if (account, region) not in store.estates:
            raise ApiError("NotFound", f"no estate was seeded in account {account}, region {region}", 404)
        return store.estates[account, region]
    documents: dict[str, Callable[[], JSON]] = {
        "/_sandbox/state": store.pipelines.state,
        "/_sandbox/codepipeline/runner": store.pipelines.settings.document,
        "/_sandbox/failures": store.failures.state,
    }
    if path in documents:
        return documents[path]()
    if path == enforce.ROUTE:
        ledger = store.deliveries.document()
        return {**_iam(enforcer).document(), "deliveries": ledger["deliveries"], "refused": ledger["refused"]}
    if path == "/_sandbox/events":
        after = int(request.args.get("after", "0"))
        events = store.pipelines.events
        return {"events": events[after:], "next": len(events)}
    raise ApiError("NotFound", f"no sandbox route GET {path}", 404)


def _iam(enforcer: enforce.Enforcer | None) -> enforce.Enforcer:
    if enforcer is None:
        raise ApiError("NotFound", "this sandbox server authorizes nothing: it has no IAM enforcer", 404)
    return enforcer


def _record_estate(store: Store, account: str, region: str, records: JSON) -> JSON:
    store.estates[account, region] = records
    return {"account": account, "region": region}


def _steady_service(body: JSON, account: str, region: str) -> JSON:
    """moto leaves a new service's deployment IN_PROGRESS with no task running: finish it, as ECS would."""
    try:
        service = ecs_backends[account][region].describe_services(str(body["cluster"]), [str(body["service"])])[0][0]
    except (IndexError, ECSException):
        raise ApiError("NotFound", f"no ECS service {body.get('service')!r} in {body.get('cluster')!r}", 404) from None
    service.running_count, service.pending_count = service.desired_count, 0
    for deployment in service.deployments:
        deployment |= {
            "runningCount": deployment["desiredCount"],
            "pendingCount": 0,
            "rolloutState": "COMPLETED",
            "rolloutStateReason": f"ECS deployment {deployment['id']} completed.",
        }
    return {"cluster": body["cluster"], "service": body["service"], "rolloutState": "COMPLETED"}


def _backdate_route(body: JSON, account: str, region: str) -> JSON:
    try:
        created = parse_time(str(body["created"]))
        backdate(str(body["service"]), str(body["kind"]), str(body["id"]), created, account=account, region=region)
    except (KeyError, LambdaClientError, EC2ClientError) as error:
        raise ApiError("NotFound", f"cannot backdate {body}: {error!r}", 404) from None
    except ValueError as error:
        raise validation(str(error)) from None
    return {key: body[key] for key in ("service", "kind", "id", "created")}


def _ecr_images(account: str, region: str, resource_id: str) -> list[Any]:
    """`repository@digest` or `repository:tag`."""
    repository, _, reference = resource_id.partition("@" if "@" in resource_id else ":")
    images = ecr_backends[account][region].repositories[repository].images
    return [i for i in images if reference in (i.image_digest, *i.image_tags)]


def backdate(service: str, kind: str, resource_id: str, created: datetime, *, account: str, region: str) -> None:
    """Set the creation timestamp of a moto object; raises KeyError or a moto error when it is unknown."""
    naive = created.astimezone(UTC).replace(tzinfo=None)  # moto keeps naive UTC datetimes
    lambda_time = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    ec2 = ec2_backends[account][region]
    # (service, kind) -> (the objects, their creation attribute, its value)
    targets: dict[tuple[str, str], Callable[[], tuple[list[Any], str, Any]]] = {
        ("ec2", "snapshot"): lambda: ([ec2.get_snapshot(resource_id)], "start_time", naive),
        ("ec2", "volume"): lambda: ([ec2.get_volume(resource_id)], "create_time", naive),
        ("ec2", "image"): lambda: ([ec2.amis[resource_id]], "creation_date", naive),
        ("ec2", "instance"): lambda: ([ec2.get_instance(resource_id)], "launch_time", naive),
        ("ecr", "image"): lambda: (
            _ecr_images(account, region, resource_id),
            "image_pushed_at",
            int(created.timestamp()),
        ),
        ("logs", "log-group"): lambda: ([logs_backends[account][region].groups[resource_id]], "creation_time", naive),
        ("lambda", "version"): lambda: (
            [lambda_backend(account, region).get_function(*resource_id.rsplit(":", 1))],
            "last_modified",
            lambda_time,
        ),
        ("cloudformation", "stack"): lambda: (
            [
                s
                for s in cloudformation_backends[account][region].stacks.values()
                if resource_id in (s.name, s.stack_id)
            ],
            "creation_time",
            naive,
        ),
    }
    if (service, kind) not in targets:
        raise KeyError(f"{service}/{kind}")
    objects, attribute, value = targets[service, kind]()
    if not objects:
        raise KeyError(resource_id)
    for found in objects:
        setattr(found, attribute, value)
