"""The organization in `make demo` (issue 13), on a sandbox of its own (`.sandbox/organization`): the hub deployed
with examples/organization.yaml into the management account of an organization of 21 member accounts, the member
stack in each targeted member through the hub's StackSet (and by hand in the accounts the policy lists by id), the
cleanup fanned out over accounts x regions x kinds on Step Functions, and capacity and gating on alarms that live in a
member account.

One denial is provoked on purpose: the cleanup run after one member's role is removed. The hub's cleanup asks STS
for a role that is gone, which AWS refuses (AccessDenied: no trust policy admits anyone to a role that does not
exist); the scenario registers that request (sts:AssumeRole on that role's ARN) with the enforcer first, so it
counts under "provoked on purpose" and the organization report names the account as failed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name

from functions.cleanup.kinds import KINDS
from stacks.member import member_stack_name
from stacks.policy import Policy, load_policy

from . import REGION, estate, organization
from .demo import Demo, Scenario, Setup, control, status_of
from .deployed import resolve_function
from .gaps.bus import DELIVERIES_ROUTE
from .gaps.cloudwatch import STATE_ROUTE
from .output import say
from .process import Paths
from .rehearsal import redeployed

CLEANUP = "cleanup"
CAPACITY = "capacity"
EXECUTION_SECONDS = 300
GATE_PAYLOAD = {"action": "evaluate", "pipeline": "web-app", "stage": "Deploy"}
# Where the demo seeds clutter: members the policy covers, one it excludes, one in a unit it leaves out.
SEEDED = ("workload-01", "workload-02", "prod-01", "shared-services", "workload-12", "sandbox-01")
REMOVED = "workload-02"  # the member whose role the real run finds removed
HOLDS_ALARMS = "workload-01"  # the member the policy's gate alarms and capacity target live in


def paths() -> Paths:
    return Paths(Paths.default().root / "organization")


def write_policy(endpoint: str) -> Path:
    """The organization made in the server, and the example policy with its ids: what `up` deploys."""
    built = organization.build(endpoint)
    for line in organization.describe(built):
        say(f"  {line}")
    return organization.write_policy(built, paths().root)


@cache
def policy() -> Policy:
    return load_policy(paths().root / organization.POLICY_FILE)


def in_units(built: organization.Built, name: str) -> bool:
    """Whether the member `name` sits in a unit the policy names (or one under it), less the exclusions: where the
    StackSet deploys."""
    org = policy().organization
    assert org is not None
    account = built.accounts[name]
    named = [unit.name for unit in organization.UNITS if built.units[unit.name] in org.accounts]
    return account not in org.exclude and any(account in built.in_unit(unit) for unit in named)


def covered(built: organization.Built, name: str) -> bool:
    """Whether the policy covers the member `name`: in its units, or listed by id."""
    org = policy().organization
    assert org is not None
    return in_units(built, name) or built.accounts[name] in org.accounts


# --- seeding --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clutter:
    """What the demo seeded in one member account and region, by id."""

    account: str
    region: str
    old_volume: str  # unattached for 30 days: cleaned where the policy covers the account
    young_volume: str  # unattached for 2 days: younger than ebs-volume's min_age_days, always kept
    address: str  # an unassociated Elastic IP: cleaned where covered


@cache
def clutter_of(endpoint: str) -> tuple[Clutter, ...]:
    built = organization.build(endpoint)
    org = policy().organization
    assert org is not None
    now = datetime.now(UTC)
    made = []
    for name in SEEDED:
        account = built.accounts[name]
        for region in org.regions:
            ec2 = organization.admin_client(endpoint, "ec2", account, region)
            zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
            volumes = [
                ec2.create_volume(AvailabilityZone=zone, Size=size, VolumeType="gp3")["VolumeId"] for size in (100, 20)
            ]
            for volume, days in zip(volumes, (30, 2), strict=True):
                organization.control(
                    endpoint,
                    "/_sandbox/backdate",
                    {"service": "ec2", "kind": "volume", "id": volume, "region": region,
                     "created": (now - timedelta(days=days)).isoformat()},
                    account=account,
                    region=region,
                )  # fmt: skip
            address = ec2.allocate_address(Domain="vpc")["AllocationId"]
            made.append(Clutter(account, region, volumes[0], volumes[1], address))
    return tuple(made)


def seed_member_alarms_and_group(endpoint: str, account: str) -> list[str]:
    """In the member holding them: the gate's alarm, the capacity target's group and its scale-out alarm."""
    gate = policy().gating.gates[0]
    target = policy().capacity.targets[0]
    region = target.region or REGION
    autoscaling = organization.admin_client(endpoint, "autoscaling", account, region)
    ec2 = organization.admin_client(endpoint, "ec2", account, region)
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    template = ec2.create_launch_template(
        LaunchTemplateName="orders-workers", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t4g.small"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=target.group,
        LaunchTemplate={"LaunchTemplateId": template},
        MinSize=1,
        MaxSize=4,
        DesiredCapacity=1,
        VPCZoneIdentifier=subnet,
    )
    cloudwatch = organization.admin_client(endpoint, "cloudwatch", account, region)
    assert gate.alarms is not None
    assert target.alarms is not None
    for name in [*gate.alarms.names, *target.alarms.scale_out]:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="Orders",
            MetricName=name,
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    return [f"member {account}: group {target.group}, alarms {gate.alarms.names + target.alarms.scale_out}"]


def seed(endpoint: str, now: datetime) -> list[str]:
    """After `up`: the member stack by hand in the accounts the policy lists by id, the hub's estate (its pipeline
    and alarms), the clutter in the members and the member's alarms and group."""
    built = organization.build(endpoint)
    lines = organization.deploy_by_id(endpoint, policy(), member_stack_name(policy().name_prefix))
    lines += estate.seed(endpoint, now=now).summary()
    lines += seed_member_alarms_and_group(endpoint, built.accounts[HOLDS_ALARMS])
    clutter = clutter_of(endpoint)
    lines.append(f"clutter in {len({c.account for c in clutter})} members x {len({c.region for c in clutter})} regions")
    return lines


SETUP = Setup(policy_for=write_policy, seed=seed)


# --- helpers --------------------------------------------------------------------------------------------------


def wait_for(demo: Demo, execution_arn: str) -> dict[str, Any]:
    """The execution's end: its status and output (parsed)."""
    sfn = demo.client("stepfunctions")
    deadline = time.monotonic() + EXECUTION_SECONDS
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            return {"status": described["status"], "output": json.loads(described.get("output") or "{}")}
        time.sleep(1)


def cleanup(demo: Demo, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Start the fan-out from the console, as the cleanup function does, and wait for its end."""
    invocation = demo.invoke(CLEANUP, dict(payload))
    answer = invocation.response if isinstance(invocation.response, dict) else {}
    demo.step(f"cleanup {payload['action']} starts the fan-out", "started", status_of(invocation))
    if "execution_arn" not in answer:
        return {}
    ended = wait_for(demo, str(answer["execution_arn"]))
    demo.step("the execution succeeds", "SUCCEEDED", ended["status"])
    return dict(ended["output"])


def read_report(demo: Demo, output: Mapping[str, Any], form: str) -> Any:
    """The execution's report (`json` or `markdown`) from S3; None when the execution names none."""
    url = str((output.get("report") or {}).get(form, ""))
    if not url.startswith("s3://"):
        return None
    bucket, _, key = url.removeprefix("s3://").partition("/")
    body = demo.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return json.loads(body) if key.endswith(".json") else body


def scopes_of(document: Mapping[str, Any], accounts: set[str]) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(account, region, kind) -> (found, acted: what a plan would act on, what a run did), for the accounts given."""
    return {
        (row["account"], row["region"], row["kind"]): (row["found"], row["acted"])
        for row in document.get("scopes", [])
        if row["account"] in accounts
    }


def exists(demo: Demo, item: Clutter) -> dict[str, bool]:
    ec2 = organization.admin_client(demo.endpoint, "ec2", item.account, item.region)
    volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    addresses = {a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]}
    return {
        "old volume": item.old_volume in volumes,
        "young volume": item.young_volume in volumes,
        "address": item.address in addresses,
    }


# --- the scenarios --------------------------------------------------------------------------------------------


def organization_deployed(demo: Demo) -> None:
    """The hub manages an organization of 21 members; the member stack reached each targeted one through the
    StackSet (and the accounts listed by id by hand), none other."""
    built = organization.build(demo.endpoint)
    described = demo.client("organizations").describe_organization()["Organization"]
    demo.step("the hub account manages the organization, all features", (built.management, "ALL"),
              (described["MasterAccountId"], described["FeatureSet"]))  # fmt: skip
    demo.step("at least 20 member accounts, in units", True, len(built.accounts) >= 20 and len(built.units) >= 2)
    org = policy().organization
    assert org is not None
    stack_set = member_stack_name(policy().name_prefix)
    instances = demo.client("cloudformation").list_stack_instances(StackSetName=stack_set)["Summaries"]
    names = {account: name for name, account in built.accounts.items()}
    regions = sorted(org.regions)
    demo.step(
        f"{stack_set}: an instance in each region of each account of the policy's units (less exclusions)",
        {name: regions for name in built.accounts if in_units(built, name)},
        {
            names[i["Account"]]: sorted(r["Region"] for r in instances if r["Account"] == i["Account"])
            for i in instances
        },
    )
    with_roles = {
        name: organization.has_role(demo.endpoint, account, org.member_role) for name, account in built.accounts.items()
    }
    demo.step(
        "the member role exists exactly where the policy covers the account",
        {name: covered(built, name) for name in built.accounts},
        with_roles,
    )
    demo.step(
        "and not in the management account",
        False,
        organization.has_role(demo.endpoint, built.management, org.member_role),
    )


def cleanup_plans_across_the_organization(demo: Demo) -> None:
    """A plan over every member account x region x kind, on Step Functions; the report read back from S3."""
    built = organization.build(demo.endpoint)
    clutter = clutter_of(demo.endpoint)
    output = cleanup(demo, {"action": "plan"})
    document = read_report(demo, output, "json") or {}
    seeded = {c.account for c in clutter}
    names = {account: name for name, account in built.accounts.items()}
    expected = {}
    for item in clutter:
        if covered(built, names[item.account]):
            expected[(item.account, item.region, "ebs-volume")] = (2, 1)
            expected[(item.account, item.region, "elastic-ip")] = (1, 1)
    demo.step(
        "in each covered member and region the plan finds both volumes and would remove the old one, and the address",
        expected,
        scopes_of(document, seeded),
    )
    demo.step("no account failed", [], output.get("failed_accounts"))


def listing_actions(kinds: Iterable[str]) -> list[str]:
    """The IAM action of each kind's first listing call (EC2's actions are named as its operations)."""
    model = botocore.session.get_session()
    actions = []
    for kind in kinds:
        listing = KINDS[kind].listing
        operations = model.get_service_model(listing.service).operation_names
        actions += [f"{listing.service}:{name}" for name in operations if xform_name(name) == listing.operation]
    return actions


def cleanup_runs_with_a_member_role_removed(demo: Demo) -> None:
    """A real run after one member's role was removed: that account listed as failed, the others cleaned."""
    built = organization.build(demo.endpoint)
    org = policy().organization
    assert org is not None
    removed = built.accounts[REMOVED]
    role_arn = organization.remove_role(demo.endpoint, removed, org.member_role)
    demo.step(
        f"{org.member_role} removed from {REMOVED} ({removed})",
        False,
        organization.has_role(demo.endpoint, removed, org.member_role),
    )
    demo.expect_denial("sts:AssumeRole", role_arn, "")
    # The fan-out may still hold that role's credentials from the plan (a warm container keeps them until they expire):
    # then the refusal comes at each kind's first listing in that account, to the session of the deleted role.
    for action in listing_actions(policy().cleanup.kinds.listed()):
        demo.expect_denial(action, "*", f"sts::{removed}:assumed-role/{org.member_role}/")
    output = cleanup(demo, {"action": "run", "kinds": list(policy().cleanup.kinds.listed()), "dry_run": False})
    failed = output.get("failed_accounts") or []
    demo.step("the report lists that account, and only it, as failed", [removed], [f.get("account") for f in failed])
    refusals = ("AccessDenied", "UnauthorizedOperation")  # STS's refusal of AssumeRole, EC2's of a call
    demo.step("with the denial as its reason", True, any(r in str(f.get("reason")) for f in failed for r in refusals))
    names = {account: name for name, account in built.accounts.items()}
    after = {(names[c.account], c.region): exists(demo, c) for c in clutter_of(demo.endpoint)}
    cleaned = {"old volume": False, "young volume": True, "address": False}
    untouched = {"old volume": True, "young volume": True, "address": True}
    demo.step(
        "covered members cleaned (the young volume kept); the failed, excluded and uncovered ones untouched",
        {key: cleaned if covered(built, key[0]) and key[0] != REMOVED else untouched for key in after},
        after,
    )
    markdown = read_report(demo, output, "markdown")
    demo.step("the organization report (Markdown, from S3) names the failed account", True, removed in str(markdown))


def member_alarm(demo: Demo, name: str, state: str) -> dict[str, Any]:
    """SetAlarmState in the member holding the policy's alarms, as CloudWatch does it there: the hub functions'
    answers to the event, by function name, once every delivery (the forwarding, then the hub's rules) is done."""
    account = organization.build(demo.endpoint).accounts[HOLDS_ALARMS]
    request = {"AlarmName": name, "StateValue": state, "StateReason": f"Demo: {name} {state}"}
    routed = organization.control(demo.endpoint, STATE_ROUTE, request, account=account, region=REGION)
    forwarded = [d["outcome"] for d in routed["deliveries"] if d["target"].endswith(":event-bus/default")]
    demo.step(
        f"{name} {state} in {HOLDS_ALARMS}: the member's rule forwards it to the hub's bus", ["delivered"], forwarded
    )
    if routed.get("event") is None:
        return {}
    every = control(demo, DELIVERIES_ROUTE, {"event_id": routed["event"]["id"]})["deliveries"]
    return {d["target"].rsplit(":", 1)[1]: d.get("answer") for d in every if ":function:" in d["target"]}


def capacity_on_a_member_alarm(demo: Demo) -> None:
    """A member's alarm goes to ALARM: its event reaches the hub's bus through the member's forwarding rule, and the
    hub's capacity function plans (the policy's dry run), then, redeployed with `dry_run: false`, moves the member's
    group through the capacity member role."""
    built = organization.build(demo.endpoint)
    target = policy().capacity.targets[0]
    assert target.alarms is not None
    assert target.group is not None
    alarm, capacity = target.alarms.scale_out[0], resolve_function(CAPACITY, demo.endpoint)
    autoscaling = organization.admin_client(demo.endpoint, "autoscaling", built.accounts[HOLDS_ALARMS], REGION)

    def min_size() -> int:
        return int(
            autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[target.group])["AutoScalingGroups"][0][
                "MinSize"
            ]
        )

    before = min_size()
    answer = member_alarm(demo, alarm, "ALARM").get(capacity) or {}
    demo.step("the hub's capacity function plans the step out (the policy's dry run)", "planned", answer.get("status"))
    demo.step(f"{target.group} untouched by the plan", before, min_size())
    member_alarm(demo, alarm, "OK")
    with redeployed(demo, (CAPACITY,), DECKHAND_DRY_RUN="false"):
        answer = member_alarm(demo, alarm, "ALARM").get(capacity) or {}
    demo.step("redeployed with dry_run false, it changes the group", "changed", answer.get("status"))
    demo.step(
        f"{target.group} in {HOLDS_ALARMS}: MinSize stepped out by {target.alarms.step}",
        before + target.alarms.step,
        min_size(),
    )


def gate_on_a_member_alarm(demo: Demo) -> None:
    """The gate reads its alarms in the member account its policy names: it holds the deploy while one is in ALARM
    (the check waits for the alarm to clear, up to the gate's timeout) and lets it go once the alarm is OK."""
    built = organization.build(demo.endpoint)
    gate = policy().gating.gates[0]
    assert gate.alarms is not None
    account, region = built.accounts[HOLDS_ALARMS], gate.alarms.region or REGION
    cloudwatch = organization.admin_client(demo.endpoint, "cloudwatch", account, region)
    for state, outcome, verdict in (("ALARM", "wait", "wait"), ("OK", "pass", "proceed")):
        cloudwatch.set_alarm_state(AlarmName=gate.alarms.names[0], StateValue=state, StateReason="demo")
        invocation = demo.invoke("gate", GATE_PAYLOAD)
        decision = (invocation.response if isinstance(invocation.response, dict) else {}).get("decision") or {}
        checks = {c["check"]: c.get("outcome") for c in decision.get("checks", [])}
        demo.step(
            f"{gate.alarms.names[0]} in {HOLDS_ALARMS} in {state}: the alarms check, and the verdict",
            (outcome, verdict),
            (checks.get("alarms"), decision.get("verdict")),
        )


SCENARIOS: list[Scenario] = [
    organization_deployed,
    cleanup_plans_across_the_organization,
    cleanup_runs_with_a_member_role_removed,
    capacity_on_a_member_alarm,
    gate_on_a_member_alarm,
]
