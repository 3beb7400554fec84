"""The cleanup duty in `make demo`: plan, mark, the grace period ending, removal, one failure, the report.

The deployed cleanup function runs against the seeded estate with the machine's clock. What must go and
what must stay is worked out from the estate's own records (`sandbox.estate.recorded`), and every
resource is checked by id in the sandbox after each run.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from functions.cleanup.config import CLEANUP_VARIABLE
from functions.cleanup.kinds import KINDS as REGISTERED_KINDS
from functions.cleanup.kinds.base import KindName
from functions.cleanup.kinds.common import own_rule
from functions.cleanup.kinds.log_groups import Rule as LogGroupRule
from functions.shared.settings import AUDIT_TABLE_VARIABLE
from stacks.policy import load_policy

from . import ACCOUNT, REGION, runner
from .cdk import default_policy
from .demo import Demo, Scenario, control
from .deployed import resolve_function
from .estate import FUNCTION, LOG_GROUPS, REPOSITORY, RUNNING_TAG, Estate, recorded
from .iam import authorize
from .output import say

CLEANUP = "cleanup"
KINDS: list[KindName] = list(REGISTERED_KINDS)


# --- what the estate says must happen ---------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """By kind, the ids that must be removed once the grace period has passed; and what must stay, and why."""

    removed: Mapping[KindName, tuple[str, ...]]
    kept: Mapping[str, tuple[tuple[KindName, str], ...]]  # why -> (kind, id)
    retention_set: tuple[str, ...]  # log groups that get the policy's retention, and stay
    retention_days: int
    with_their_images: tuple[str, ...]  # snapshots that go with the unused AMI they back

    def candidates(self) -> dict[KindName, int]:
        """What a plan lists per kind: everything that will go, and the log groups that get a retention."""
        counts = {kind: len(ids) for kind, ids in self.removed.items()}
        counts["log-group"] += len(self.retention_set)
        return counts


def expected(estate: Estate) -> Expected:
    kinds = load_policy(default_policy()).cleanup.kinds

    def old_enough(kind: KindName, ident: str) -> bool:
        rule = kinds.rule(kind)
        return rule is not None and estate.seeded_at - estate.created[ident] >= timedelta(days=rule.min_age_days)

    protected = set(estate.protected)
    used_image = next(image for image in estate.images if image not in estate.unused_images)
    behind_images = set(estate.image_snapshots.values())
    aliased = {f"{FUNCTION}:{version}" for version in estate.aliases.values()}
    newest_version = max(estate.function_versions, key=lambda ident: int(ident.rpartition(":")[2]))
    snapshots = [s for s in estate.snapshots if s not in behind_images and s not in protected]
    volumes = [v for v in estate.unattached_volumes if v not in protected]
    versions = [v for v in estate.function_versions if v not in aliased and v != newest_version]
    empty = tuple(name for name, _, _, has_events in LOG_GROUPS if not has_events)
    young: list[tuple[KindName, str]] = [("ebs-snapshot", s) for s in snapshots if not old_enough("ebs-snapshot", s)]
    young += [("ebs-volume", v) for v in volumes if not old_enough("ebs-volume", v)]
    young += [("stopped-instance", i) for i in estate.stopped_instances if i not in estate.expired_instances]
    young += [("cfn-stack", s) for s in estate.stacks if s not in estate.expired_stacks and s not in protected]
    young += [("lambda-version", newest_version)]
    log_group = kinds.rule("log-group")
    return Expected(
        removed={
            "ebs-snapshot": tuple(s for s in snapshots if old_enough("ebs-snapshot", s)),
            "ebs-volume": tuple(v for v in volumes if old_enough("ebs-volume", v)),
            "ami": tuple(estate.unused_images),
            "ecr-image": tuple(estate.ecr_untagged_images),
            "log-group": empty,
            "lambda-version": tuple(v for v in versions if old_enough("lambda-version", v)),
            "elastic-ip": tuple(a for a in estate.unassociated_addresses if a not in protected),
            "cfn-stack": tuple(s for s in estate.expired_stacks if s not in protected),
            "stopped-instance": tuple(estate.expired_instances),
        },
        kept={
            "protected": tuple(_kind_of(estate, ident) for ident in estate.protected),
            "in use": (
                ("ebs-snapshot", estate.image_snapshots[used_image]),
                ("ami", used_image),
                ("ebs-volume", estate.attached_volumes[0]),
                ("elastic-ip", estate.associated_addresses[0]),
                *(("lambda-version", version) for version in sorted(aliased)),
                ("ecr-image", f"{REPOSITORY}:{RUNNING_TAG}"),
            ),
            "too young": tuple(young),
        },
        retention_set=tuple(name for name, retention, _, has_events in LOG_GROUPS if retention is None and has_events),
        retention_days=own_rule(log_group, LogGroupRule).retention_days if log_group else 0,
        with_their_images=tuple(estate.image_snapshots[image] for image in estate.unused_images),
    )


def _kind_of(estate: Estate, ident: str) -> tuple[KindName, str]:
    kinds: dict[KindName, tuple[str, ...]] = {
        "ebs-snapshot": estate.snapshots,
        "ebs-volume": estate.attached_volumes + estate.unattached_volumes,
        "elastic-ip": estate.associated_addresses + estate.unassociated_addresses,
        "cfn-stack": estate.stacks,
    }
    return next((kind, ident) for kind, ids in kinds.items() if ident in ids)


# --- what is in the sandbox ---------------------------------------------------------------------------


def _found(call: Callable[[], Any]) -> bool:
    """Whether a describe call finds its resource: a NotFound error (or ValidationError for stacks) says not."""
    try:
        return bool(call())
    except ClientError as error:
        code = str(error.response["Error"]["Code"])
        if "NotFound" in code or code in {"ValidationError", "ImageNotFoundException", "ResourceNotFoundException"}:
            return False
        raise


def present(demo: Demo, kind: KindName, ident: str) -> bool:
    """Whether the resource is still there, asked of its service by id."""
    ec2 = demo.client("ec2")
    checks: dict[KindName, Callable[[], Any]] = {
        "ebs-snapshot": lambda: ec2.describe_snapshots(SnapshotIds=[ident])["Snapshots"],
        "ebs-volume": lambda: ec2.describe_volumes(VolumeIds=[ident])["Volumes"],
        "ami": lambda: ec2.describe_images(ImageIds=[ident])["Images"],
        "elastic-ip": lambda: ec2.describe_addresses(AllocationIds=[ident])["Addresses"],
        "stopped-instance": lambda: [
            i
            for r in ec2.describe_instances(InstanceIds=[ident])["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] != "terminated"
        ],
        "cfn-stack": lambda: [
            s
            for s in demo.client("cloudformation").describe_stacks(StackName=ident)["Stacks"]
            if s["StackStatus"] != "DELETE_COMPLETE"
        ],
        "lambda-version": lambda: demo.client("lambda").get_function_configuration(
            FunctionName=ident.rpartition(":")[0], Qualifier=ident.rpartition(":")[2]
        ),
        "ecr-image": lambda: _ecr_image(demo, ident),
        "log-group": lambda: [
            g
            for g in demo.client("logs").describe_log_groups(logGroupNamePrefix=ident)["logGroups"]
            if g["logGroupName"] == ident
        ],
    }
    return _found(checks[kind])


def _ecr_image(demo: Demo, ident: str) -> bool:
    """`repository@digest` or `repository:tag`."""
    repository, by_digest, digest = ident.partition("@")
    if not by_digest:
        repository, _, tag = ident.partition(":")
    images = demo.client("ecr").list_images(repositoryName=repository)["imageIds"]
    return any(image.get("imageDigest") == digest if by_digest else image.get("imageTag") == tag for image in images)


def missing(demo: Demo, resources: Sequence[tuple[KindName, str]]) -> list[str]:
    return [ident for kind, ident in resources if not present(demo, kind, ident)]


def still_there(demo: Demo, resources: Sequence[tuple[KindName, str]]) -> list[str]:
    return [ident for kind, ident in resources if present(demo, kind, ident)]


def removed(want: Expected, but: Sequence[str] = ()) -> list[tuple[KindName, str]]:
    listed = [(kind, ident) for kind, ids in want.removed.items() for ident in ids if ident not in but]
    return listed + [("ebs-snapshot", ident) for ident in want.with_their_images]


def retention_of(demo: Demo, group: str) -> int | None:
    [found] = [
        g
        for g in demo.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        if g["logGroupName"] == group
    ]
    days = found.get("retentionInDays")
    return int(days) if days is not None else None


# --- marks: tags, and audit-table items for kinds that cannot be tagged -------------------------------


@dataclass(frozen=True)
class Marks:
    ec2: Mapping[str, str]  # resource id -> due date
    logs: Mapping[str, str]  # log group ARN -> due date
    table: Mapping[tuple[str, str], str]  # (pk, sk) -> due date

    def ids(self) -> set[str]:
        marked = set(self.ec2) | {arn.split(":log-group:", 1)[1].removesuffix(":*") for arn in self.logs}
        return marked | {sk for _, sk in self.table}

    def count(self) -> int:
        return len(self.ec2) + len(self.logs) + len(self.table)


def environment(demo: Demo) -> Mapping[str, str]:
    return demo.functions.get(resolve_function(CLEANUP, demo.endpoint)).environment


def mark_tag(demo: Demo) -> str:
    return str(json.loads(environment(demo)[CLEANUP_VARIABLE])["mark_tag"])


def marks(demo: Demo) -> Marks:
    tag = mark_tag(demo)
    ec2 = demo.client("ec2").describe_tags(Filters=[{"Name": "key", "Values": [tag]}])["Tags"]
    logs = demo.client("logs")
    groups = [g for page in logs.get_paginator("describe_log_groups").paginate() for g in page["logGroups"]]
    arns = [str(g["arn"]).removesuffix(":*") for g in groups]
    log_tags = {arn: logs.list_tags_for_resource(resourceArn=arn)["tags"] for arn in arns}
    log_marks = {arn: tags[tag] for arn, tags in log_tags.items() if tag in tags}
    items = demo.client("dynamodb").scan(TableName=environment(demo)[AUDIT_TABLE_VARIABLE])["Items"]
    table = {
        (i["pk"]["S"], i["sk"]["S"]): i.get("due", {}).get("S", "")
        for i in items
        if i["pk"]["S"].startswith("cleanup-mark/")
    }
    return Marks({t["ResourceId"]: t["Value"] for t in ec2}, log_marks, table)


def end_grace_period(demo: Demo, found: Marks) -> int:
    """Move every mark's due date to yesterday (UTC), as waiting out the grace period would: ids are kept."""
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    tag = mark_tag(demo)
    if found.ec2:
        demo.client("ec2").create_tags(Resources=list(found.ec2), Tags=[{"Key": tag, "Value": yesterday}])
    for arn in found.logs:
        demo.client("logs").tag_resource(resourceArn=arn, tags={tag: yesterday})
    dynamodb = demo.client("dynamodb")
    table = environment(demo)[AUDIT_TABLE_VARIABLE]
    for pk, sk in found.table:
        dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            UpdateExpression="SET due = :due",
            ExpressionAttributeValues={":due": {"S": yesterday}},
        )
    after = marks(demo)
    return sum(due == yesterday for part in (after.ec2, after.logs, after.table) for due in part.values())


# --- runs and reports ---------------------------------------------------------------------------------


def answer(invocation: runner.Invocation) -> dict[str, Any]:
    if invocation.error is not None:
        raise RuntimeError(f"the cleanup function failed: {invocation.error.type}: {invocation.error.message}")
    return dict(invocation.response)


def per_kind(result: Mapping[str, Any], field: str) -> dict[str, Any]:
    return {kind: counts[field] for kind, counts in result["kinds"].items() if counts[field]}


def report_markdown(demo: Demo, result: Mapping[str, Any]) -> str:
    bucket, _, key = str(result["report"]["markdown"]).removeprefix("s3://").partition("/")
    return str(demo.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def show(markdown: str) -> None:
    say("  ┌── report")
    for line in markdown.splitlines():
        say(f"  │ {line}")
    say("  └──")


def real_run(demo: Demo) -> dict[str, Any]:
    return answer(demo.invoke(CLEANUP, {"action": "run", "kinds": KINDS, "dry_run": False}))


# --- the scenarios ------------------------------------------------------------------------------------


def cleanup_console(demo: Demo) -> None:
    """From the console: `plan` lists the candidates and their saving, changes nothing, and writes the report."""
    estate = recorded(demo.endpoint)
    want = expected(estate)
    everything = removed(want) + [r for resources in want.kept.values() for r in resources]
    plan = answer(demo.invoke(CLEANUP, {"action": "plan"}))
    demo.step("plan is a dry run", ["planned", True], [plan["status"], plan["dry_run"]])
    demo.step("it lists every candidate of the estate, by kind", want.candidates(), per_kind(plan, "marked"))
    demo.step("and acts on nothing", {}, per_kind(plan, "acted"))
    demo.step("with an estimated monthly saving", True, plan["total_marked_monthly_usd"] > 0)
    demo.step("nothing was removed", [], missing(demo, everything))
    demo.step("nothing was marked", 0, marks(demo).count())
    markdown = report_markdown(demo, plan)
    show(markdown)
    named = [ident for _, ident in removed(want) if ident not in want.with_their_images]
    demo.step("the report in the bucket names every candidate", [], [i for i in named if i not in markdown])
    for payload, says in (
        ({"action": "run", "dry_run": False}, "a run without kinds"),
        ({"action": "run", "kinds": ["ebs-snaphsot"], "dry_run": False}, "a run of a kind that does not exist"),
        ({"action": "purge"}, "an unknown action"),
    ):
        rejected = answer(demo.invoke(CLEANUP, payload))
        demo.step(
            f"{says} is rejected, naming the problem",
            ["rejected", True],
            [rejected["status"], bool(rejected.get("errors"))],
        )
    demo.step("the rejected payloads changed nothing", [0, []], [marks(demo).count(), missing(demo, everything)])
    rules = deployed_schedules(demo)
    groups = load_policy(default_policy()).cleanup.schedules
    demo.step(
        "a deployed rule per schedule group hands the function its group", sorted(g.name for g in groups), sorted(rules)
    )
    scheduled = answer(demo.invoke(CLEANUP, rules[groups[0].name]))
    demo.step(
        f"the {groups[0].name} schedule's input plans its kinds (the policy's default is a dry run)",
        ["planned", sorted(groups[0].kinds)],
        [scheduled["status"], sorted(k for k, c in scheduled["kinds"].items() if c["found"] or c["marked"])],
    )


def deployed_schedules(demo: Demo) -> dict[str, dict[str, Any]]:
    """Schedule group -> the input its deployed rule gives the cleanup function."""
    events = demo.client("events")
    arn = demo.functions.get(resolve_function(CLEANUP, demo.endpoint)).arn
    inputs: dict[str, dict[str, Any]] = {}
    for rule in events.list_rules()["Rules"]:
        if not rule.get("ScheduleExpression"):
            continue
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            if target["Arn"] == arn and "Input" in target:
                given = json.loads(target["Input"])
                inputs[str(given["group"])] = given
    return inputs


def cleanup_after_the_grace_period(demo: Demo) -> None:
    """A real run marks, the grace period ends, the next removes what qualifies: one failure does not stop it."""
    estate = recorded(demo.endpoint)
    want = expected(estate)
    first = real_run(demo)
    demo.step("the first real run acts on nothing yet", ["done", {}], [first["status"], per_kind(first, "acted")])
    demo.step("it marks every candidate", want.candidates(), per_kind(first, "marked"))
    found = marks(demo)
    due = (datetime.now(UTC).date() + timedelta(days=load_policy(default_policy()).cleanup.grace_days)).isoformat()
    demo.step(
        "the marks are on the resources (tags, an AMI's also on its own snapshots) or in the audit table, due after "
        "the grace period",
        [sum(want.candidates().values()) + len(want.with_their_images), {due}],
        [found.count(), {*found.ec2.values(), *found.logs.values(), *found.table.values()}],
    )
    demo.step("nothing was removed yet", [], missing(demo, removed(want)))

    moved = end_grace_period(demo, found)
    demo.step(
        "time passes: the grace period ends (every mark's due date is moved to yesterday, as 7 days would)",
        found.count(),
        moved,
    )
    failing = want.removed["ebs-snapshot"][0]
    control(
        demo,
        "/_sandbox/failures",
        {
            "action": "DeleteSnapshot",
            "id": failing,
            "code": "InvalidSnapshot.InUse",
            "message": f"The snapshot {failing} is currently in use (injected by the demo)",
        },
    )
    second = real_run(demo)
    demo.step("the run after the grace period ends partial: one action failed", "partial", second["status"])
    demo.step(
        "the failure is listed with its error",
        [("ebs-snapshot", failing, True)],
        [(f["kind"], f["id"], "InvalidSnapshot.InUse" in f["error"]) for f in second["failures"]],
    )
    demo.step("everything else that qualifies was removed", [], still_there(demo, removed(want, but=[failing])))
    demo.step(
        "ECR images (ecs:ListTasks by cluster on *) and stacks (DescribeStacks with ListStacks) went under IAM",
        {kind: len(want.removed[kind]) for kind in ("ecr-image", "cfn-stack")},
        {kind: count for kind, count in per_kind(second, "acted").items() if kind in ("ecr-image", "cfn-stack")},
    )
    demo.step(
        "log groups without retention got the policy's",
        dict.fromkeys(want.retention_set, want.retention_days),
        {group: retention_of(demo, group) for group in want.retention_set},
    )
    for why, resources in want.kept.items():
        demo.step(f"{why} resources are all still there", [], missing(demo, resources))
    demo.step(
        "the failed snapshot is still there, still marked",
        [True, True],
        [present(demo, "ebs-snapshot", failing), failing in marks(demo).ids()],
    )
    markdown = report_markdown(demo, second)
    show(markdown)
    failure_rows = [line for line in markdown.splitlines() if failing in line and "InvalidSnapshot.InUse" in line]
    demo.step("the report lists the failure with its error", True, bool(failure_rows))

    retry = real_run(demo)
    demo.step(
        "the next run removes only what failed",
        ["done", {"ebs-snapshot": 1}, False],
        [retry["status"], per_kind(retry, "acted"), present(demo, "ebs-snapshot", failing)],
    )
    again = real_run(demo)
    demo.step(
        "a second run right after finds nothing new: nothing marked, nothing acted on",
        ["done", {}, {}],
        [again["status"], per_kind(again, "marked"), per_kind(again, "acted")],
    )
    show(report_markdown(demo, again))


DELETER = "deckhand-cleanup-deleter"
REMOVED_GRANT = "ec2:ReleaseAddress"


def without_grant(document: Mapping[str, Any], action: str) -> dict[str, Any]:
    """The policy document with `action` taken out of every statement (a statement left with none goes)."""
    kept = []
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        remaining = [a for a in actions if a != action]
        if remaining:
            kept.append({**statement, "Action": remaining})
    return {**document, "Statement": kept}


@contextlib.contextmanager
def grant_removed(demo: Demo, role: str, action: str) -> Iterator[None]:
    """An operator's edit of the role's inline policies that removes one grant; put back afterwards."""
    iam = demo.client("iam")
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    before = {name: iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"] for name in names}
    for name, document in before.items():
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(without_grant(document, action)))
    try:
        yield
    finally:
        for name, document in before.items():
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))


def cleanup_refused_by_iam(demo: Demo) -> None:
    """A grant removed from the deleter role: the run reports AccessDenied for that resource only, and
    `python -m sandbox authorize` explains it."""
    ec2 = demo.client("ec2")
    address = ec2.allocate_address(Domain="vpc")["AllocationId"]
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    # Marked a run earlier, due yesterday: an Elastic IP has no age, so the grace period is its only wait.
    ec2.create_tags(Resources=[address], Tags=[{"Key": mark_tag(demo), "Value": yesterday}])
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:elastic-ip/{address}"
    demo.expect_denial(REMOVED_GRANT, arn, DELETER)
    with grant_removed(demo, DELETER, REMOVED_GRANT):
        say(f"  an operator's edit removes {REMOVED_GRANT} from the role {DELETER}")
        run = real_run(demo)
        demo.step(
            "the run ends partial, the refused release its only failure",
            ["partial", [("elastic-ip", address)]],
            [run["status"], [(f["kind"], f["id"]) for f in run["failures"]]],
        )
        errors = [failure["error"] for failure in run["failures"] if failure["id"] == address]
        demo.step(
            "the failure is AWS's refusal, naming the action",
            [[True, True]],
            [["UnauthorizedOperation" in error, REMOVED_GRANT in error] for error in errors],
        )
        demo.step("the address is still there", True, present(demo, "elastic-ip", address))
        call = {"service": "ec2", "operation": "ReleaseAddress", "params": {"AllocationId": address}}
        say(f"  $ python -m sandbox authorize {DELETER} --call ec2:ReleaseAddress '{json.dumps(call['params'])}'")
        answer = authorize.ask(demo.endpoint, authorize.asker(DELETER, demo.client), {"call": call})
        for line in authorize.render(answer):
            say(f"  {line}")
        demo.step(
            "authorize explains it: no statement of the deleter allows it", "ImplicitlyDenied", answer["decision"]
        )
    after = real_run(demo)
    demo.step(
        "with the grant back, the next run releases it",
        ["done", {"elastic-ip": 1}, False],
        [after["status"], per_kind(after, "acted"), present(demo, "elastic-ip", address)],
    )


SCENARIOS: list[Scenario] = [cleanup_console, cleanup_after_the_grace_period, cleanup_refused_by_iam]
