"""What `make demo` rehearses, one scenario per duty, each step checked against its expected outcome.

Functions run with the machine's clock: `tick --at` decides which schedules are due, and the
scenarios put times relative to now so that what a function sees is what the step expects.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from functions.gating import windows
from functions.gating.config import GATING_VARIABLE
from functions.gating.policy import Gate, WindowCheck
from functions.shared.settings import AUDIT_TABLE_VARIABLE, SWITCHES_PATH_VARIABLE
from functions.shared.switches import parameter_name
from stacks.policy import load_policy
from stacks.versions import REPO_ROOT

from . import runner
from .capacity_scenarios import SCENARIOS as CAPACITY_SCENARIOS
from .cdk import default_policy
from .cleanup_scenarios import SCENARIOS as CLEANUP_SCENARIOS
from .demo import Demo, Scenario, control, status_of
from .deployed import Fired, authorized, resolve_function, wiring
from .estate import PIPELINE
from .iam import authorize, deliveries
from .output import say
from .rehearsal import redeployed, set_alarm

SWITCHES = "switches"


def switch_parameter(demo: Demo, name: str) -> str:
    fn = demo.functions.get(resolve_function(SWITCHES, demo.endpoint))
    return parameter_name(fn.environment[SWITCHES_PATH_VARIABLE], name)


def stored_switch(demo: Demo, name: str) -> dict[str, Any]:
    value = demo.client("ssm").get_parameter(Name=switch_parameter(demo, name))["Parameter"]["Value"]
    return dict(json.loads(value))


def parameter_changed(demo: Demo, name: str) -> dict[str, Any]:
    """The event EventBridge delivers after a PutParameter on a switch."""
    return {
        "source": "aws.ssm",
        "detail-type": "Parameter Store Change",
        "resources": [],
        "detail": {"name": switch_parameter(demo, name), "type": "String", "operation": "Update"},
    }


def audit_actions(demo: Demo) -> list[str]:
    fn = demo.functions.get(resolve_function(SWITCHES, demo.endpoint))
    items = demo.client("dynamodb").scan(TableName=fn.environment[AUDIT_TABLE_VARIABLE])["Items"]
    return sorted({item["action"]["S"] for item in items if not item["dry_run"]["BOOL"]})


def switches_console(demo: Demo) -> None:
    """An operator looks at the switches, rehearses a freeze, then freezes deploys for real."""
    demo.step("show every switch", "ok", status_of(demo.invoke(SWITCHES, {"action": "show"})))
    freeze = {"action": "set", "switch": "freeze", "reason": "Demo: quarter close", "for": "2h", "actor": "demo"}
    demo.step("a freeze without dry_run false only plans", "planned", status_of(demo.invoke(SWITCHES, freeze)))
    demo.step("the dry run left the freeze off", False, stored_switch(demo, "freeze")["on"])
    demo.step("freeze deploys for 2 h", "changed", status_of(demo.invoke(SWITCHES, {**freeze, "dry_run": False})))
    demo.step("the freeze parameter is on", True, stored_switch(demo, "freeze")["on"])
    again = demo.invoke(
        SWITCHES, {**freeze, "for": None, "expires_at": stored_switch(demo, "freeze")["expires_at"], "dry_run": False}
    )
    demo.step("the same freeze again changes nothing", "unchanged", status_of(again))
    bad = demo.invoke(SWITCHES, {"action": "set", "switch": "freeze", "for": "2h", "dry_run": False})
    demo.step("a freeze without a reason is rejected", "rejected", status_of(bad))


def switches_events(demo: Demo) -> None:
    """Deployed rules route Parameter Store changes and the sweep schedule to the switches function."""
    now = datetime.now(UTC)
    demo.tick(now)  # starts the schedule clock, so the next tick covers a whole 5-minute window
    routed = demo.emit(parameter_changed(demo, "freeze"))
    demo.step(
        "its own change is routed to the switches function",
        ["deckhand-switches"],
        [f.invocation.function_name for f in routed],
    )
    demo.step("and recognised as its own", ["ok"], [status_of(f.invocation) for f in routed])
    expired = (now - timedelta(minutes=5)).isoformat()
    demo.client("ssm").put_parameter(
        Name=switch_parameter(demo, "pause-capacity"),
        Value=json.dumps({"on": True, "reason": "left on by hand", "expires_at": expired}),
        Type="String",
        Overwrite=True,
    )
    routed = demo.emit(parameter_changed(demo, "pause-capacity"))
    demo.step(
        "a hand edit in Parameter Store is audited and notified",
        ["observed"],
        [status_of(f.invocation) for f in routed],
    )
    fired = demo.tick(now + timedelta(minutes=5))
    sweeps = [f for f in fired if f.invocation.function_name == "deckhand-switches"]
    demo.step("the sweep schedule fires within 5 minutes", True, bool(sweeps))
    swept = [c["switch"] for f in sweeps for c in (f.invocation.response or {}).get("expired", [])]
    demo.step("the sweep turns the expired pause off", ["pause-capacity"], swept)
    demo.step("the stored pause is off", False, stored_switch(demo, "pause-capacity")["on"])
    demo.step(
        "the audit trail holds every kind of change",
        ["expire-switch", "observe-switch", "set-switch"],
        audit_actions(demo),
    )


# --- deploy gating ----------------------------------------------------------------------------------
#
# The estate's pipeline web-app runs Source → Build → Gate (the Invoke action) → Approve (manual) →
# Deploy, and deckhand.yaml gates its Deploy stage. moto runs no pipeline: the scenarios start
# executions and move them on through the sandbox's control routes, hand the gate its job as
# CodePipeline would, and route the events the sandbox recorded through the deployed rules.

GATE, APPROVER, WATCHDOG, NOTICES = "gate", "approver", "watchdog", "pipeline-notices"
GATING_FUNCTIONS = (GATE, APPROVER, WATCHDOG, NOTICES)
GATE_STAGE = "Gate"  # the stage, and action, that invokes the gate
APPROVAL_STAGE = "Approve"
GATED_STAGE = "Deploy"
# What the example gate selects (by name, prefix web-app-error and tag deckhand:gate) and watches.
GATE_ALARMS = ("web-app-5xx", "web-app-latency-p99", "web-app-error-rate", "web-app-canary", "web-app-health")
BAKED = timedelta(minutes=10)  # Build succeeded this long before the gate runs: past the example's 5 minutes
EVERY_DAY = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
ACTION_CHANGE = "CodePipeline Action Execution State Change"
EXECUTION_CHANGE = "CodePipeline Pipeline Execution State Change"


def event_cursor(demo: Demo) -> int:
    return int(control(demo, "/_sandbox/events?after=1000000000")["next"])


def recorded(demo: Demo, cursor: int, detail_type: str, **detail: str) -> list[dict[str, Any]]:
    """Events the sandbox recorded since `cursor`, of one type, whose detail has these values (execution_id
    stands for execution-id)."""
    wanted = {key.replace("_", "-"): value for key, value in detail.items()}
    events = control(demo, f"/_sandbox/events?after={cursor}")["events"]
    return [
        e for e in events if e["detail-type"] == detail_type and all(e["detail"].get(k) == v for k, v in wanted.items())
    ]


def routed_to(fired: list[Fired]) -> list[str]:
    return [f.invocation.function_name for f in fired]


def responses(fired: list[Fired]) -> list[Any]:
    return [f.invocation.response if f.invocation.ok else status_of(f.invocation) for f in fired]


# Pipeline runs ---------------------------------------------------------------------------------------


def start_execution(demo: Demo, *, through: str, status: str = "InProgress", ago: timedelta = BAKED) -> str:
    """A new web-app execution whose earlier stages succeeded `ago`, when `through` reached `status`."""
    execution_id = str(demo.client("codepipeline").start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"])
    at = (datetime.now(UTC) - ago).isoformat()
    control(
        demo,
        "/_sandbox/codepipeline/advance",
        {"pipeline": PIPELINE, "execution_id": execution_id, "stage": through, "status": status, "at": at},
    )
    return execution_id


def advance(demo: Demo, execution_id: str, stage: str, status: str) -> None:
    body = {"pipeline": PIPELINE, "execution_id": execution_id, "stage": stage, "status": status}
    control(demo, "/_sandbox/codepipeline/advance", body)


def execution_status(demo: Demo, execution_id: str) -> str:
    found = demo.client("codepipeline").get_pipeline_execution(pipelineName=PIPELINE, pipelineExecutionId=execution_id)
    return str(found["pipelineExecution"]["status"])


def stage_status(demo: Demo, execution_id: str, stage: str) -> str | None:
    for execution in control(demo, "/_sandbox/state")["executions"]:
        if execution["pipelineExecutionId"] == execution_id:
            return next((s["status"] for s in execution["stages"] if s["name"] == stage), None)
    return None


def finish(demo: Demo, execution_id: str) -> None:
    """Leave the pipeline idle for the next scenario: stop an execution that still runs."""
    if execution_status(demo, execution_id) == "InProgress":
        demo.client("codepipeline").stop_pipeline_execution(
            pipelineName=PIPELINE, pipelineExecutionId=execution_id, abandon=True, reason="Demo: rehearsal over"
        )


def gate_job(demo: Demo, execution_id: str) -> dict[str, Any]:
    """The job event CodePipeline sends the gate when `execution_id` reaches the Invoke action, as configured."""
    pipeline = demo.client("codepipeline").get_pipeline(name=PIPELINE)["pipeline"]
    [action] = [a for s in pipeline["stages"] if s["name"] == GATE_STAGE for a in s["actions"]]
    configuration = action["configuration"]
    [invoke] = [d for d in wiring(demo.endpoint).pipeline(pipeline) if d.source.endswith(f"/{GATE_STAGE}")]
    if not all(authorized(demo.endpoint, [invoke])):
        raise RuntimeError(f"CodePipeline may not invoke the gate as {pipeline['roleArn']}")
    return control(
        demo,
        "/_sandbox/codepipeline/job",
        {
            "pipeline": PIPELINE,
            "stage": GATE_STAGE,
            "action": action["name"],
            "function_name": configuration["FunctionName"],
            "user_parameters": configuration.get("UserParameters"),
            "execution_id": execution_id,
        },
    )


def job_id_of(event: Mapping[str, Any]) -> str:
    return str(event["CodePipeline.job"]["id"])


def job_state(demo: Demo, job_id: str) -> dict[str, Any]:
    [job] = [j for j in control(demo, "/_sandbox/state")["jobs"] if j["id"] == job_id]
    return dict(job)


def approval_of(demo: Demo, execution_id: str) -> dict[str, Any]:
    [approval] = [a for a in control(demo, "/_sandbox/state")["approvals"] if a["execution_id"] == execution_id]
    return dict(approval)


# Alarms, metrics, switches ---------------------------------------------------------------------------


def ready(demo: Demo) -> None:
    """Executions wait for the scenarios to move them, every alarm the gate reads OK (moto starts them in
    INSUFFICIENT_DATA) and no freeze."""
    # The scenarios move executions through `advance` and hand the gate its jobs themselves: the server's runner
    # leaves the executions started from now on to them.
    control(demo, "/_sandbox/codepipeline/runner", {"self_running": False})
    for name in GATE_ALARMS:
        set_alarm(demo, name, "OK", "Demo: healthy")
    lift = {"action": "clear", "switch": "freeze", "reason": "Demo: deploys may go", "actor": "demo", "dry_run": False}
    demo.invoke(SWITCHES, lift)
    found = demo.client("cloudwatch").describe_alarms(
        AlarmNames=list(GATE_ALARMS), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    states = sorted({a["StateValue"] for kind in ("MetricAlarms", "CompositeAlarms") for a in found.get(kind, [])})
    demo.step(
        "deploys are not frozen and the gate's alarms are OK",
        [False, ["OK"]],
        [stored_switch(demo, "freeze")["on"], states],
    )


def burn_error_budget(demo: Demo, minutes: int = 60) -> None:
    """A quarter of web-app's requests fail, minute after minute: far above a 99.9 % objective."""
    now = datetime.now(UTC)
    balancer = [{"Name": "LoadBalancer", "Value": "app/web-app/50dc6c495c0c9188"}]
    data = [
        {"MetricName": name, "Dimensions": balancer, "Timestamp": now - timedelta(minutes=m), "Value": value}
        for m in range(1, minutes + 1)
        for name, value in (("RequestCount", 1000.0), ("HTTPCode_Target_5XX_Count", 250.0))
    ]
    demo.client("cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data)


# The deployed configuration --------------------------------------------------------------------------


def deployed_gate() -> Gate:

    gate = load_policy(default_policy()).gating.gate(PIPELINE, GATED_STAGE)
    if gate is None or gate.window is None:
        raise LookupError(
            f"the demo's policy {default_policy()} has no gate with a window for {PIPELINE}/{GATED_STAGE}"
        )
    return gate


def deployed_gate_zone() -> str:
    gate = deployed_gate()
    return gate.window.timezone if gate.window else "UTC"


def window_open_now(zone: str, now: datetime) -> dict[str, Any]:
    local = now.astimezone(ZoneInfo(zone))
    hours = {"start": f"{local - timedelta(hours=1):%H:%M}", "end": f"{local + timedelta(hours=3):%H:%M}"}
    return {"mode": "enforce", "timezone": zone, "allow": [{"days": EVERY_DAY, **hours}], "deny": []}


def window_closed_today(zone: str, now: datetime) -> dict[str, Any]:
    today = now.astimezone(ZoneInfo(zone)).date().isoformat()
    deny = {"name": "Demo release day off", "start": today, "end": today}
    return {"mode": "enforce", "timezone": zone, "allow": [], "deny": [deny]}


@contextlib.contextmanager
def with_window(demo: Demo, window: dict[str, Any]) -> Iterator[WindowCheck]:
    """The gated stage's window replaced for the block: functions read the machine's clock, so a
    scenario that must not depend on the hour brings its own window."""
    gating = json.loads(demo.functions.get(resolve_function(GATE, demo.endpoint)).environment[GATING_VARIABLE])
    for gate in gating["gates"]:
        if (gate["pipeline"], gate["stage"]) == (PIPELINE, GATED_STAGE):
            gate["window"] = window
    check = WindowCheck.model_validate_json(json.dumps(window))
    with redeployed(demo, GATING_FUNCTIONS, DECKHAND_GATING=json.dumps(gating, separators=(",", ":"))):
        yield check


def live(demo: Demo, *services: str) -> contextlib.AbstractContextManager[None]:
    """`defaults.dry_run: false` for these functions: they act instead of saying what they would do."""
    return redeployed(demo, services, DECKHAND_DRY_RUN="false")


# The scenarios ---------------------------------------------------------------------------------------


def gate_evaluates_the_deployed_policy(demo: Demo) -> None:
    """From the console, the gate decides now with the deployed policy and the real clock, acting on nothing."""
    ready(demo)
    execution = start_execution(demo, through=GATE_STAGE)
    gate = deployed_gate()
    assert gate.window is not None
    payload = json.loads((REPO_ROOT / "events" / "gate" / "evaluate.json").read_text(encoding="utf-8"))
    now = datetime.now(UTC)
    invocation = demo.invoke(GATE, payload)
    answer = invocation.response if isinstance(invocation.response, dict) else {}
    demo.step("evaluate answers and acts on nothing", ["ok", False], [status_of(invocation), answer.get("acted")])
    decision = answer.get("decision") or {}
    checks = {c["check"]: c for c in decision.get("checks", [])}
    zone = gate.window.timezone
    if windows.is_open(gate.window, now):
        outcome, says = "pass", "open now"
    else:
        opens = windows.next_open(gate.window, now)
        says = f"next open window: {windows.local_label(opens, zone)}" if opens else "no open window"
        soon = opens is not None and opens - now <= timedelta(minutes=gate.timeout_minutes)
        outcome = "wait" if soon else "block"
    local = f"{now.astimezone(ZoneInfo(zone)):%a %H:%M} {zone}"
    window = checks.get("window", {})
    demo.step(f"the window check, as the policy's window reads at {local}", outcome, window.get("outcome"))
    demo.step(f"its reason says {says!r}", True, says in str(window.get("reason")))
    others = {name: c.get("outcome") for name, c in checks.items() if name != "window"}
    demo.step(
        "the other checks pass (alarms OK, no freeze, Build baked, budget not burning)",
        {"alarms": "pass", "freeze": "pass", "bake": "pass", "error_budget": "pass"},
        others,
    )
    demo.step("the verdict follows the window", {"pass": "proceed"}.get(outcome, outcome), decision.get("verdict"))
    finish(demo, execution)


def gate_waits_on_an_alarm(demo: Demo) -> None:
    """The Invoke action holds the deploy while an alarm is in ALARM, then lets it go once it clears."""
    ready(demo)
    with with_window(demo, window_open_now(deployed_gate_zone(), datetime.now(UTC))) as window:
        [hours] = window.allow
        demo.step(
            f"a window open every day {hours.start:%H:%M}-{hours.end:%H:%M} {window.timezone}, for the rehearsal",
            True,
            windows.is_open(window, datetime.now(UTC)),
        )
        execution = start_execution(demo, through=GATE_STAGE)
        set_alarm(demo, "web-app-5xx", "ALARM", "Threshold Crossed: 2 datapoints [42.0 (10:01:00), 37.0] > 10.0")
        event = gate_job(demo, execution)
        job_id = job_id_of(event)
        first = demo.invoke(GATE, event)
        demo.step("the gate answers the job: wait", "wait", (first.response or {}).get("outcome"))
        job = job_state(demo, job_id)
        following = job_state(demo, str(job["continued_by"])) if job["continued_by"] else {}
        demo.step(
            "the action goes on in a new job, which carries a continuation token",
            ["InProgress", True],
            [following.get("status"), bool(following.get("continuation_token"))],
        )
        summary = str(job["history"][-1].get("executionDetails", {}).get("summary"))
        demo.step("the summary names the alarm and why it fires", True, "web-app-5xx in ALARM: Threshold" in summary)
        demo.invoke(GATE, event)
        demo.step(
            "the same job delivered twice is answered once",
            len(job["history"]),
            len(job_state(demo, job_id)["history"]),
        )
        set_alarm(demo, "web-app-5xx", "OK", "Threshold Crossed: no datapoint above 10.0")
        again = control(demo, f"/_sandbox/codepipeline/job/{following.get('id')}")
        token = again["CodePipeline.job"]["data"].get("continuationToken")
        demo.step("CodePipeline re-invokes the gate with the token", following.get("continuation_token"), token)
        demo.invoke(GATE, again)
        job = job_state(demo, job_id_of(again))
        variables = job["history"][-1].get("outputVariables", {})
        demo.step("once the alarm is OK the job succeeds", "Succeeded", job["status"])
        demo.step(
            "with output variables decision, reasons and decision_id",
            ["proceed", True, True],
            [variables.get("decision"), bool(variables.get("reasons")), bool(variables.get("decision_id"))],
        )
        demo.step(
            "and the pipeline moves on to the approval", "InProgress", stage_status(demo, execution, APPROVAL_STAGE)
        )
        finish(demo, execution)


def gate_blocks_a_freeze(demo: Demo) -> None:
    """A freeze fails the job with who froze, why, and when the next window opens; the failure is noticed."""
    ready(demo)
    now = datetime.now(UTC)
    zone = deployed_gate_zone()
    with with_window(demo, window_closed_today(zone, now)) as window:
        opens = windows.next_open(window, now)
        label = windows.local_label(opens, zone) if opens else "?"
        demo.step("a deny period closes today's window, for the rehearsal", False, windows.is_open(window, now))
        freeze = {"action": "set", "switch": "freeze", "reason": "Demo: incident review", "for": "1h", "actor": "demo"}
        demo.step(
            "freeze deploys for an hour", "changed", status_of(demo.invoke(SWITCHES, {**freeze, "dry_run": False}))
        )
        execution = start_execution(demo, through=GATE_STAGE)
        cursor = event_cursor(demo)
        event = gate_job(demo, execution)
        first = demo.invoke(GATE, event)
        demo.step("the gate answers the job: block", "block", (first.response or {}).get("outcome"))
        job = job_state(demo, job_id_of(event))
        message = str(job["history"][-1].get("failureDetails", {}).get("message"))
        demo.step("the job failed", "Failed", job["status"])
        demo.step(
            "the message names the freeze, who set it and why",
            True,
            "freeze: frozen by demo until" in message and "Demo: incident review" in message,
        )
        demo.step(f"and the next open window ({label})", True, f"next open window: {label}" in message)
        demo.step("and says how to lift the freeze", True, '"action": "clear", "switch": "freeze"' in message)
        demo.step("the execution failed at the gate", "Failed", execution_status(demo, execution))
        failed = recorded(demo, cursor, EXECUTION_CHANGE, execution_id=execution, state="FAILED")
        fired = [f for e in failed for f in demo.emit(e)]
        demo.step("its FAILED event reaches the pipeline notices", ["deckhand-pipeline-notices"], routed_to(fired))
        demo.step("which notify what failed and why", ["notified"], [status_of(f.invocation) for f in fired])
        lift = {"action": "clear", "switch": "freeze", "reason": "Demo: review done", "actor": "demo", "dry_run": False}
        demo.step("lift the freeze", "changed", status_of(demo.invoke(SWITCHES, lift)))


def approver_answers_approvals(demo: Demo) -> None:
    """A manual approval is approved when the gate is green, and left to humans, with why, when it is not."""
    ready(demo)
    with with_window(demo, window_open_now(deployed_gate_zone(), datetime.now(UTC))):
        cursor = event_cursor(demo)
        green = start_execution(demo, through=APPROVAL_STAGE)
        started = recorded(demo, cursor, ACTION_CHANGE, execution_id=green, stage=APPROVAL_STAGE, state="STARTED")
        demo.step("the approval action started", 1, len(started))
        fired = demo.emit(started[0])
        demo.step("its STARTED event reaches the approver", ["deckhand-approver"], routed_to(fired))
        demo.step(
            "in dry run (the example's default) it only says it would approve",
            [["would-approve"], "InProgress"],
            [statuses(fired), approval_of(demo, green)["status"]],
        )
        with live(demo, APPROVER):
            fired = demo.emit(started[0])
            approval = approval_of(demo, green)
            demo.step(
                "with dry run off, the green gate approves",
                [["approved"], "Succeeded"],
                [statuses(fired), approval["status"]],
            )
            demo.step(
                "the approval summary names the decision",
                True,
                str(approval["summary"]).startswith("Approved by Deckhand: decision "),
            )
            demo.step("the pipeline goes on to Deploy", "InProgress", stage_status(demo, green, GATED_STAGE))
            finish(demo, green)

            set_alarm(demo, "web-app-latency-p99", "ALARM", "Threshold Crossed: p99 2.4 s > 1.5 s")
            cursor = event_cursor(demo)
            red = start_execution(demo, through=APPROVAL_STAGE)
            started = recorded(demo, cursor, ACTION_CHANGE, execution_id=red, stage=APPROVAL_STAGE, state="STARTED")
            fired = [f for e in started for f in demo.emit(e)]
            demo.step(
                "with an alarm in ALARM the approval is left to humans",
                [["left-to-humans"], "InProgress"],
                [statuses(fired), approval_of(demo, red)["status"]],
            )
            said = [r.get("decision", {}).get("reasons") for r in responses(fired) if isinstance(r, dict)]
            demo.step("and the approver says which alarm holds it", True, "web-app-latency-p99 in ALARM" in str(said))
        reject(demo, red, "Demo: rejected by a human after Deckhand's note")
        demo.step("a human rejects it", "Failed", execution_status(demo, red))
    set_alarm(demo, "web-app-latency-p99", "OK", "Demo: healthy again")


LATE_APPROVAL = "Verify"  # a manual approval after the gated Deploy, added for the rehearsal


@contextlib.contextmanager
def with_late_approval(demo: Demo) -> Iterator[None]:
    """web-app with one more manual approval after Deploy (UpdatePipeline), put back after the block."""
    codepipeline = demo.client("codepipeline")
    before = codepipeline.get_pipeline(name=PIPELINE)["pipeline"]
    kind = {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}
    late = {"name": LATE_APPROVAL, "actions": [{"name": LATE_APPROVAL, "actionTypeId": kind, "runOrder": 1}]}
    codepipeline.update_pipeline(pipeline={**before, "stages": [*before["stages"], late]})
    try:
        yield
    finally:
        codepipeline.update_pipeline(pipeline={**before, "version": before["version"] + 1})


def approver_leaves_a_later_approval_to_humans(demo: Demo) -> None:
    """An approval that stands after the gated stage is not the gate's to answer: left to humans, and IAM agrees."""
    ready(demo)
    with (
        with_window(demo, window_open_now(deployed_gate_zone(), datetime.now(UTC))),
        with_late_approval(demo),
        live(demo, APPROVER),
    ):
        cursor = event_cursor(demo)
        execution = start_execution(demo, through=GATED_STAGE, status="Succeeded")
        started = recorded(demo, cursor, ACTION_CHANGE, execution_id=execution, stage=LATE_APPROVAL, state="STARTED")
        demo.step(f"after Deploy, the {LATE_APPROVAL} approval started", 1, len(started))
        fired = demo.emit(started[0])
        demo.step("its STARTED event reaches the approver", ["deckhand-approver"], routed_to(fired))
        demo.step("which leaves it to humans, the gate green or not", ["ignored"], statuses(fired))
        demo.step(
            "saying no gated stage stands after it",
            True,
            "no gated stage with approvals stands after web-app/Verify/Verify" in str(responses(fired)),
        )
        [late] = [a for a in control(demo, "/_sandbox/state")["approvals"] if a["stage"] == LATE_APPROVAL]
        demo.step("the approval still waits for a human", "InProgress", late["status"])
        approver = resolve_function(APPROVER, demo.endpoint)
        params = {
            "pipelineName": PIPELINE,
            "stageName": LATE_APPROVAL,
            "actionName": LATE_APPROVAL,
            "result": {"summary": "Demo", "status": "Approved"},
            "token": str(late["token"]),
        }
        call = {"service": "codepipeline", "operation": "PutApprovalResult", "params": params}
        say(f"  $ python -m sandbox authorize {approver} --call codepipeline:PutApprovalResult '{json.dumps(params)}'")
        answer = authorize.ask(demo.endpoint, authorize.asker(approver, demo.client), {"call": call})
        for line in authorize.render(answer):
            say(f"  {line}")
        demo.step(
            "and IAM alone would refuse it: PutApprovalResult is granted on the listed approvals only",
            "ImplicitlyDenied",
            answer["decision"],
        )
        finish(demo, execution)


OTHER_PIPELINE = "payments"


def gate_refuses_another_pipelines_job(demo: Demo) -> None:
    """A pipeline the policy does not gate invokes the gate with UserParameters naming web-app/Deploy: the gate
    reads the job's pipeline from GetJobDetails and fails the job, saying why."""
    ready(demo)
    codepipeline = demo.client("codepipeline")
    web_app = codepipeline.get_pipeline(name=PIPELINE)["pipeline"]
    [gate_action] = [a for s in web_app["stages"] if s["name"] == GATE_STAGE for a in s["actions"]]
    forged = json.dumps({"pipeline": PIPELINE, "stage": GATED_STAGE})
    stages = [
        {
            **stage,
            "actions": [
                {**a, "configuration": {**a["configuration"], "UserParameters": forged}} for a in stage["actions"]
            ],
        }
        if stage["name"] == GATE_STAGE
        else stage
        for stage in web_app["stages"]
    ]
    codepipeline.create_pipeline(pipeline={**web_app, "name": OTHER_PIPELINE, "version": 1, "stages": stages})
    try:
        execution = str(codepipeline.start_pipeline_execution(name=OTHER_PIPELINE)["pipelineExecutionId"])
        job = control(
            demo,
            "/_sandbox/codepipeline/job",
            {
                "pipeline": OTHER_PIPELINE,
                "stage": GATE_STAGE,
                "action": gate_action["name"],
                "function_name": gate_action["configuration"]["FunctionName"],
                "user_parameters": forged,
                "execution_id": execution,
            },
        )
        invocation = demo.invoke(GATE, job)
        demo.step(
            "the gate answers the payments job: configuration-error", "configuration-error", status_of(invocation)
        )
        state = job_state(demo, job_id_of(job))
        answers = [a.get("failureDetails", {}).get("type") or "success" for a in state["history"]]
        demo.step("the job failed, never succeeded", ["ConfigurationError"], answers)
        message = str(state["history"][-1].get("failureDetails", {}).get("message"))
        demo.step(
            "saying its pipeline is not gated, whatever its UserParameters say",
            True,
            f"pipeline {OTHER_PIPELINE} is not gated by the Deckhand policy" in message,
        )
    finally:
        codepipeline.delete_pipeline(name=OTHER_PIPELINE)


def statuses(fired: list[Fired]) -> list[Any]:
    return [status_of(f.invocation) for f in fired]


def reject(demo: Demo, execution_id: str, summary: str) -> None:
    """What a human does in the console: reject the pending approval (its token from GetPipelineState)."""
    codepipeline = demo.client("codepipeline")
    [token] = [
        action["latestExecution"]["token"]
        for stage in codepipeline.get_pipeline_state(name=PIPELINE)["stageStates"]
        if stage["stageName"] == APPROVAL_STAGE
        and stage.get("latestExecution", {}).get("pipelineExecutionId") == execution_id
        for action in stage["actionStates"]
        if action.get("latestExecution", {}).get("token")
    ]
    codepipeline.put_approval_result(
        pipelineName=PIPELINE,
        stageName=APPROVAL_STAGE,
        actionName=APPROVAL_STAGE,
        result={"summary": summary, "status": "Rejected"},
        token=token,
    )


def watchdog_rolls_back(demo: Demo) -> None:
    """An alarm soon after a deploy rolls the stage back to the previous release, once."""
    ready(demo)
    previous = start_execution(demo, through=GATED_STAGE, status="Succeeded", ago=timedelta(minutes=40))
    release = start_execution(demo, through=GATED_STAGE, status="Succeeded", ago=timedelta(minutes=10))
    demo.step(
        "two releases deployed, the last one 10 minutes ago",
        ["Succeeded"] * 2,
        [execution_status(demo, previous), execution_status(demo, release)],
    )
    fired = set_alarm(demo, "web-app-5xx", "ALARM", "Threshold Crossed: 3 datapoints [88.0, 91.0, 97.0] > 10.0")
    demo.step("web-app-5xx in ALARM wakes the watchdog", ["deckhand-watchdog"], routed_to(fired))
    demo.step("in dry run it only says it would roll back", ["would-rollback"], outcomes(fired))
    demo.step("and starts nothing", [], rollbacks(demo))
    # CloudWatch emits a state change only on a change: the alarm clears between the rehearsal's firings.
    set_alarm(demo, "web-app-5xx", "OK", "Demo: a quiet minute")
    with live(demo, WATCHDOG):
        fired = set_alarm(demo, "web-app-5xx", "ALARM", "Threshold Crossed: 3 datapoints [95.0, 99.0, 120.0] > 10.0")
        demo.step("with dry run off it rolls Deploy back", ["rolled-back"], outcomes(fired))
        demo.step(
            "to the previous release",
            [previous],
            [r.get("rollbackMetadata", {}).get("rollbackTargetPipelineExecutionId") for r in rollbacks(demo)],
        )
        set_alarm(demo, "web-app-5xx", "OK", "Demo: another quiet minute")
        fired = set_alarm(demo, "web-app-5xx", "ALARM", "Threshold Crossed: failing again")
        demo.step("the alarm firing again rolls back nothing more", 1, len(rollbacks(demo)))
        demo.step(
            "because the latest run is already a rollback",
            [["skipped", True]],
            [[o, "no rollback loop" in r] for o, r in zip(outcomes(fired), reasons(fired), strict=True)],
        )
    set_alarm(demo, "web-app-5xx", "OK", "Demo: the rollback cured it")
    for rollback in rollbacks(demo):
        if rollback["status"] == "InProgress":
            advance(demo, rollback["pipelineExecutionId"], GATED_STAGE, "Succeeded")


def error_alarm_reaches_the_topic(demo: Demo) -> None:
    """A function failing sets off its error alarm, whose notice reaches the operators' topic through its policies."""
    alarm = f"{resolve_function('gate', demo.endpoint)}-errors"
    cloudwatch, sns, sqs = demo.client("cloudwatch"), demo.client("sns"), demo.client("sqs")
    (topic,) = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["AlarmActions"]
    inbox = sqs.create_queue(QueueName="demo-operator-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subscription = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)["SubscriptionArn"]
    try:
        before = deliveries.ledger(demo.endpoint)["deliveries"]
        set_alarm(demo, alarm, "ALARM", "Threshold Crossed: 1 datapoint [3.0] was greater than the threshold (0.0).")
        demo.step(
            "CloudWatch may publish the alarm to the encrypted topic: the delivery is authorized",
            1,
            deliveries.ledger(demo.endpoint)["deliveries"] - before,
        )
        received = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        notices = [json.loads(json.loads(m["Body"])["Message"]) for m in received]
        demo.step(
            "the operators' inbox gets the alarm's notice",
            [(alarm, "ALARM")],
            [(n["AlarmName"], n["NewStateValue"]) for n in notices],
        )
    finally:
        set_alarm(demo, alarm, "OK", "Demo: back to normal")
        sns.unsubscribe(SubscriptionArn=subscription)
        sqs.delete_queue(QueueUrl=inbox)


def outcomes(fired: list[Fired]) -> list[Any]:
    return [
        stage.get("outcome")
        for response in responses(fired)
        for stage in (response.get("stages", []) if isinstance(response, dict) else [{"outcome": response}])
    ]


def reasons(fired: list[Fired]) -> list[str]:
    return [
        str(stage.get("reason"))
        for response in responses(fired)
        for stage in (response.get("stages", []) if isinstance(response, dict) else [{"reason": response}])
    ]


def rollbacks(demo: Demo) -> list[dict[str, Any]]:
    summaries = demo.client("codepipeline").list_pipeline_executions(pipelineName=PIPELINE)[
        "pipelineExecutionSummaries"
    ]
    return [s for s in summaries if s.get("executionType") == "ROLLBACK"]


def gate_shadow_rule(demo: Demo) -> None:
    """The error budget in shadow mode: a burning budget is logged as "would have blocked", and the deploy goes."""
    ready(demo)
    with with_window(demo, window_open_now(deployed_gate_zone(), datetime.now(UTC))):
        burn_error_budget(demo)
        execution = start_execution(demo, through=GATE_STAGE)
        event = gate_job(demo, execution)
        invocation = demo.invoke(GATE, event)
        job = job_state(demo, job_id_of(event))
        variables = job["history"][-1].get("outputVariables", {})
        demo.step(
            "a quarter of requests failing, the gate still proceeds",
            ["Succeeded", "proceed"],
            [job["status"], variables.get("decision")],
        )
        demo.step(
            "its reasons say the error budget would have blocked",
            True,
            "error_budget (shadow, would have blocked)" in str(variables.get("reasons")),
        )
        demo.step("and its log says so", True, "would have blocked" in invocation.logs)
        finish(demo, execution)


# --- every event sample -------------------------------------------------------------------------------
#
# tests/events holds AWS's own samples (which name pipelines and alarms this estate does not have) and the
# switches' Parameter Store change; tests/events/variants adds what the gating functions meet with this
# estate's names: metric, metric-math and composite alarms, muted and suppressed ones, the alarm notification
# as an SNS topic delivers it to Lambda and as a Lambda alarm action sends it, and web-app's pipeline events.
# Every file has one row in SAMPLE_OUTCOMES (tests/sandbox/test_event_samples.py fails a file without one).

EVENTS = REPO_ROOT / "tests" / "events"
SAMPLE_FOLDERS = ("", "variants")

Given = Callable[[Demo], contextlib.AbstractContextManager[dict[str, str]]]


@contextlib.contextmanager
def as_is(demo: Demo) -> Iterator[dict[str, str]]:
    """The sample needs nothing from the estate."""
    yield {}


def fired_after_a_deploy(alarm: str, *, muted: bool = False) -> Given:
    """Deploy last succeeded 10 minutes ago, within the watchdog's 60-minute horizon, not as a rollback, and
    `alarm` is in ALARM as DescribeAlarms shows it (the watchdog trusts no event's word); `muted`: an alarm mute
    rule's window covers now (mutes live in mute rules, never in the event)."""

    @contextlib.contextmanager
    def given(demo: Demo) -> Iterator[dict[str, str]]:
        start_execution(demo, through=GATED_STAGE, status="Succeeded", ago=BAKED)
        set_alarm(demo, alarm, "ALARM", "Demo: the sample's change")
        cloudwatch = demo.client("cloudwatch")
        if muted:
            began = datetime.now(UTC) - timedelta(minutes=30)
            cloudwatch.put_alarm_mute_rule(
                Name=f"demo-{alarm}",
                Rule={"Schedule": {"Expression": f"at({began:%Y-%m-%dT%H:%M})", "Duration": "PT2H"}},
                MuteTargets={"AlarmNames": [alarm]},
            )
        try:
            yield {}
        finally:
            if muted:
                cloudwatch.delete_alarm_mute_rule(AlarmMuteRuleName=f"demo-{alarm}")
            set_alarm(demo, alarm, "OK", "Demo: healthy")

    return given


@contextlib.contextmanager
def approval_waiting(demo: Demo) -> Iterator[dict[str, str]]:
    """An execution waits at the manual approval, Build baked; the sample names that execution."""
    execution = start_execution(demo, through=APPROVAL_STAGE)
    try:
        yield {"execution-id": execution}
    finally:
        finish(demo, execution)


@contextlib.contextmanager
def failed_at_deploy(demo: Demo) -> Iterator[dict[str, str]]:
    """An execution whose Deploy action failed; the sample names it (real events name real executions)."""
    yield {"execution-id": start_execution(demo, through=GATED_STAGE, status="Failed")}


@contextlib.contextmanager
def stopped_by_hand(demo: Demo) -> Iterator[dict[str, str]]:
    """An execution someone stopped (and abandoned) while it deployed; the sample names it."""
    execution = start_execution(demo, through=GATED_STAGE)
    demo.client("codepipeline").stop_pipeline_execution(
        pipelineName=PIPELINE, pipelineExecutionId=execution, abandon=True, reason="Demo: stopped by hand"
    )
    yield {"execution-id": execution}


@contextlib.contextmanager
def freeze_last_written_by_deckhand(demo: Demo) -> Iterator[dict[str, str]]:
    """The freeze parameter's last write is the switches function's own: set, then cleared, through it."""
    command = {"switch": "freeze", "reason": "Demo: event samples", "actor": "demo", "dry_run": False}
    demo.invoke(SWITCHES, {**command, "action": "set", "for": "1h"})
    demo.invoke(SWITCHES, {**command, "action": "clear"})
    yield {}


@dataclass(frozen=True)
class Expected:
    """What one sample does in the sandbox: where it goes, and what each function that gets it answers."""

    says: str  # why that is the right outcome
    status: str | None = None  # the answer's `status`, from every function the sample reaches
    routes: tuple[str, ...] = ()  # the functions (services) the deployed rules route it to; () when no rule matches
    to: str | None = None  # also delivered straight to this function: not an EventBridge event, or one no rule routes
    outcomes: tuple[str, ...] = ()  # the watchdog's outcome for each stage it watches for the alarm
    answers: Mapping[str, Any] = field(default_factory=dict)  # other fields of the answer, as they must be
    given: Given = as_is  # the estate the sample needs, and what it binds in the event's detail
    logged: str = ""  # what the function must log
    never_logged: str = ""  # what it must not


IGNORED_BY_RULES = "no deployed rule matches"
SAMPLE_OUTCOMES: dict[str, Expected] = {
    # AWS's samples: other pipelines and alarms than the policy's, so no rule routes them; the function
    # that reads their kind, handed one anyway, ignores it.
    "cloudwatch-alarm-state-change-composite.json": Expected(
        f"{IGNORED_BY_RULES} ServiceAggregatedAlarm; the watchdog watches no such alarm", "ignored", to=WATCHDOG
    ),
    "cloudwatch-alarm-state-change-metric.json": Expected(
        f"{IGNORED_BY_RULES} ServerCpuTooHigh; the watchdog watches no such alarm", "ignored", to=WATCHDOG
    ),
    "codepipeline-action-execution-state-change.json": Expected(
        f"{IGNORED_BY_RULES} myPipeline's CodeDeploy action FAILED; not an approval starting", "ignored", to=APPROVER
    ),
    "codepipeline-lambda-invoke-job-event.json": Expected(
        "a job the sandbox never created: GetJobDetails knows no such job, so the gate answers nothing (its "
        "UserParameters are never read)",
        "already-answered",
        to=GATE,
        logged="11111111-abcd-1111-abcd-111111abcdef",
        never_logged="secret_key",
    ),
    "codepipeline-pipeline-execution-state-change.json": Expected(
        f"{IGNORED_BY_RULES} myPipeline STARTED; not a failed or stopped execution", "ignored", to=NOTICES
    ),
    "codepipeline-stage-execution-state-change.json": Expected(
        f"{IGNORED_BY_RULES} stage changes; notices read executions only", "ignored", to=NOTICES
    ),
    "ssm-parameter-store-change.json": Expected(
        "the switches function recognises its own write of the freeze",
        "ok",
        routes=(SWITCHES,),
        given=freeze_last_written_by_deckhand,
    ),
    # web-app's alarms, as EventBridge delivers their state changes.
    "variants/cloudwatch-alarm-state-change-web-app-5xx.json": Expected(
        "a metric alarm 10 minutes after a deploy: in dry run the watchdog would roll Deploy back",
        "handled",
        routes=(WATCHDOG,),
        outcomes=("would-rollback",),
        given=fired_after_a_deploy("web-app-5xx"),
    ),
    "variants/cloudwatch-alarm-state-change-web-app-5xx-ok.json": Expected(
        f"{IGNORED_BY_RULES} a change to OK; the watchdog ignores it too", "ignored", to=WATCHDOG
    ),
    "variants/cloudwatch-alarm-state-change-web-app-5xx-muted.json": Expected(
        "an alarm mute rule covers now (ListAlarmMuteRules, not the event's muteDetail): the watchdog leaves it alone",
        "handled",
        routes=(WATCHDOG,),
        outcomes=("muted",),
        given=fired_after_a_deploy("web-app-5xx", muted=True),
    ),
    "variants/cloudwatch-alarm-state-change-web-app-5xx-mute-ended.json": Expected(
        "the event's muteDetail ended hours ago and no mute rule is active: the watchdog would roll back",
        "handled",
        routes=(WATCHDOG,),
        outcomes=("would-rollback",),
        given=fired_after_a_deploy("web-app-5xx"),
    ),
    "variants/cloudwatch-alarm-state-change-web-app-error-rate-metric-math.json": Expected(
        f"{IGNORED_BY_RULES} the metric-math alarm: the gate reads it, the watchdog does not watch it",
        "ignored",
        to=WATCHDOG,
    ),
    "variants/cloudwatch-alarm-state-change-web-app-health-composite.json": Expected(
        "a composite alarm after a deploy: in dry run the watchdog would roll Deploy back",
        "handled",
        routes=(WATCHDOG,),
        outcomes=("would-rollback",),
        given=fired_after_a_deploy("web-app-health"),
    ),
    "variants/cloudwatch-alarm-state-change-web-app-health-composite-muted.json": Expected(
        "a composite alarm an active mute rule targets is left alone",
        "handled",
        routes=(WATCHDOG,),
        outcomes=("muted",),
        given=fired_after_a_deploy("web-app-health", muted=True),
    ),
    "variants/cloudwatch-alarm-state-change-web-app-health-composite-suppressed.json": Expected(
        "suppressed actions are not a mute: the watchdog would still roll back",
        "handled",
        routes=(WATCHDOG,),
        outcomes=("would-rollback",),
        given=fired_after_a_deploy("web-app-health"),
    ),
    # The same alarms as an SNS topic delivers their notification to Lambda, and as a Lambda alarm action
    # sends it: not EventBridge events, so handed to the watchdog (a user's own subscription would).
    "variants/cloudwatch-alarm-sns-notification-web-app-5xx.json": Expected(
        "the SNS notification reads like the event: the watchdog would roll back",
        "handled",
        to=WATCHDOG,
        outcomes=("would-rollback",),
        given=fired_after_a_deploy("web-app-5xx"),
    ),
    "variants/cloudwatch-alarm-sns-notification-web-app-5xx-ok.json": Expected(
        "an OK notification is ignored", "ignored", to=WATCHDOG
    ),
    "variants/cloudwatch-alarm-sns-notification-web-app-error-rate-metric-math.json": Expected(
        "the metric-math alarm's notification: not watched, ignored", "ignored", to=WATCHDOG
    ),
    "variants/cloudwatch-alarm-sns-notification-web-app-health-composite.json": Expected(
        "the composite alarm's notification: the watchdog would roll back",
        "handled",
        to=WATCHDOG,
        outcomes=("would-rollback",),
        given=fired_after_a_deploy("web-app-health"),
    ),
    "variants/cloudwatch-alarm-lambda-action-web-app-5xx.json": Expected(
        "a Lambda alarm action's event: the watchdog would roll back",
        "handled",
        to=WATCHDOG,
        outcomes=("would-rollback",),
        given=fired_after_a_deploy("web-app-5xx"),
    ),
    # web-app's pipeline events, bound to executions the sandbox ran into the state they announce.
    "variants/codepipeline-action-execution-approval-started-web-app.json": Expected(
        "the approval of a green gate: in dry run the approver would approve",
        "would-approve",
        routes=(APPROVER,),
        given=approval_waiting,
    ),
    "variants/codepipeline-pipeline-execution-failed-web-app.json": Expected(
        "a failed execution is notified, naming the action that failed",
        "notified",
        routes=(NOTICES,),
        answers={"subject": "web-app FAILED in stage Deploy, action Deploy"},
        given=failed_at_deploy,
    ),
    "variants/codepipeline-pipeline-execution-stopped-web-app.json": Expected(
        "an execution stopped by hand is notified, not as the watchdog's",
        "notified",
        routes=(NOTICES,),
        answers={"subject": "web-app STOPPED"},
        given=stopped_by_hand,
    ),
    "variants/codepipeline-stage-execution-state-change-web-app.json": Expected(
        f"{IGNORED_BY_RULES} a stage change (the execution's FAILED event is the notice); notices ignore it",
        "ignored",
        to=NOTICES,
    ),
}


def sample_files() -> list[str]:
    """Every sample, as its path under tests/events."""
    return [
        path.relative_to(EVENTS).as_posix()
        for folder in SAMPLE_FOLDERS
        for path in sorted((EVENTS / folder).glob("*.json"))
    ]


def answer_of(invocation: runner.Invocation, expected: Expected) -> dict[str, Any]:
    """What the step compares: no error, the status, and what else the sample's row expects."""
    error = invocation.error
    response = invocation.response if isinstance(invocation.response, dict) else {}
    seen: dict[str, Any] = {
        "error": f"{error.type}: {error.message}" if error is not None else None,
        "status": response.get("status"),
    }
    if expected.outcomes:
        seen["outcomes"] = [stage.get("outcome") for stage in response.get("stages", [])]
    seen |= {key: response.get(key) for key in expected.answers}
    if expected.logged:
        seen["logs it"] = expected.logged in invocation.logs
    if expected.never_logged:
        seen["never logs it"] = expected.never_logged not in invocation.logs
    return seen


def expected_answer(expected: Expected) -> dict[str, Any]:
    answer: dict[str, Any] = {"error": None, "status": expected.status}
    if expected.outcomes:
        answer["outcomes"] = list(expected.outcomes)
    answer |= expected.answers
    if expected.logged:
        answer["logs it"] = True
    if expected.never_logged:
        answer["never logs it"] = True
    return answer


def deliver(demo: Demo, name: str, expected: Expected, deployed: Mapping[str, str]) -> None:
    """Route an EventBridge sample through the deployed rules, hand it (or any other) to `expected.to`, and
    check every function that got it."""
    event = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    with expected.given(demo) as bindings:
        if bindings:
            event["detail"] = {**event["detail"], **bindings}
        invocations = []
        if "detail-type" in event:
            fired = demo.emit(event)
            targets = [deployed[service] for service in expected.routes]
            demo.step(f"{name} is routed to {', '.join(targets) or 'no function'}", targets, routed_to(fired))
            invocations += [f.invocation for f in fired]
        if expected.to is not None:
            invocations.append(demo.invoke(expected.to, event))
        for invocation in invocations:
            demo.step(
                f"{name} → {invocation.function_name}: {expected.says}",
                expected_answer(expected),
                answer_of(invocation, expected),
            )


def event_samples(demo: Demo) -> None:
    """Every event sample in tests/events, AWS's and the variants, goes through without a traceback, as expected."""
    files = sample_files()
    demo.step("every sample has an expected outcome", [], [name for name in files if name not in SAMPLE_OUTCOMES])
    ready(demo)
    demo.step(
        "no pause holds the gating functions",
        {"pause-all": False, "pause-gating": False},
        {name: stored_switch(demo, name)["on"] for name in ("pause-all", "pause-gating")},
    )
    deployed = {service: resolve_function(service, demo.endpoint) for service in (*GATING_FUNCTIONS, SWITCHES)}
    # What the approver decides must not depend on the hour, nor what the watchdog does on the policy's dry_run.
    with (
        with_window(demo, window_open_now(deployed_gate_zone(), datetime.now(UTC))),
        redeployed(demo, (APPROVER, WATCHDOG), DECKHAND_DRY_RUN="true"),
    ):
        for name in files:
            if name in SAMPLE_OUTCOMES:
                deliver(demo, name, SAMPLE_OUTCOMES[name], deployed)


SCENARIOS: list[Scenario] = [
    switches_console,
    switches_events,
    gate_evaluates_the_deployed_policy,
    gate_waits_on_an_alarm,
    gate_blocks_a_freeze,
    approver_answers_approvals,
    approver_leaves_a_later_approval_to_humans,
    watchdog_rolls_back,
    error_alarm_reaches_the_topic,
    gate_refuses_another_pipelines_job,
    gate_shadow_rule,
    *CAPACITY_SCENARIOS,
    *CLEANUP_SCENARIOS,
    event_samples,
]
