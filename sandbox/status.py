"""What a running sandbox holds and what happened in it: `python -m sandbox status`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from functions.shared.settings import AUDIT_TABLE_VARIABLE

from .clients import pages, sandbox_client
from .iam import deliveries, enforce
from .output import say


def status(endpoint: str) -> dict[str, Any]:
    cfn = sandbox_client("cloudformation", endpoint)
    lam = sandbox_client("lambda", endpoint)
    events = sandbox_client("events", endpoint)
    scheduler = sandbox_client("scheduler", endpoint)
    configs = list(pages(lam.list_functions, "Functions"))
    return {
        "endpoint": endpoint,
        "stacks": [{"name": s["StackName"], "status": s["StackStatus"]} for s in cfn.describe_stacks()["Stacks"]],
        "functions": [
            {"name": f["FunctionName"], "handler": f.get("Handler"), "runtime": f.get("Runtime")} for f in configs
        ],
        "rules": [
            {
                "name": rule["Name"],
                "state": rule.get("State"),
                "schedule": rule.get("ScheduleExpression"),
                "pattern": json.loads(rule["EventPattern"]) if rule.get("EventPattern") else None,
                "targets": [
                    t["Arn"].rsplit(":", 1)[-1]
                    for t in pages(events.list_targets_by_rule, "Targets", Rule=rule["Name"])
                ],
            }
            for rule in pages(events.list_rules, "Rules")
        ],
        "schedules": [
            {
                "name": f"{s.get('GroupName', 'default')}/{s['Name']}",
                "state": s.get("State"),
                "target": s.get("Target", {}).get("Arn"),
            }
            for s in pages(scheduler.list_schedules, "Schedules")
        ],
        "pipelines": sandbox_state(endpoint),
        "deliveries": delivery_ledger(endpoint),
        "audit": audit_records(endpoint, configs),
    }


def delivery_ledger(endpoint: str) -> dict[str, Any]:
    try:
        return deliveries.ledger(endpoint)
    except (urllib.error.URLError, ValueError) as failed:
        return {"error": f"GET {endpoint}{deliveries.LEDGER_ROUTE} failed: {failed}"}


def iam_state(endpoint: str) -> dict[str, Any]:
    """What the server's authorizer counted (`enforce.Enforcer.document`), with the deliveries' counts."""
    with urllib.request.urlopen(endpoint + enforce.ROUTE, timeout=10) as answer:  # noqa: S310 - localhost
        return dict(json.load(answer))


def sandbox_state(endpoint: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"{endpoint}/_sandbox/state", timeout=10) as answer:  # noqa: S310 - localhost
            return dict(json.load(answer))
    except (urllib.error.URLError, ValueError) as failed:
        return {"error": f"GET {endpoint}/_sandbox/state failed: {failed}"}


def audit_records(endpoint: str, configs: list[dict[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
    tables = {f.get("Environment", {}).get("Variables", {}).get(AUDIT_TABLE_VARIABLE) for f in configs} - {None}
    dynamodb = sandbox_client("dynamodb", endpoint)
    items = [
        item
        for table in sorted(t for t in tables if t)
        for item in pages(dynamodb.scan, "Items", "LastEvaluatedKey", TableName=table)
    ]
    items.sort(key=lambda item: item.get("sk", {}).get("S", ""), reverse=True)
    return [{name: next(iter(value.values())) for name, value in item.items()} for item in items[:limit]]


def print_status(report: dict[str, Any]) -> None:
    say(f"sandbox at {report['endpoint']}")
    say("stacks:")
    for stack in report["stacks"]:
        say(f"  {stack['name']}: {stack['status']}")
    say("functions:")
    for fn in report["functions"]:
        say(f"  {fn['name']}  ({fn['handler']}, {fn['runtime']})")
    say("rules:")
    for rule in report["rules"]:
        trigger = rule["schedule"] or json.dumps(rule["pattern"])
        say(f"  {rule['name']} [{rule['state']}] {trigger} → {', '.join(rule['targets']) or 'no targets'}")
    say("schedules:" if report["schedules"] else "schedules: none")
    for schedule in report["schedules"]:
        say(f"  {schedule['name']} [{schedule['state']}] → {schedule['target']}")
    pipelines = report["pipelines"]
    say("pipelines:")
    if "error" in pipelines:
        say(f"  {pipelines['error']}")
    for execution in pipelines.get("executions", []):
        stages = ", ".join(f"{s['name']}={s['status']}" for s in execution.get("stages", []))
        say(f"  {execution['pipeline']} {execution.get('pipelineExecutionId')}: {execution.get('status')} ({stages})")
    for job in pipelines.get("jobs", []):
        say(f"  job {job['id']} {job.get('pipeline')}/{job.get('stage')}/{job.get('action')}: {job.get('status')}")
    for approval in pipelines.get("approvals", []):
        say(f"  approval {json.dumps(approval, default=str)}")
    ledger = report["deliveries"]
    if "error" in ledger:
        say(f"deliveries: {ledger['error']}")
    else:
        say(f"deliveries: {ledger['deliveries']} authorized, {ledger['refused']} refused")
    for refusal in ledger.get("refusals", []):
        say(f"  REFUSED at {refusal['phase']}: {refusal['line']}")
    say(f"audit (newest {len(report['audit'])}):" if report["audit"] else "audit: no records")
    for record in report["audit"]:
        when = str(record.get("sk", "")).split("#", 1)[0]
        dry = " (dry run)" if record.get("dry_run") else ""
        what = f"{record.get('duty')} {record.get('action')} {record.get('subject')}"
        say(f"  {when} {what}: {record.get('outcome')}{dry} — {record.get('reason')}")
