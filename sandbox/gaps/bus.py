"""EventBridge in the server: PutEvents from any client, validated as AWS validates it, and every event put on a bus
(a client's entry, an alarm's state change, a pipeline's) routed through that bus's rules to their targets.

The server is the one owner of delivery: `Bus.put` is the sink the services the sandbox plays (CloudWatch,
CodePipeline) emit into, and PutEvents puts a client's entries through it. Routing and delivery run on the bus's
own worker, never under the store's lock: a Lambda target is invoked asynchronously (`Event`, as EventBridge invokes
Lambda), a queue or a topic gets its message through moto. Each delivery is authorized as AWS authorizes
events.amazonaws.com (`sandbox.iam.deliveries`); a refused or failed one is counted in AWS/Events FailedInvocations
for its rule, and every delivery is kept in `Bus.delivered` (`DELIVERIES_ROUTE` answers an event's).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from moto.events.models import Rule, events_backends
from werkzeug.wrappers import Request, Response

from sandbox.gaps import deliver
from sandbox.gaps.common import JSON, ApiError, caller, iso_z
from sandbox.gaps.events import ENABLED, event_matches, target_payload
from sandbox.gaps.invoke import Invoke, Invoked
from sandbox.iam import deliveries
from sandbox.iam.deliveries import EVENTS, Check, Ledger
from sandbox.iam.model import Call
from sandbox.iam.simulator import Simulator

LOG = logging.getLogger(__name__)

# PutEvents limits, from botocore's events model (PutEventsRequestEntryList max 10; "the total entry size must be
# less than 1MB", sized as the user guide's "Calculating PutEvents event entry size" says; "PutEvents will only
# process nested JSON up to 1000 levels deep").
MAX_ENTRIES = 10
MAX_ENTRIES_BYTES = 1024 * 1024
TIME_BYTES = 14
MAX_DEPTH = 1000
# The sources AWS services emit with: a client's entry with one fails, NotAuthorizedForSourceException "Not authorized
# for the source." (the event structure reference: "All events that come from AWS services begin with aws."; a real
# `aws events put-events` answer quoted in aws-samples/serverless-patterns#3089).
AWS_SOURCE = "aws."
CONTENT_TYPE = "application/x-amz-json-1.1"
# What a target answers when it no longer exists (Lambda's, SQS's and SNS's error codes).
TARGET_GONE = frozenset({"ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "NotFound"})
MAX_ERROR_MESSAGE = 256  # the sandbox's bound on the ERROR_MESSAGE attribute (AWS documents none)
# The sandbox's own routes (sandbox.gaps.control): a service's event put on the bus, its deliveries waited for.
PUT_ROUTE = "/_sandbox/events/put"  # POST {"event"}: as the event's source service puts it; answers its deliveries
DELIVERIES_ROUTE = "/_sandbox/events/deliveries"  # POST {"event_id"}: once the bus is idle, that event's deliveries


@dataclass(frozen=True)
class Delivered:
    """One target an event was routed to, and what became of it."""

    event_id: str
    rule: str  # the rule's ARN
    target_id: str
    target: str  # the target's ARN
    outcome: str  # "delivered", "refused" (IAM) or "failed" (the target could not take it)
    reason: str = ""
    answer: Any = None  # a function's answer, when it ran while the caller waited (`put_and_wait`)
    function_error: str | None = None
    dead_letter: str | None = None  # the target's dead-letter queue, when the undelivered event was sent there


class Bus:
    """The event buses of one server: `put` routes an event on its bus's rules and delivers it, on the bus's worker."""

    def __init__(self, ledger: Ledger, simulator: Simulator, invoke: Invoke) -> None:
        self.ledger = ledger
        self.simulator = simulator
        self.invoke = invoke
        self.delivered: list[Delivered] = []
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._started = threading.Lock()

    def put(self, *, account: str, region: str, event: JSON, bus: str = "default") -> None:
        """Route `event` (a whole EventBridge event) on the bus's rules and deliver it to their targets, later."""

        received = iso_z(datetime.now(UTC))

        def route() -> None:
            self._route(account, region, bus, event, received=received)

        self._later(route)

    def put_and_wait(self, *, account: str, region: str, event: JSON, bus: str = "default") -> list[Delivered]:
        """Route and deliver `event` now, in the caller's thread, each function run to its answer: how the
        sandbox's own routes let a rehearsal see what a service's event did (a client's PutEvents never waits)."""
        return self._route(
            account, region, bus, event, received=iso_z(datetime.now(UTC)), invocation_type="RequestResponse"
        )

    def wait(self, timeout: float = 60.0) -> None:
        """Until every event put so far is delivered (what a test or a scenario waits for)."""
        done = threading.Event()
        self._later(done.set)
        if not done.wait(timeout):
            raise TimeoutError(f"the event bus did not deliver within {timeout} s")

    def _later(self, job: Callable[[], None]) -> None:
        with self._started:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="sandbox-event-bus", daemon=True)
                self._worker.start()
        self._jobs.put(job)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except Exception:  # one bad delivery must not stop the bus
                LOG.exception("the event bus failed a delivery")

    def _route(
        self, account: str, region: str, bus_name: str, event: JSON, *, received: str, invocation_type: str = "Event"
    ) -> list[Delivered]:
        # A bus that does not exist takes the event and routes it nowhere: AWS answers such an entry with an EventId
        # too, as users report of the service (https://github.com/aws/aws-cli/issues/9186, aws/aws-sdk#186).
        bus = events_backends[account][region].event_buses.get(bus_name)
        return [
            self._deliver(rule, target, event, received, invocation_type)
            for rule in (list(bus.rules.values()) if bus is not None else [])
            if rule.state in ENABLED and _matches(rule, event)
            for target in list(rule.targets)
        ]

    def _deliver(
        self, rule: Rule, target: Mapping[str, Any], event: JSON, received: str, invocation_type: str
    ) -> Delivered:
        arn = str(target["Arn"])
        service = arn.split(":")[2]
        try:
            payload = target_payload(
                dict(target), event, rule_name=rule.name, rule_arn=rule.arn, ingestion_time=received
            )
        except ValueError as invalid:
            return self._record(event, rule, target, "failed", f"the target's input could not be built: {invalid}")
        checks: tuple[Check, ...]
        if service == "lambda":
            checks = (Check(principal=EVENTS, action="lambda:InvokeFunction", resource=arn),)
        elif service == "sqs":
            checks = deliver.to_queue(EVENTS, arn, {})
        elif service == "sns":
            checks = deliver.to_topic(EVENTS, arn, {})
        elif service == "events" and target.get("RoleArn"):
            checks = deliver.to_bus(rule.arn, arn, str(target["RoleArn"]))
        else:
            deliver.count_failure(deliveries.rule_delivery(rule.arn, arn, service, ()))
            return self._record(event, rule, target, "failed", f"the sandbox delivers to no {service} target")
        delivery = deliveries.rule_delivery(
            rule.arn, arn, {"lambda": "function", "sqs": "queue", "events": "event bus"}.get(service, "topic"), checks
        )
        refusal = deliver.authorized(self.ledger, self.simulator, delivery)
        if refusal is not None:
            reason = refusal.line()
            dead_letter = self._dead_letter(rule, target, event, "NO_PERMISSIONS", reason)
            return self._record(event, rule, target, "refused", reason, dead_letter=dead_letter)
        try:
            if service == "lambda":
                answer = self._invoke(arn, payload, invocation_type)
                return self._record(
                    event, rule, target, "delivered", answer=_answer(answer), function_error=answer.function_error
                )
            if service == "events":  # routed on the other bus as it stands, its account still the source's
                owner, home, name = _bus_of(arn, "", "")
                self._route(owner, home, name, event, received=received, invocation_type=invocation_type)
            else:
                self._send(service, arn, target, event, payload)
        except Exception as failed:  # the target refused it: EventBridge counts a failed invocation
            deliver.count_failure(delivery)
            reason = f"{type(failed).__name__}: {failed}"
            dead_letter = self._dead_letter(rule, target, event, _error_code(failed), reason)
            return self._record(event, rule, target, "failed", reason, dead_letter=dead_letter)
        return self._record(event, rule, target, "delivered")

    def _dead_letter(self, rule: Rule, target: Mapping[str, Any], event: JSON, code: str, message: str) -> str | None:
        """Send the undelivered event to the target's dead-letter queue, if it has one: the queue's ARN once sent.

        The user guide's "Using dead-letter queues to process undelivered events": a failure from missing
        permissions or a target that no longer exists is not retried but sent directly to the DLQ, as the event with
        the custom attributes RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION and
        RETRY_ATTEMPTS, counted in InvocationsSentToDlq (or InvocationsFailedToBeSentToDlq). The sandbox's failures
        are all of that kind, so nothing is retried and RetryPolicy never runs out (no EXHAUSTED_RETRY_CONDITION).
        """
        queue_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not queue_arn:
            return None
        context = deliveries.on_behalf_of(rule.arn)
        delivery = deliveries.dead_letter_delivery(rule.arn, queue_arn, deliver.to_queue(EVENTS, queue_arn, context))
        if deliver.authorized(self.ledger, self.simulator, delivery) is not None:
            return None
        attributes = {"RULE_ARN": rule.arn, "TARGET_ARN": str(target["Arn"]), "ERROR_CODE": code}
        attributes |= {"ERROR_MESSAGE": message[:MAX_ERROR_MESSAGE], "RETRY_ATTEMPTS": "0"}
        try:
            deliver.send(queue_arn, json.dumps(event), attributes=attributes)
        except Exception:  # the queue could not take it either
            deliver.count_failure(delivery)
            return None
        deliver.count(deliveries.rule_metric(rule.arn, "InvocationsSentToDlq"), rule.arn)
        return str(queue_arn)

    def _invoke(self, arn: str, payload: Any, invocation_type: str) -> Invoked:
        _, _, _, region, account, _ = arn.split(":", 5)
        return self.invoke(
            account=account,
            region=region,
            function=arn,
            payload=json.dumps(payload).encode(),
            invocation_type=invocation_type,
        )

    def _send(self, service: str, arn: str, target: Mapping[str, Any], event: JSON, payload: Any) -> None:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        if service == "sqs":
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            deliver.send(arn, body, group_id=group, deduplication_id=str(event["id"]) if group else None)
        else:
            deliver.publish(arn, body)

    def _record(
        self, event: JSON, rule: Rule, target: Mapping[str, Any], outcome: str, reason: str = "", **ran: Any
    ) -> Delivered:
        done = Delivered(str(event.get("id")), rule.arn, str(target["Id"]), str(target["Arn"]), outcome, reason, **ran)
        self.delivered.append(done)
        return done


def _error_code(failed: Exception) -> str:
    """The DLQ's ERROR_CODE of a target's failure: NO_RESOURCE for a target that no longer exists."""
    gone = isinstance(failed, LookupError) or getattr(failed, "code", "") in TARGET_GONE
    return "NO_RESOURCE" if gone else "SDK_CLIENT_ERROR"


def _answer(invoked: Invoked) -> Any:
    """The function's answer (its error object for a function error); None for an asynchronous invocation."""
    return json.loads(invoked.payload) if invoked.payload else None


def _matches(rule: Rule, event: JSON) -> bool:
    """A rule with an event pattern matches by it; a scheduled rule (no pattern) matches no event."""
    pattern = rule.event_pattern.get_pattern()
    return bool(pattern) and event_matches(pattern, event)


# --- the sandbox's own routes ----------------------------------------------------------------------------------------


def put_service_event(bus: Bus, account: str, region: str, body: JSON) -> JSON:
    """`PUT_ROUTE`: the event as its AWS service puts it on the default bus (id, time, account and region added,
    as EventBridge adds them), delivered while the caller waits; a client's PutEvents may not use an aws.* source."""
    refusal = event_refusal(body.get("event"))
    if refusal is not None:
        raise ApiError("ValidationException", f"event: {refusal}")
    partial: JSON = body["event"]
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "time": iso_z(datetime.now(UTC)),
        "account": account,
        "region": region,
        "resources": [],
        **partial,
    }
    routed = bus.put_and_wait(account=str(event["account"]), region=str(event["region"]), event=event)
    return {"event": event, "deliveries": [asdict(d) for d in routed]}


def event_refusal(event: Any) -> str | None:
    """Why EventBridge would fail this event (None when it would not), as its PutEvents entry.

    "Detail, DetailType, and Source are required for EventBridge to successfully send an event to an event
    bus"; Detail is "a valid JSON object" (PutEventsRequestEntry, botocore's events service model).
    """
    if not isinstance(event, dict):
        return f"holds {json_kind(event)}, not an EventBridge event (a JSON object)"
    missing = [key for key in ("source", "detail-type", "detail") if key not in event]
    if missing:
        return f"the event has no {', '.join(missing)}: EventBridge requires source, detail-type and detail"
    if not isinstance(event["detail"], dict):
        return f"the event's detail is {json_kind(event['detail'])}: EventBridge requires a JSON object"
    return None


def json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), "an object")


def deliveries_of(bus: Bus, body: JSON) -> JSON:
    """`DELIVERIES_ROUTE`: once what was put so far is delivered, the deliveries of one event (a client's PutEvents)."""
    bus.wait()
    event_id = str(body["event_id"])
    return {"deliveries": [asdict(d) for d in list(bus.delivered) if d.event_id == event_id]}


# --- PutEvents ---------------------------------------------------------------------------------------------------


def put_events(bus: Bus, request: Request, call: Call) -> Response:
    """PutEvents: each entry accepted (its EventId) or failed (ErrorCode, ErrorMessage); or the request refused."""
    account, region = caller(request)
    try:
        entries = _entries(call.params)
    except ApiError as error:
        body = {"__type": error.code, "message": error.message}
        return Response(json.dumps(body), status=error.status, content_type=CONTENT_TYPE)
    now = datetime.now(UTC)
    results = []
    for entry in entries:
        failure = entry_failure(entry)
        if failure is not None:
            results.append({"ErrorCode": failure[0], "ErrorMessage": failure[1]})
            continue
        event_id = str(uuid.uuid4())
        owner, home, name = _bus_of(entry.get("EventBusName"), account, region)
        bus.put(account=owner, region=home, event=_event(entry, event_id, owner, home, now), bus=name)
        results.append({"EventId": event_id})
    failed = sum("ErrorCode" in result for result in results)
    return Response(json.dumps({"FailedEntryCount": failed, "Entries": results}), content_type=CONTENT_TYPE)


def _entries(params: Mapping[str, Any]) -> list[JSON]:
    entries = params.get("Entries")
    if (
        not isinstance(entries, list)
        or not entries
        or len(entries) > MAX_ENTRIES
        or not all(isinstance(e, dict) for e in entries)
    ):
        raise ApiError(
            "ValidationException",
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: "
            f"Member must have length between 1 and {MAX_ENTRIES}",
        )
    if sum(entry_size(e) for e in entries) >= MAX_ENTRIES_BYTES:
        raise ApiError("ValidationException", "Total size of the entries in the request is over the limit.")
    # botocore's model, PutEventsRequestEntry: "If you submit a request in which none of the entries have each of
    # these properties [Source, DetailType, Detail], EventBridge fails the entire request."
    if not any(all(e.get(field) for field in ("Source", "DetailType", "Detail")) for e in entries):
        raise ApiError(
            "ValidationException", "No entry has Source, DetailType and Detail: EventBridge requires all three"
        )
    return entries


def entry_size(entry: Mapping[str, Any]) -> int:
    """The user guide's "Calculating PutEvents event entry size": Time 14 bytes, the rest their UTF-8 bytes."""
    size = TIME_BYTES if entry.get("Time") is not None else 0
    for field in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(field) or "").encode("utf-8", "surrogatepass"))
    return size + sum(len(str(r).encode("utf-8", "surrogatepass")) for r in entry.get("Resources") or [])


def entry_failure(entry: Mapping[str, Any]) -> tuple[str, str] | None:
    """(ErrorCode, ErrorMessage) of an entry EventBridge fails, as PutEventsResultEntry documents the codes."""
    for field in ("Source", "DetailType", "Detail"):
        if not entry.get(field):
            return "InvalidArgument", f"Parameter {field} is not valid. Reason: {field} is a required argument."
    if str(entry["Source"]).startswith(AWS_SOURCE):
        return "NotAuthorizedForSourceException", "Not authorized for the source."
    try:
        detail = json.loads(str(entry["Detail"]))
    except (ValueError, RecursionError):
        detail = None
    # PutEventsRequestEntry.Detail: "A valid JSON object".
    if not isinstance(detail, dict) or _depth(detail) > MAX_DEPTH:
        return "MalformedDetail", "Detail is malformed."
    return None


def _depth(document: Any) -> int:
    deepest, stack = 0, [(document, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _bus_of(name_or_arn: str | None, account: str, region: str) -> tuple[str, str, str]:
    """(account, region, name) of an entry's bus: a name in the caller's account and region, or an ARN."""
    if name_or_arn and name_or_arn.startswith("arn:"):
        _, _, _, region, account, resource = name_or_arn.split(":", 5)
        return account, region, resource.split("/", 1)[1]
    return account, region, name_or_arn or "default"


def _event(entry: Mapping[str, Any], event_id: str, account: str, region: str, now: datetime) -> JSON:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": account,
        "time": iso_z(_time(entry.get("Time")) or now),
        "region": region,
        "resources": list(entry.get("Resources") or []),
        "detail": json.loads(entry["Detail"]),
    }


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return None
