"""What `make demo` rehearses, one scenario per duty, each step checked against its expected outcome.

Functions run with the machine's clock: `tick --at` decides which schedules are due, and the
scenarios put times relative to now so that what a function sees is what the step expects.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.shared.switches import parameter_name

from .cli import Demo, Scenario, resolve_function, status_of

SWITCHES = "switches"


def switch_parameter(demo: Demo, name: str) -> str:
    fn = demo.functions.get(resolve_function(SWITCHES, demo.endpoint))
    return parameter_name(fn.environment["DECKHAND_SWITCHES_PATH"], name)


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
    items = demo.client("dynamodb").scan(TableName=fn.environment["DECKHAND_AUDIT_TABLE"])["Items"]
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


SCENARIOS: list[Scenario] = [switches_console, switches_events]
