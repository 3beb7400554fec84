"""Service-to-service deliveries, authorized the way each service authorizes them.

Every path the deployed stacks wire (rule → function, rule → dead-letter queue and its key, alarm → topic
and its key, Scheduler → its role → function and dead-letter queue, Lambda async failure → DLQ and
on-failure destination, CodePipeline → the gate, Lambda → its execution role) is a `Delivery`: the IAM
checks the delivering service must pass, each as AWS evaluates it (principal, action, resource, context).

The work is split where the data is. `Wiring` discovers the wiring through the AWS APIs (on what is deployed,
not on the template): rules and targets, alarms, schedules, function configurations, pipelines; `up` checks
every path it finds, and the server's Lambda runtime plans a function's failure deliveries with it. The server's
bus and CodePipeline runner build each delivery as they make it (`rule_delivery`, `pipeline_to_function`). The
sandbox server authorizes (`Ledger.authorize`), because the policies it evaluates are read from
moto's backends in its own process (`sandbox.iam.policies`), by the same reader and the same simulator
that authorize the functions' own requests; it keeps the counts (`Ledger`) that `status` and the
demo's last line show. `POST /_sandbox/iam/deliveries/check` carries `Delivery` models in and the
refusals out.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from sandbox.iam.simulator import Policy, Simulation, Simulator, SimulatorError, Verdict

CHECK_ROUTE = "/_sandbox/iam/deliveries/check"
LEDGER_ROUTE = "/_sandbox/iam/deliveries"

EVENTS = "events.amazonaws.com"
CLOUDWATCH = "cloudwatch.amazonaws.com"
SCHEDULER = "scheduler.amazonaws.com"
LAMBDA = "lambda.amazonaws.com"
SEND_TO_ENCRYPTED_QUEUE = ("kms:GenerateDataKey", "kms:Decrypt")
SCHEDULER_SESSION = "scheduler"
TLS = {"aws:SecureTransport": "true"}  # every service-to-service call travels over TLS

Phase = Literal["deploy", "delivery"]  # a path checked after `up`, or an event or schedule being delivered


class Check(BaseModel):
    """One authorization the delivering service must pass."""

    model_config = ConfigDict(frozen=True)

    principal: str  # a service principal, or the session of an assumed role
    action: str
    resource: str
    context: dict[str, str] = Field(default_factory=dict)
    role: str | None = None  # the role whose identity policies apply: the principal is one of its sessions

    def line(self) -> str:
        return f"{self.principal} {self.action} on {self.resource}"


class Metric(BaseModel):
    """What the service counts when it cannot deliver (CloudWatch namespace, name, dimensions)."""

    model_config = ConfigDict(frozen=True)

    namespace: str
    names: tuple[str, ...]
    dimensions: dict[str, str] = Field(default_factory=dict)


class Delivery(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str  # "rule → function", "alarm → topic", ...
    source: str  # the ARN of what delivers: rule, alarm, schedule, function, pipeline
    target: str  # the ARN of what receives
    checks: tuple[Check, ...]
    metric: Metric | None = None

    def line(self) -> str:
        return f"{self.kind}: {self.source} → {self.target}"


class Refusal(BaseModel):
    delivery: Delivery
    check: Check
    decision: str
    reason: str
    phase: Phase

    def line(self) -> str:
        return f"{self.delivery.line()}: {self.check.line()} is {self.decision} ({self.reason})"


class CheckRequest(BaseModel):
    deliveries: tuple[Delivery, ...]
    phase: Phase


class CheckAnswer(BaseModel):
    refusals: tuple[Refusal | None, ...]  # one per delivery, in order


# --- the server side: decide and count ----------------------------------------------------------------


class Policies(Protocol):
    """How the deployed policies are read: `sandbox.iam.policies`, from moto's backends in the server's process."""

    def identity_policies(self, account: str, role_name_or_arn: str) -> list[Policy]: ...

    def resource_policy(self, arn: str) -> Mapping[str, Any] | None: ...


def account_of(arn: str) -> str:
    return arn.split(":")[4]


def decide(check: Check, policies: Policies, simulator: Simulator) -> Verdict:
    """AWS's decision: the role's identity policies (if the principal is a role session) and the resource's
    policy (function, queue, topic, key policy, or a role's trust for sts:AssumeRole)."""
    account = account_of(check.resource)
    return simulator.evaluate(
        Simulation(
            principal=check.principal,
            action=check.action,
            resource=check.resource,
            resource_account=account,
            context={**TLS, **check.context},
            identity_policies=policies.identity_policies(account_of(check.role), check.role) if check.role else (),
            resource_policy=policies.resource_policy(check.resource),
        )
    )


class Ledger:
    """What the server counted: deliveries authorized, and every refusal with why."""

    def __init__(self) -> None:
        self.authorized = 0
        self.refusals: list[Refusal] = []

    def authorize(self, request: CheckRequest, policies: Policies, simulator: Simulator) -> CheckAnswer:
        answers: list[Refusal | None] = []
        for delivery in request.deliveries:
            refusal = refused(delivery, policies, simulator, phase=request.phase)
            if refusal is None:
                self.authorized += 1
            else:
                self.refusals.append(refusal)
            answers.append(refusal)
        return CheckAnswer(refusals=tuple(answers))

    def document(self) -> dict[str, Any]:
        return {
            "deliveries": self.authorized,
            "refused": len(self.refusals),
            "refusals": [{"line": r.line(), **r.model_dump(mode="json")} for r in self.refusals],
        }


def refused(delivery: Delivery, policies: Policies, simulator: Simulator, *, phase: Phase) -> Refusal | None:
    """The first check the delivery fails, as AWS stops at the first refused call; None when all pass."""
    for check in delivery.checks:
        try:
            verdict = decide(check, policies, simulator)
        except SimulatorError as failed:  # a policy IAM would not even accept: nothing is delivered through it
            return Refusal(delivery=delivery, check=check, decision="Unevaluable", reason=str(failed), phase=phase)
        if not verdict.allowed:
            return Refusal(
                delivery=delivery, check=check, decision=verdict.decision, reason=verdict.explain(), phase=phase
            )
    return None


# --- the CLI side: what is wired ----------------------------------------------------------------------


def session_of(role_arn: str, session: str) -> str:
    """The principal a service acts as after assuming a role (a role ARN may carry a path)."""
    account, name = account_of(role_arn), role_arn.rsplit("/", 1)[1]
    return f"arn:aws:sts::{account}:assumed-role/{name}/{session}"


def on_behalf_of(source_arn: str) -> dict[str, str]:
    """The context a service principal's request carries (IAM User Guide, aws:SourceArn / aws:SourceAccount)."""
    return {"aws:SourceArn": source_arn, "aws:SourceAccount": account_of(source_arn)}


def rule_delivery(rule_arn: str, target_arn: str, kind: str, checks: Sequence[Check]) -> Delivery:
    """A rule's delivery to one target: each check made by EventBridge on behalf of the rule, a failure counted in
    AWS/Events FailedInvocations for the rule."""
    context = on_behalf_of(rule_arn)
    return Delivery(
        kind=f"rule → {kind}",
        source=rule_arn,
        target=target_arn,
        checks=tuple(check.model_copy(update={"context": {**context, **check.context}}) for check in checks),
        metric=rule_metric(rule_arn, "FailedInvocations"),
    )


def dead_letter_delivery(rule_arn: str, queue_arn: str, checks: Sequence[Check]) -> Delivery:
    """A rule's undelivered event sent to its target's dead-letter queue (EventBridge user guide, "Using dead-letter
    queues": the queue policy lets events.amazonaws.com sqs:SendMessage for the rule, and a queue under a customer
    managed key needs the key policy too); a failure counted in InvocationsFailedToBeSentToDlq."""
    return Delivery(
        kind="rule → dead-letter queue",
        source=rule_arn,
        target=queue_arn,
        checks=tuple(checks),
        metric=rule_metric(rule_arn, "InvocationsFailedToBeSentToDlq"),
    )


def function_arn(name: str, region: str, account: str) -> str:
    """The ARN of the function a pipeline's Invoke action names (its FunctionName: a name or an ARN)."""
    return name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"


def pipeline_to_function(stage_arn: str, role: str, function: str) -> Delivery:
    """A pipeline stage's Invoke action: CodePipeline user guide, "Invoke an AWS Lambda function in a pipeline":
    the service role (or the action's role) needs lambda:InvokeFunction on the function."""
    invoke = Check(
        principal=session_of(role, "codepipeline"), action="lambda:InvokeFunction", resource=function, role=role
    )
    return Delivery(kind="pipeline → function", source=stage_arn, target=function, checks=(invoke,))


def rule_metric(rule_arn: str, name: str) -> Metric:
    """An AWS/Events metric of a rule. "Metrics that specify only the RuleName dimension refer to the default event
    bus. Metrics that specify both the EventBusName and RuleName dimensions refer to a custom event bus" (EventBridge
    user guide, "Monitoring Amazon EventBridge"); a custom bus's rule ARN is rule/<bus>/<rule>."""
    *bus, rule_name = rule_arn.split(":", 5)[5].split("/")[1:]
    dimensions = {"RuleName": rule_name, **({"EventBusName": bus[0]} if bus else {})}
    return Metric(namespace="AWS/Events", names=(name,), dimensions=dimensions)


class Wiring:
    """Every delivery path of the deployed account, read through the AWS APIs (boto3 clients of the sandbox)."""

    def __init__(self, client: Callable[[str], Any], account: str, region: str) -> None:
        self.client = client
        self.account = account
        self.region = region

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    # -- EventBridge rules

    def rule_arn(self, rule_name: str) -> str:
        return self.arn("events", f"rule/{rule_name}")

    def rule_to_function(self, rule_name: str, target_arn: str) -> Delivery:
        return rule_delivery(
            self.rule_arn(rule_name),
            target_arn,
            "function",
            (Check(principal=EVENTS, action="lambda:InvokeFunction", resource=target_arn),),
        )

    def rule_target(self, rule_name: str, target: Mapping[str, Any]) -> list[Delivery]:
        found = []
        if str(target["Arn"]).startswith("arn:aws:lambda:"):
            found.append(self.rule_to_function(rule_name, str(target["Arn"])))
        dead_letters = (target.get("DeadLetterConfig") or {}).get("Arn")
        if dead_letters:
            rule = self.rule_arn(rule_name)
            found.append(
                dead_letter_delivery(rule, dead_letters, self.send_to_queue(EVENTS, dead_letters, on_behalf_of(rule)))
            )
        return found

    def rules(self) -> Iterator[Delivery]:
        events = self.client("events")
        for rule in _every(events, "list_rules", "Rules", EventBusName="default"):
            for target in _every(events, "list_targets_by_rule", "Targets", Rule=rule["Name"], EventBusName="default"):
                yield from self.rule_target(rule["Name"], target)

    # -- queues, topics and their keys

    def customer_key(self, key_id: str | None) -> str | None:
        """The key's ARN when it is a customer managed key; None for none or an AWS managed key."""
        if not key_id:
            return None
        metadata = self.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
        return str(metadata["Arn"]) if metadata.get("KeyManager") == "CUSTOMER" else None

    def queue_key(self, queue_arn: str) -> str | None:
        """The queue's customer key; None for none, or for a queue that is gone (then no policy allows the send)."""
        sqs = self.client("sqs")
        name, owner = queue_arn.rsplit(":", 1)[1], account_of(queue_arn)
        try:
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=owner)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            return None
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["KmsMasterKeyId"])
        return self.customer_key(attributes.get("Attributes", {}).get("KmsMasterKeyId"))

    def send_to_queue(
        self, principal: str, queue_arn: str, context: Mapping[str, str], role: str | None = None
    ) -> tuple[Check, ...]:
        checks = [
            Check(principal=principal, action="sqs:SendMessage", resource=queue_arn, context=dict(context), role=role)
        ]
        key = self.queue_key(queue_arn)
        if key is not None:
            checks += [
                Check(principal=principal, action=a, resource=key, context=dict(context), role=role)
                for a in SEND_TO_ENCRYPTED_QUEUE
            ]
        return tuple(checks)

    # -- CloudWatch alarms

    def alarms(self) -> Iterator[Delivery]:
        cloudwatch = self.client("cloudwatch")
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm", "CompositeAlarm"]):
            for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                actions = {
                    *alarm.get("AlarmActions", []),
                    *alarm.get("OKActions", []),
                    *alarm.get("InsufficientDataActions", []),
                }
                for topic in sorted(a for a in actions if a.startswith("arn:aws:sns:")):
                    yield self.alarm_to_topic(alarm["AlarmArn"], topic)

    def alarm_to_topic(self, alarm_arn: str, topic_arn: str) -> Delivery:
        # A topic policy replaces SNS's default, so CloudWatch needs its own Allow (SNS developer guide); an
        # encrypted topic needs CloudWatch on the key policy (CloudWatch user guide, "alarm actions" with SSE).
        context = on_behalf_of(alarm_arn)
        checks = [Check(principal=CLOUDWATCH, action="sns:Publish", resource=topic_arn, context=context)]
        sns = self.client("sns")
        try:
            key = self.customer_key(sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"].get("KmsMasterKeyId"))
        except sns.exceptions.NotFoundException:
            key = None  # a topic that is gone: no policy allows the publish
        if key is not None:
            checks += [
                Check(principal=CLOUDWATCH, action=a, resource=key, context=context) for a in SEND_TO_ENCRYPTED_QUEUE
            ]
        return Delivery(kind="alarm → topic", source=alarm_arn, target=topic_arn, checks=tuple(checks))

    # -- EventBridge Scheduler

    def schedules(self) -> Iterator[Delivery]:
        scheduler = self.client("scheduler")
        for summary in _every(scheduler, "list_schedules", "Schedules"):
            schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=summary.get("GroupName", "default"))
            yield from self.schedule(schedule)

    def schedule(self, schedule: Mapping[str, Any]) -> list[Delivery]:
        target = schedule["Target"]
        found = [self.schedule_to_function(schedule)] if str(target["Arn"]).startswith("arn:aws:lambda:") else []
        dead_letters = (target.get("DeadLetterConfig") or {}).get("Arn")
        if dead_letters:
            role = str(target["RoleArn"])
            found.append(
                Delivery(
                    kind="schedule → dead-letter queue",
                    source=str(schedule["Arn"]),
                    target=dead_letters,
                    checks=(
                        self.scheduler_assumes(schedule),
                        *self.send_to_queue(session_of(role, SCHEDULER_SESSION), dead_letters, {}, role=role),
                    ),
                )
            )
        return found

    def scheduler_assumes(self, schedule: Mapping[str, Any]) -> Check:
        # Scheduler user guide, "Confused deputy prevention": the aws:SourceArn Scheduler sets when it assumes
        # the execution role is the schedule GROUP's ARN, not the schedule's ("do not scope the aws:SourceArn
        # statement to a specific schedule or a schedule name prefix").
        group = str(schedule.get("GroupName") or "default")
        return Check(
            principal=SCHEDULER,
            action="sts:AssumeRole",
            resource=str(schedule["Target"]["RoleArn"]),
            context=on_behalf_of(self.arn("scheduler", f"schedule-group/{group}")),
        )

    def schedule_to_function(self, schedule: Mapping[str, Any]) -> Delivery:
        """Scheduler assumes the schedule's role, then invokes the function as that role."""
        target = schedule["Target"]
        role, function = str(target["RoleArn"]), str(target["Arn"])
        session = session_of(role, SCHEDULER_SESSION)
        return Delivery(
            kind="schedule → function",
            source=str(schedule["Arn"]),
            target=function,
            checks=(
                self.scheduler_assumes(schedule),
                Check(principal=session, action="lambda:InvokeFunction", resource=function, role=role),
            ),
            metric=Metric(
                namespace="AWS/Scheduler",
                names=("InvocationAttemptCount", "TargetErrorCount"),
                dimensions={"ScheduleGroup": str(schedule.get("GroupName") or "default")},
            ),
        )

    # -- Lambda functions

    def functions(self) -> Iterator[Delivery]:
        lam = self.client("lambda")
        for config in _every(lam, "list_functions", "Functions"):
            yield from self.function(config)

    def function(self, config: Mapping[str, Any]) -> list[Delivery]:
        name, arn, role = str(config["FunctionName"]), str(config["FunctionArn"]), str(config["Role"])
        found = [
            Delivery(
                kind="lambda → execution role",
                source=arn,
                target=role,
                # Lambda developer guide, "execution role": the trust names the service principal; Lambda sets
                # no aws:SourceArn for it (that key is for policies on the function itself).
                checks=(Check(principal=LAMBDA, action="sts:AssumeRole", resource=role),),
            )
        ]
        session = session_of(role, name)
        failures = {
            "lambda async failure → dead-letter queue": (config.get("DeadLetterConfig") or {}).get("TargetArn"),
            "lambda async failure → on-failure destination": self.on_failure_destination(name),
        }
        for kind, queue in failures.items():
            if queue and ":sqs:" in queue:
                found.append(
                    Delivery(
                        kind=kind, source=arn, target=queue, checks=self.send_to_queue(session, queue, {}, role=role)
                    )
                )
        return found

    def on_failure_destination(self, function_name: str) -> str | None:
        lam = self.client("lambda")
        try:
            config = lam.get_function_event_invoke_config(FunctionName=function_name)
        except lam.exceptions.ResourceNotFoundException:
            return None
        destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        return str(destination) if destination else None

    # -- CodePipeline

    def pipelines(self) -> Iterator[Delivery]:
        codepipeline = self.client("codepipeline")
        for summary in _every(codepipeline, "list_pipelines", "pipelines"):
            yield from self.pipeline(codepipeline.get_pipeline(name=summary["name"])["pipeline"])

    def pipeline(self, pipeline: Mapping[str, Any]) -> list[Delivery]:
        source = self.arn("codepipeline", str(pipeline["name"]))
        found = []
        for stage in pipeline.get("stages", []):
            for action in stage.get("actions", []):
                kind = action["actionTypeId"]
                if (kind["category"], kind["provider"]) != ("Invoke", "Lambda"):
                    continue
                role = str(action.get("roleArn") or pipeline["roleArn"])
                target = function_arn(str(action["configuration"]["FunctionName"]), self.region, self.account)
                found.append(pipeline_to_function(f"{source}/{stage['name']}", role, target))
        return found

    def discover(self) -> list[Delivery]:
        return [*self.rules(), *self.alarms(), *self.schedules(), *self.functions(), *self.pipelines()]


def _every(client: Any, operation: str, key: str, **request: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**request):
        yield from page.get(key, [])


def ask(endpoint: str, deliveries: Sequence[Delivery], *, phase: Phase) -> tuple[Refusal | None, ...]:
    """The server's decision on each delivery (None: authorized), counted in its ledger."""
    if not deliveries:
        return ()
    body = CheckRequest(deliveries=tuple(deliveries), phase=phase).model_dump_json().encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(endpoint + CHECK_ROUTE, data=body, method="POST", headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - the sandbox on localhost
        return CheckAnswer.model_validate(json.load(answer)).refusals


def ledger(endpoint: str) -> dict[str, Any]:
    with urllib.request.urlopen(endpoint + LEDGER_ROUTE, timeout=10) as answer:  # noqa: S310 - localhost
        return dict(json.load(answer))


def put_failure_metric(cloudwatch: Any, delivery: Delivery) -> None:
    """Count the refused delivery where the service counts it. AWS reserves the AWS/ namespaces for its services;
    the sandbox plays those services, so it writes there in their place."""
    if delivery.metric is None:
        return
    metric = delivery.metric
    dimensions = [{"Name": k, "Value": v} for k, v in sorted(metric.dimensions.items())]
    cloudwatch.put_metric_data(
        Namespace=metric.namespace,
        MetricData=[
            {"MetricName": name, "Dimensions": dimensions, "Value": 1.0, "Unit": "Count"} for name in metric.names
        ],
    )
