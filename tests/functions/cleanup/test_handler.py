"""The cleanup function end to end in a moto account: plan, run, failures, resume, bad payloads, pauses, calls."""

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.cleanup import flow as cleanup_flow
from functions.cleanup import handler as cleanup_handler
from functions.cleanup.config import CleanupConfig
from functions.cleanup.flow import AUDIT_IDS_CHARS, handle, id_chunks
from functions.shared import clients
from functions.shared.audit import MAX_JSON_CHARS, audit_partition, to_json
from functions.shared.switches import SwitchState, parameter_name
from stacks.policy import load_policy
from tests.support.deployed import NOW, PATH, Deployed

ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = "deckhand-cleanup-reports"
LATER = NOW + timedelta(days=400)  # moto dates snapshots at the real time; the runtime's clock runs a year on
READS = ("Describe", "List", "Get", "BatchGet", "Query", "Scan")
OWN_WRITES = {("dynamodb", "PutItem"), ("s3", "PutObject"), ("sns", "Publish")}


@dataclass
class Calls:
    """Every call any Deckhand client makes (service, operation), with a way to fail chosen ones."""

    made: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    fail: dict[str, ClientError] = field(default_factory=dict)  # resource id -> error on its mutating call
    forbid_mutations: bool = False

    def before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        self.made.append((service, model.name, params))
        mutating = not model.name.startswith(READS) and (service, model.name) not in OWN_WRITES
        if self.forbid_mutations and mutating:
            raise AssertionError(f"a dry run reached the mutating call {service}:{model.name}")
        target = params.get("SnapshotId")
        if target in self.fail:
            raise self.fail[target]

    def count(self) -> Counter[tuple[str, str]]:
        return Counter((service, name) for service, name, _ in self.made)


@pytest.fixture
def calls(deployed: Deployed) -> Iterator[Calls]:
    clients.reset()
    recorder = Calls()
    clients._session().events.register("provide-client-params", recorder.before)
    yield recorder
    clients.reset()


@pytest.fixture
def no_default_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # read when moto first builds the EC2 backend


@pytest.fixture
def estate(deployed: Deployed, no_default_amis: None) -> dict[str, str]:
    """Snapshots: three plain, one protected, one behind an AMI. name -> snapshot id."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    ec2 = boto3.client("ec2", region_name=REGION)
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=100)["VolumeId"]
    ids: dict[str, str] = {}
    for name in ("old-1", "old-2", "old-3", "protected"):
        tags = {"Name": name} | ({"deckhand:protect": ""} if name == "protected" else {})
        spec = [{"ResourceType": "snapshot", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
        ids[name] = ec2.create_snapshot(VolumeId=volume, TagSpecifications=spec)["SnapshotId"]
    # moto backs a registered AMI with a snapshot of its own.
    image = ec2.register_image(Name="app", RootDeviceName="/dev/xvda")["ImageId"]
    ids["behind-ami"] = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"][0]["Ebs"][
        "SnapshotId"
    ]
    return ids


def config(grace_days: int = 7, pacing: dict[str, float] | None = None, **snapshot_rule: object) -> CleanupConfig:
    section = {
        "enabled": True,
        "grace_days": grace_days,
        "pacing": pacing or {},
        "schedules": [{"name": "storage", "cron": "cron(0 3 ? * MON *)", "kinds": ["ebs-snapshot"]}],
        "kinds": {"ebs-snapshot": {"min_age_days": 30, "max_share": 1.0, "max_count": 1000} | snapshot_rule},
    }
    return CleanupConfig.from_env(
        {"DECKHAND_CLEANUP": json.dumps(section), "DECKHAND_CLEANUP_BUCKET": BUCKET, "DECKHAND_REGIONS": REGION}
    )


def invoke(
    deployed: Deployed, event: Any, cfg: CleanupConfig | None = None, remaining_ms: Any = lambda: 900_000
) -> dict[str, Any]:
    rt = replace(deployed.runtime, clock=lambda: LATER)
    return handle(event, rt, cfg or config(), account=ACCOUNT, remaining_ms=remaining_ms)


def snapshots() -> dict[str, dict[str, str]]:
    found = boto3.client("ec2", region_name=REGION).describe_snapshots(OwnerIds=["self"])["Snapshots"]
    return {s["SnapshotId"]: {t["Key"]: t["Value"] for t in s.get("Tags", [])} for s in found}


def s3_objects() -> dict[str, bytes]:
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def test_a_plan_reports_candidates_and_their_saving_and_never_reaches_a_mutating_call(
    deployed: Deployed, estate: dict[str, str], calls: Calls
) -> None:
    calls.forbid_mutations = True
    before = snapshots()

    answer = invoke(deployed, {"action": "plan"})

    figures = answer["kinds"]["ebs-snapshot"]
    assert (answer["status"], answer["dry_run"]) == ("planned", True)
    assert (figures["found"], figures["marked"], figures["acted"]) == (5, 3, 0)
    assert figures["skipped"] == {"in use": 1, "protected": 1}
    assert figures["marked_monthly_usd"] == answer["total_marked_monthly_usd"] > 0
    assert snapshots() == before
    objects = s3_objects()
    run_id = answer["run_id"]
    json_key = f"reports/{LATER:%Y/%m/%d}/{run_id}.json"
    assert answer["report"] == {"json": f"s3://{BUCKET}/{json_key}", "markdown": f"s3://{BUCKET}/{json_key[:-4]}md"}
    report = json.loads(objects[json_key])
    assert report["kinds"] == answer["kinds"]
    assert "Dry run: nothing was changed" in objects[json_key[:-4] + "md"].decode()
    [record] = deployed.audit_items()
    assert (record["action"]["S"], record["outcome"]["S"], record["dry_run"]["BOOL"]) == ("plan", "planned", True)
    assert record["pk"]["S"] == audit_partition("cleanup", f"cleanup/{ACCOUNT}/{REGION}/ebs-snapshot")
    [notice] = deployed.notifications()
    assert notice["Subject"].startswith("Deckhand cleanup: plan: 0 to act on ($0.00/month), 3 to mark")


def test_a_real_run_marks_first_then_acts_once_due_and_a_second_run_finds_nothing_new(
    deployed: Deployed, estate: dict[str, str], calls: Calls
) -> None:
    run = {"action": "run", "kinds": ["ebs-snapshot"], "dry_run": False}

    first = invoke(deployed, run)
    tags = snapshots()
    assert first["kinds"]["ebs-snapshot"]["marked"] == 3
    assert tags[estate["old-1"]]["deckhand:cleanup-after"] == f"{LATER.date() + timedelta(days=7)}"
    assert "deckhand:cleanup-after" not in tags[estate["protected"]]

    rt_later = replace(deployed.runtime, clock=lambda: LATER + timedelta(days=7))
    acted = handle(run, rt_later, config(), account=ACCOUNT, remaining_ms=lambda: 900_000)
    again = handle(run, rt_later, config(), account=ACCOUNT, remaining_ms=lambda: 900_000)

    assert acted["status"] == "done"
    assert acted["kinds"]["ebs-snapshot"]["acted"] == 3
    assert set(snapshots()) == {estate["protected"], estate["behind-ami"]}
    assert (again["kinds"]["ebs-snapshot"]["acted"], again["kinds"]["ebs-snapshot"]["marked"]) == (0, 0)


def test_injected_throttling_on_some_actions_still_ends_in_a_complete_truthful_report(
    deployed: Deployed, estate: dict[str, str], calls: Calls
) -> None:
    throttled = ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "slow down"}}, "DeleteSnapshot")
    calls.fail = {estate["old-2"]: throttled}

    answer = invoke(deployed, {"action": "run", "kinds": ["ebs-snapshot"], "dry_run": False}, config(grace_days=0))

    figures = answer["kinds"]["ebs-snapshot"]
    assert answer["status"] == "partial"
    assert (figures["acted"], figures["failed"]) == (2, 1)
    [failure] = answer["failures"]
    assert (failure["id"], failure["action"], failure["region"]) == (estate["old-2"], "delete", REGION)
    assert "RequestLimitExceeded" in failure["error"]
    assert set(snapshots()) == {estate["old-2"], estate["protected"], estate["behind-ami"]}
    markdown = s3_objects()[answer["report"]["markdown"].split(f"{BUCKET}/")[1]].decode()
    assert f"| ebs-snapshot | {REGION} | {estate['old-2']} | delete | ClientError" in markdown
    [record] = deployed.audit_items()
    after = json.loads(record["after"]["S"])
    assert (sorted(after["acted"]), after["failed"]) == (sorted([estate["old-1"], estate["old-3"]]), [estate["old-2"]])
    [notice] = deployed.notifications()
    assert "1 failed" in notice["Subject"]


def test_a_run_over_the_blast_radius_is_aborted_and_says_so(
    deployed: Deployed, estate: dict[str, str], calls: Calls
) -> None:
    answer = invoke(
        deployed, {"action": "run", "kinds": ["ebs-snapshot"], "dry_run": False}, config(grace_days=0, max_count=2)
    )

    assert answer["status"] == "partial"
    assert "would act on 3 of 5 found (60%), above the cap of 2" in answer["kinds"]["ebs-snapshot"]["aborted"]
    assert len(snapshots()) == 5
    assert ("ec2", "DeleteSnapshot") not in calls.count()


def test_a_run_stopped_by_the_deadline_is_resumed_first_and_nothing_is_acted_on_twice(
    deployed: Deployed, estate: dict[str, str], calls: Calls
) -> None:
    looks = iter([900_000])  # the scope starts, its first delete always goes, then the time has run out
    run = {"action": "run", "kinds": ["ebs-snapshot"], "dry_run": False}

    stopped = invoke(deployed, run, config(grace_days=0), remaining_ms=lambda: next(looks, 1_000))
    assert deployed.notifications() == []  # a stopped run notifies once it is finished
    resumed = invoke(deployed, {"action": "resume"}, config(grace_days=0))
    idle = invoke(deployed, {"action": "resume"}, config(grace_days=0))

    assert (stopped["status"], stopped["kinds"]["ebs-snapshot"]["acted"]) == ("stopped", 1)
    assert stopped["kinds"]["ebs-snapshot"]["pending"] == 2
    assert (resumed["status"], resumed["run_id"]) == ("done", stopped["run_id"])
    assert (resumed["kinds"]["ebs-snapshot"]["acted"], resumed["kinds"]["ebs-snapshot"]["found"]) == (3, 5)
    deletes = [params["SnapshotId"] for service, name, params in calls.made if name == "DeleteSnapshot"]
    assert sorted(deletes) == sorted(estate[name] for name in ("old-1", "old-2", "old-3"))
    assert idle["status"] == "idle"
    assert len(deployed.notifications()) == 1
    records = [item for item in deployed.audit_items() if "duty" in item]  # not the run's saved state
    assert sorted(record["outcome"]["S"] for record in records) == ["done", "stopped"]


def test_a_schedule_group_runs_its_kinds_with_the_policys_dry_run(
    deployed: Deployed, estate: dict[str, str], calls: Calls
) -> None:
    answer = invoke(deployed, {"trigger": "schedule", "group": "storage"})

    assert (answer["status"], answer["dry_run"], list(answer["kinds"])) == ("planned", True, ["ebs-snapshot"])


@pytest.mark.parametrize(
    ("event", "error"),
    [
        pytest.param(["plan"], "expected a JSON object", id="not an object"),
        pytest.param({"action": "clean"}, "action: got 'clean'", id="unknown action"),
        pytest.param({"action": "run", "dry_run": False}, "'run' needs 'kinds'", id="run without kinds"),
        pytest.param({"action": "run", "kinds": ["ami"], "dry_run": False}, "'ami' is not configured", id="kind"),
        pytest.param({"action": "run", "kinds": ["ebs-snapshots"]}, "kinds[0]: got 'ebs-snapshots'", id="typo"),
        pytest.param({"action": "plan", "dry_run": False}, "'plan' is always a dry run", id="plan for real"),
        pytest.param({"action": "plan", "regions": ["eu-west-1"]}, "'eu-west-1' is not one of", id="region"),
        pytest.param({"action": "run", "kinds": ["ebs-snapshot"], "dry_run": "false"}, "dry_run: got 'false'", id="s"),
        pytest.param({"trigger": "schedule", "group": "nightly"}, "not a cleanup.schedules group", id="group"),
        pytest.param({"action": "resume", "kinds": ["ebs-snapshot"]}, "'resume' takes no kinds", id="resume"),
        pytest.param({"action": "plan", "force": True}, "force: unknown key", id="unknown key"),
    ],
)
def test_a_bad_payload_is_rejected_with_a_clear_error_and_changes_nothing(
    deployed: Deployed, estate: dict[str, str], calls: Calls, event: Any, error: str
) -> None:
    before = snapshots()

    answer = invoke(deployed, event)

    assert answer["status"] == "rejected"
    assert any(error in problem for problem in answer["errors"]), answer["errors"]
    assert snapshots() == before
    assert (deployed.audit_items(), s3_objects(), deployed.notifications()) == ([], {}, [])


def test_a_pause_switch_stops_everything(deployed: Deployed, estate: dict[str, str], calls: Calls) -> None:
    pause = SwitchState(name="pause-cleanup", on=True, reason="quarter close", set_by="alice")
    boto3.client("ssm").put_parameter(
        Name=parameter_name(PATH, "pause-cleanup"), Value=json.dumps(pause.document()), Type="String", Overwrite=True
    )

    answer = invoke(deployed, {"action": "run", "kinds": ["ebs-snapshot"], "dry_run": False}, config(grace_days=0))

    assert answer == {"status": "paused", "switch": "pause-cleanup", "reason": "quarter close", "set_by": "alice"}
    assert len(snapshots()) == 5
    assert (deployed.audit_items(), s3_objects()) == ([], {})


def test_the_calls_of_a_real_run_stay_within_five_percent_of_list_pages_plus_deletes(
    deployed: Deployed, no_default_amis: None, calls: Calls
) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    ec2 = boto3.client("ec2", region_name=REGION)
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    for _ in range(300):
        ec2.create_snapshot(VolumeId=volume)
    calls.made.clear()

    # at the largest pace a policy may set, the 300 deletes need not wait 60 s for EC2's default 5 a second
    fast = config(grace_days=0, pacing={"per_second": 1000, "burst": 10_000})
    answer = invoke(deployed, {"action": "run", "kinds": ["ebs-snapshot"], "dry_run": False}, fast)

    made = calls.count()
    lists = made["ec2", "DescribeSnapshots"] + made["ec2", "DescribeImages"]
    assert made["ec2", "DeleteSnapshot"] == answer["kinds"]["ebs-snapshot"]["acted"] == 300
    assert sum(made.values()) <= 1.05 * (lists + 300), made


def test_audit_ids_are_cut_into_records_that_stay_far_below_the_item_limit() -> None:
    ids = {"acted": [f"snap-{n:017x}" for n in range(10_000)], "marked": ["snap-1"], "failed": []}

    pieces = list(id_chunks(ids))

    assert len(pieces) > 1
    assert all(len(to_json(piece)) < MAX_JSON_CHARS for piece in pieces)
    assert [id_ for piece in pieces for id_ in piece["acted"]] == ids["acted"]
    assert [id_ for piece in pieces for id_ in piece["marked"]] == ["snap-1"]
    assert AUDIT_IDS_CHARS < MAX_JSON_CHARS


def test_the_lambda_handler_reads_the_account_from_the_context_and_its_settings_from_the_environment(
    deployed: Deployed, estate: dict[str, str], calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = deployed.runtime.settings
    for name, value in {
        "DECKHAND_NAME_PREFIX": "deckhand",
        "DECKHAND_AUDIT_TABLE": settings.audit_table,
        "DECKHAND_TOPIC_ARN": settings.topic_arn,
        "DECKHAND_SWITCHES_PATH": settings.switches_path,
        "DECKHAND_DRY_RUN": "true",
        "DECKHAND_AUDIT_RETENTION_DAYS": "30",
        "DECKHAND_SWITCH_CACHE_SECONDS": "0",
        "DECKHAND_SWITCH_MAX_HOURS": "336",
        "DECKHAND_PROTECT_TAG": "deckhand:protect",
        "DECKHAND_CLEANUP": config().cleanup.model_dump_json(by_alias=True),
        "DECKHAND_CLEANUP_BUCKET": BUCKET,
        "DECKHAND_REGIONS": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for cached in (cleanup_flow.runtime, cleanup_flow.config):
        cached.cache_clear()
    from functions.shared.settings import settings as cached_settings

    cached_settings.cache_clear()

    class Context:
        function_name = "deckhand-cleanup"
        memory_limit_in_mb = 256
        invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:deckhand-cleanup"
        aws_request_id = "req-1"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 900_000

    try:
        answer = cleanup_handler.handler({"action": "plan"}, Context())  # type: ignore[arg-type]
    finally:
        for cached in (cleanup_flow.runtime, cleanup_flow.config, cached_settings):
            cached.cache_clear()

    assert answer["status"] == "planned"
    assert ("sts", "GetCallerIdentity") not in calls.count()
    assert deployed.audit_items()[0]["pk"]["S"] == audit_partition(
        "cleanup", f"cleanup/{ACCOUNT}/{REGION}/ebs-snapshot"
    )


def test_every_console_event_shipped_in_events_is_accepted_under_the_example_policy(
    deployed: Deployed, no_default_amis: None, calls: Calls
) -> None:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    policy = load_policy("deckhand.yaml")
    example = CleanupConfig.from_env(
        {
            "DECKHAND_CLEANUP": policy.cleanup.model_dump_json(by_alias=True),
            "DECKHAND_CLEANUP_BUCKET": BUCKET,
            "DECKHAND_REGIONS": ",".join(policy.regions),
        }
    )
    shipped = sorted(Path("events/cleanup").glob("*.json"))

    answers = {path.name: invoke(deployed, json.loads(path.read_text()), example) for path in shipped}

    assert len(shipped) >= 5
    assert {name: answer["status"] for name, answer in answers.items()} == {
        "plan-all.json": "planned",
        "plan-snapshots.json": "planned",
        "resume.json": "idle",
        "run-snapshots-and-volumes.json": "done",
        "schedule-storage.json": "planned",
    }
