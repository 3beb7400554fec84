"""The app deployed in a running sandbox: its functions, and the events and schedules that reach them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import ACCOUNT, REGION, router, runner, schedules
from .clients import pages, sandbox_client
from .gaps import bus
from .gaps.events import target_payload
from .iam import deliveries
from .output import InputRefused, SandboxError, say
from .process import Paths, running_state, write_state

FIRST_TICK_WINDOW = timedelta(minutes=1)
ASYNCHRONOUS = "invoked asynchronously (Event), as EventBridge invokes Lambda: its answer is not returned"


def wiring(endpoint: str) -> deliveries.Wiring:
    return deliveries.Wiring(lambda service: sandbox_client(service, endpoint), ACCOUNT, REGION)


def authorized(endpoint: str, planned: list[deliveries.Delivery]) -> list[bool]:
    """Whether each delivery may be made; a refused one is not made, and counted where its service counts it."""
    refusals = deliveries.ask(endpoint, planned, phase="delivery")
    for refusal in refusals:
        if refusal is not None:
            say(f"  not delivered: {refusal.line()}")
            deliveries.put_failure_metric(sandbox_client("cloudwatch", endpoint), refusal.delivery)
    return [refusal is None for refusal in refusals]


def function_names(endpoint: str) -> list[str]:
    return [f["FunctionName"] for f in pages(sandbox_client("lambda", endpoint).list_functions, "Functions")]


def resolve_function(name: str, endpoint: str) -> str:
    """The deployed name from itself or its service's (`switches` -> `deckhand-switches`)."""
    names = function_names(endpoint)
    if name in names:
        return name
    matches = [n for n in names if n.endswith(f"-{name}")]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InputRefused(f"no deployed function {name!r}; deployed: {', '.join(sorted(names)) or 'none'}")
    raise InputRefused(f"{name!r} is ambiguous: {', '.join(sorted(matches))}")


class Functions:
    """Deployed functions, loaded once per command."""

    def __init__(self, endpoint: str, paths: Paths) -> None:
        self.endpoint = endpoint
        self.paths = paths
        self.loaded: dict[str, runner.DeployedFunction] = {}

    def get(self, name: str) -> runner.DeployedFunction:
        if name not in self.loaded:
            self.loaded[name] = runner.load(
                name,
                lambda_client=sandbox_client("lambda", self.endpoint),
                s3_client=sandbox_client("s3", self.endpoint),
                sts_client=sandbox_client("sts", self.endpoint),
                cache_dir=self.paths.assets,
            )
        return self.loaded[name]

    def invoke(self, name: str, payload: Any) -> runner.Invocation:
        return runner.invoke(self.get(name), payload, endpoint=self.endpoint)


def response_summary(invocation: runner.Invocation) -> str:
    if invocation.error is not None:
        return f"ERROR {invocation.error.type}: {invocation.error.message}"
    response = invocation.response
    if isinstance(response, dict) and "status" in response:
        extra = f" ({'; '.join(map(str, response['errors']))})" if response.get("errors") else ""
        return f"status={response['status']}{extra}"
    text = json.dumps(response, default=str)
    return text if len(text) <= 100 else text[:97] + "..."


@dataclass(frozen=True)
class Fired:
    """One target run: by which rule or schedule, at what (scheduled) time, with what result."""

    source: str
    target_id: str
    invocation: runner.Invocation
    at: str | None = None

    def line(self) -> str:
        when = f"{self.at} " if self.at else ""
        took = f"{self.invocation.duration_ms:.0f} ms"
        return f"  {when}{self.source} → {self.invocation.function_name}: {response_summary(self.invocation)} ({took})"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target_id": self.target_id, "at": self.at, **self.invocation.to_dict()}


def emit(event: dict[str, Any], endpoint: str) -> list[Fired]:
    """Put `event` on the sandbox's default bus; the server routes it through the deployed rules and delivers it.

    A client's PutEvents may not use an aws.* source (NotAuthorizedForSourceException), so an AWS service's event is
    put as its service puts it (the server's route) and each function target runs to its answer; any other goes
    through PutEvents, and its functions run asynchronously, as EventBridge invokes them.
    """
    if str(event["source"]).startswith(bus.AWS_SOURCE):
        answer = server_route(endpoint, bus.PUT_ROUTE, {"event": event})
        added = ", ".join(k for k in ("id", "time", "account", "region", "version", "resources") if k not in event)
        say(f"  {event['source']} put as its service puts it (PutEvents refuses aws.*), adding {added or 'nothing'}")
        return fired_by(answer)
    entry = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": list(event.get("resources", [])),
    }
    (result,) = sandbox_client("events", endpoint).put_events(Entries=[entry])["Entries"]
    if "ErrorCode" in result:
        raise SandboxError(f"PutEvents failed the event: {result['ErrorCode']}: {result['ErrorMessage']}")
    say(f"  PutEvents: event {result['EventId']} on the default bus")
    return fired_by(server_route(endpoint, bus.DELIVERIES_ROUTE, {"event_id": result["EventId"]}))


def server_route(endpoint: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST to one of the server's own routes that runs functions (so no short timeout); its error as SandboxError."""
    request = urllib.request.Request(  # noqa: S310 - the local sandbox
        endpoint + path, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:  # noqa: S310
            return dict(json.load(answer))
    except urllib.error.HTTPError as refused:
        raise SandboxError(f"the sandbox refused {path}: {json.load(refused).get('message')}") from None


def fired_by(answer: dict[str, Any]) -> list[Fired]:
    """The function targets the server delivered to, each with its answer; the other deliveries said."""
    fired = []
    for delivery in answer["deliveries"]:
        rule = f"rule {delivery['rule'].rsplit('/', 1)[1]}"
        function = router.lambda_function_name(delivery["target"])
        if delivery["outcome"] == "refused":
            say(f"  not delivered: {delivery['reason']}")  # the refusal names the delivery
        elif function is None:
            said = "delivered" if delivery["outcome"] == "delivered" else f"not delivered: {delivery['reason']}"
            say(f"  {rule} → {delivery['target']}: {said}")
        else:
            fired.append(Fired(rule, delivery["target_id"], delivered_invocation(function, delivery)))
    return fired


def delivered_invocation(function: str, delivery: dict[str, Any]) -> runner.Invocation:
    answer = delivery["answer"]
    if delivery["outcome"] == "failed":
        error = runner.InvocationError("FailedInvocation", str(delivery["reason"]), "")
    elif delivery["function_error"]:
        stack = tuple(str(frame) for frame in answer.get("stackTrace") or ())
        error = runner.InvocationError(str(answer.get("errorType")), str(answer.get("errorMessage")), "", stack)
    else:
        response = ASYNCHRONOUS if answer is None else answer
        return runner.Invocation(function, delivery["event_id"], None, response=response)
    return runner.Invocation(function, delivery["event_id"], None, error=error)


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_at(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputRefused(f"--at {text!r} is not an ISO-8601 time like 2026-11-22T09:00:00+01:00") from None
    if moment.tzinfo is None:
        raise InputRefused(f"--at {text!r} has no offset: add Z or +HH:MM")
    return moment.astimezone(UTC)


def tick(at: datetime, functions: Functions, paths: Paths) -> tuple[datetime, list[Fired]]:
    """Fire what is due in (last tick, at], in time order; the first tick looks one minute back."""
    state = running_state(paths)
    start = datetime.fromisoformat(state["last_tick"]) if state.get("last_tick") else at - FIRST_TICK_WINDOW
    if at <= start:
        raise InputRefused(f"--at {iso_z(at)} is not after the last tick {iso_z(start)}: time only moves forward")
    endpoint = functions.endpoint
    dues = sorted([*due_rule_targets(start, at, endpoint), *due_schedule_targets(start, at, endpoint)])
    allowed = authorized(endpoint, [d.delivery for d in dues])
    fired = [
        Fired(d.source, d.target_id, functions.invoke(d.function, d.payload), iso_z(d.at))
        for d, delivered in zip(dues, allowed, strict=True)
        if delivered
    ]
    finish_one_time_schedules(dues, endpoint)
    write_state(paths, {**state, "last_tick": at.isoformat()})
    return start, fired


@dataclass(frozen=True, order=True)
class Due:
    """One Lambda target due to run at a time, with the payload it gets."""

    at: datetime
    source: str
    target_id: str
    function: str
    payload: Any = field(compare=False)
    delivery: deliveries.Delivery = field(compare=False)  # what the service must be allowed to do
    one_time: tuple[str, str] | None = field(default=None, compare=False)  # (group, name) to delete after


def due_rule_targets(start: datetime, end: datetime, endpoint: str) -> Iterator[Due]:
    """EventBridge rules with a ScheduleExpression (UTC); each target gets what EventBridge would send."""
    paths = wiring(endpoint)
    for name, expression, targets in router.scheduled_rules(sandbox_client("events", endpoint)):
        arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}"
        for moment in schedules.due(expression, None, start, end):
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT,
                "time": iso_z(moment),
                "region": REGION,
                "resources": [arn],
                "detail": {},
            }
            for target in targets:
                function = router.lambda_function_name(target["Arn"])
                if function is not None:
                    payload = target_payload(target, event, rule_name=name, rule_arn=arn)
                    delivery = paths.rule_to_function(name, target["Arn"])
                    yield Due(moment, f"rule {name}", target["Id"], function, payload, delivery)


def due_schedule_targets(start: datetime, end: datetime, endpoint: str) -> Iterator[Due]:
    """EventBridge Scheduler schedules (with their time zones, start and end dates) that invoke a function."""
    scheduler = sandbox_client("scheduler", endpoint)
    paths = wiring(endpoint)
    for summary in pages(scheduler.list_schedules, "Schedules"):
        group = summary.get("GroupName", "default")
        schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=group)
        function = router.lambda_function_name(schedule["Target"]["Arn"])
        if schedule.get("State") == "DISABLED" or function is None:
            continue
        expression, zone = schedule["ScheduleExpression"], schedule.get("ScheduleExpressionTimezone")
        one_time = expression.startswith("at(") and schedule.get("ActionAfterCompletion") == "DELETE"
        for moment in schedules.due(
            expression,
            zone,
            max(start, schedule["StartDate"]) if schedule.get("StartDate") else start,
            min(end, schedule["EndDate"]) if schedule.get("EndDate") else end,
            anchor=schedule.get("StartDate") or schedule.get("CreationDate") or schedules.EPOCH,
        ):
            source = f"schedule {group}/{schedule['Name']}"
            payload = schedule_payload(schedule, moment)
            yield Due(
                moment,
                source,
                schedule["Arn"],
                function,
                payload,
                paths.schedule_to_function(schedule),
                (group, schedule["Name"]) if one_time else None,
            )


def finish_one_time_schedules(dues: list[Due], endpoint: str) -> None:
    """A one-time schedule with ActionAfterCompletion DELETE is gone once it ran, as in Scheduler."""
    scheduler = sandbox_client("scheduler", endpoint)
    for group, name in {d.one_time for d in dues if d.one_time}:
        scheduler.delete_schedule(Name=name, GroupName=group)


def schedule_payload(schedule: dict[str, Any], moment: datetime) -> Any:
    """The target's Input with Scheduler's context attributes filled in; {} without one."""
    text = schedule["Target"].get("Input")
    if not text:
        return {}
    for name, value in {
        "<aws.scheduler.schedule-arn>": schedule["Arn"],
        "<aws.scheduler.scheduled-time>": iso_z(moment),
        "<aws.scheduler.execution-id>": str(uuid.uuid4()),
        "<aws.scheduler.attempt-number>": "1",
    }.items():
        text = text.replace(name, value)
    try:
        return json.loads(text)
    except ValueError:
        return text
