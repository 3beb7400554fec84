"""The snapshot cleanup benchmark: Deckhand against Cloud Custodian on one seeded estate, in one run.

Seeds a moto server in this process with N snapshots (`plan.py`), runs Deckhand's cleanup function for real
in a child process, re-seeds the same estate and runs the equivalent Custodian policy, then prints a table
and ends with the one `bench:` line. The server counts every request and answers each after a round-trip
latency (`--latency-ms`, default 20, as a request to AWS within a region takes at least); with `--throttle`
it answers EC2 calls beyond token-bucket limits with RequestLimitExceeded, as EC2 does, Deckhand's policy paces its
mutating calls to the same bucket, and the bench ends with the `throttled:` line instead.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks import custodian, estate
from benchmarks.measured import Measured, measured
from benchmarks.plan import MIN_AGE_DAYS, Bound, SnapshotSpec, lower_bound, plan
from benchmarks.server import MODERATE, Conditions, Limits, Meter, Tally, serve
from sandbox import REGION

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SNAPSHOTS = 10_000
PREFIX = "deckhand"
SWITCHES = f"/{PREFIX}/switches"
BUCKET = f"{PREFIX}-cleanup-reports"
EVENT = {"action": "run", "kinds": ["ebs-snapshot"], "dry_run": False}
LIST_ACTIONS = frozenset({"ec2:DescribeSnapshots", "ec2:DescribeImages"})
DELETE_ACTIONS = frozenset({"ec2:DeleteSnapshot"})
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


@dataclass(frozen=True)
class Outcome:
    tool: str
    measured: Measured
    tally: Tally
    wrong: int
    missed: int
    note: str = ""

    def calls(self, actions: frozenset[str] | None = None) -> int:
        """Requests the server answered, for `actions` or (None) for every other action."""
        listed = LIST_ACTIONS | DELETE_ACTIONS
        return sum(n for name, n in self.tally.calls.items() if (name in actions if actions else name not in listed))

    @property
    def throttled_share(self) -> float:
        return sum(self.tally.throttled.values()) / max(1, self.tally.total)


def aws_environment(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, **FAKE_CREDENTIALS}


@contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def reset(endpoint: str) -> None:
    connection = http.client.HTTPConnection(urlsplit(endpoint).netloc, timeout=30)
    connection.request("POST", "/moto-api/reset")
    connection.getresponse().read()
    connection.close()


def deploy_function_resources(limits: Limits | None) -> dict[str, str]:
    """What the stack gives the cleanup function (audit table, topic, report bucket, switches); its environment.
    Under `limits`, the policy paces mutating calls to EC2's mutating bucket; without, as fast as it lets."""
    import boto3

    from functions.cleanup.config import BUCKET_VARIABLE, CLEANUP_VARIABLE, REGIONS_VARIABLE
    from functions.cleanup.policy import Cleanup
    from functions.shared import settings
    from functions.shared.switches import SWITCH_NAMES, SwitchState, parameter_name
    from tests.support.aws import make_audit_table

    table = make_audit_table(f"{PREFIX}-audit")
    topic = boto3.client("sns").create_topic(Name=f"{PREFIX}-notifications")["TopicArn"]
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    ssm = boto3.client("ssm")
    for name in SWITCH_NAMES:
        ssm.put_parameter(
            Name=parameter_name(SWITCHES, name), Value=json.dumps(SwitchState(name=name).document()), Type="String"
        )
    # The bench's own rule: the estate's minimum age, and no blast-radius cap (a bench deletes most of it).
    burst, per_second = limits.mutating if limits else (10_000, 1000)
    section = Cleanup.model_validate(
        {
            "enabled": True,
            "mark_tag": estate.MARK_TAG,
            "pacing": {"per_second": per_second, "burst": int(burst)},
            "kinds": {"ebs-snapshot": {"min_age_days": MIN_AGE_DAYS, "max_share": 1.0, "max_count": 100_000}},
        }
    )
    # As stacks/core.py's function_environment sets them (not imported: the CDK would start a Node process).
    return {
        settings.NAME_PREFIX_VARIABLE: PREFIX,
        settings.AUDIT_TABLE_VARIABLE: table,
        settings.TOPIC_ARN_VARIABLE: topic,
        settings.SWITCHES_PATH_VARIABLE: SWITCHES,
        settings.DRY_RUN_VARIABLE: "true",
        settings.AUDIT_RETENTION_DAYS_VARIABLE: "30",
        settings.SWITCH_CACHE_SECONDS_VARIABLE: "30",
        settings.SWITCH_MAX_HOURS_VARIABLE: "336",
        settings.PROTECT_TAG_VARIABLE: estate.PROTECT_TAG,
        "POWERTOOLS_METRICS_NAMESPACE": "Deckhand",
        "POWERTOOLS_SERVICE_NAME": "cleanup",
        CLEANUP_VARIABLE: section.model_dump_json(by_alias=True),
        BUCKET_VARIABLE: BUCKET,
        REGIONS_VARIABLE: REGION,
    }


def seeded(
    endpoint: str, specs: list[SnapshotSpec], limits: Limits | None
) -> tuple[set[str], set[str], dict[str, str]]:
    """Reset the server and seed the estate: (seeded ids, expected ids, the function's environment)."""
    reset(endpoint)
    with environment(aws_environment(endpoint)):
        function_env = deploy_function_resources(limits)
    ids = estate.seed(specs, datetime.now(UTC))
    return set(ids.values()), {ids[spec.index] for spec in specs if spec.qualifies}, function_env


def judged(
    tool: str, result: Measured, tally: Tally, *, seeded_ids: set[str], expected: set[str], note: str
) -> Outcome:
    left = estate.remaining_snapshots()
    return Outcome(tool, result, tally, len((seeded_ids - left) - expected), len(expected & left), note)


def run_deckhand(endpoint: str, meter: Meter, specs: list[SnapshotSpec], conditions: Conditions) -> Outcome:
    seeded_ids, expected, function_env = seeded(endpoint, specs, conditions.limits)
    # As in Lambda: the X-Ray SDK starts far faster when it sees a Lambda environment.
    lambda_env = {"AWS_LAMBDA_FUNCTION_NAME": "deckhand-cleanup", "LAMBDA_TASK_ROOT": str(REPO)}
    env = {**aws_environment(endpoint), **function_env, **lambda_env, "PYTHONPATH": str(REPO), "PATH": os.defpath}
    with tempfile.TemporaryDirectory(prefix="bench-deckhand-") as folder:
        out = Path(folder) / "answer.json"
        tally = meter.start(conditions)
        result = measured(sys.executable, "benchmarks.deckhand_run:main", [json.dumps(EVENT), str(out)], env, cwd=REPO)
        result.check("Deckhand's cleanup run")
        meter.start(None)
        ran = json.loads(out.read_text())
    answer = ran["answer"]
    if answer.get("status") not in ("done", "partial", "stopped"):
        raise RuntimeError(f"Deckhand's cleanup did not run: {json.dumps(answer)[:2000]}")
    kind = answer.get("kinds", {}).get("ebs-snapshot", {})
    note = (
        f"status {answer.get('status')}, acted {kind.get('acted')}, marked {kind.get('marked')}, "
        f"failed {len(answer.get('failures', []))}; import {ran['import_s']:.1f} s, handler {ran['run_s']:.1f} s"
    )
    return judged("Deckhand", result, tally, seeded_ids=seeded_ids, expected=expected, note=note)


def run_custodian(endpoint: str, meter: Meter, specs: list[SnapshotSpec], conditions: Conditions) -> Outcome:
    seeded_ids, expected, _ = seeded(endpoint, specs, conditions.limits)
    tally = meter.start(conditions)
    result, matched = custodian.run(aws_environment(endpoint), REGION)
    meter.start(None)
    note = f"c7n {custodian.VERSION}, matched {matched}"
    return judged("Custodian", result, tally, seeded_ids=seeded_ids, expected=expected, note=note)


def report(count: int, bound: Bound, conditions: Conditions, outcomes: list[Outcome]) -> None:
    print(f"snapshot cleanup, {count} snapshots seeded in moto (in-process, threaded), {conditions}")
    print(
        f"  lower bound {bound.total} calls: {bound.snapshot_pages} DescribeSnapshots + {bound.image_pages} "
        f"DescribeImages pages of 1000, {bound.deletes} DeleteSnapshot"
    )
    header = (
        f"  {'':<10} {'wall s':>7} {'list':>6} {'delete':>7} {'other':>6} {'calls':>6} {'/bound':>7} "
        f"{'throttled':>9} {'wrong':>6} {'missed':>6} {'peak MB':>8}"
    )
    print(header)
    for outcome in outcomes:
        print(
            f"  {outcome.tool:<10} {outcome.measured.wall_s:7.1f} {outcome.calls(LIST_ACTIONS):6d} "
            f"{outcome.calls(DELETE_ACTIONS):7d} {outcome.calls():6d} {outcome.tally.total:6d} "
            f"{outcome.tally.total / bound.total:7.3f} {sum(outcome.tally.throttled.values()):9d} "
            f"{outcome.wrong:6d} {outcome.missed:6d} {outcome.measured.peak_rss_mb:8.0f}"
        )
    for outcome in outcomes:
        others = ", ".join(f"{n} {name}" for name, n in sorted(outcome.tally.calls.items()) if n)
        print(f"  {outcome.tool}: {outcome.note}; calls: {others}")


def final_line(count: int, bound: Bound, deckhand: Outcome, custodian_run: Outcome) -> str:
    return (
        f"bench: n={count} wall_s={deckhand.measured.wall_s:.1f} "
        f"api_calls/lower_bound={deckhand.tally.total / bound.total:.3f} "
        f"throttled_share={deckhand.throttled_share:.3f} wrong={deckhand.wrong} missed={deckhand.missed} "
        f"peak_rss_mb={deckhand.measured.peak_rss_mb:.0f} "
        f"vs_custodian_wall={deckhand.measured.wall_s / custodian_run.measured.wall_s:.2f}"
    )


def limit_s(bound: Bound, limits: Limits) -> float:
    """The shortest wall EC2's buckets allow a run of the bound's calls: each bucket spends its capacity at once,
    then one call per refill; the buckets refill side by side."""
    mutating = max(0.0, bound.deletes - limits.mutating[0]) / limits.mutating[1]
    describe = max(0.0, bound.snapshot_pages + bound.image_pages - limits.describe[0]) / limits.describe[1]
    return max(mutating, describe)


def throttled_line(count: int, bound: Bound, limits: Limits, deckhand: Outcome, custodian_run: Outcome) -> str:
    wall = deckhand.measured.wall_s
    return (
        f"throttled: n={count} wall_s={wall:.1f} vs_limit={wall / limit_s(bound, limits):.2f} "
        f"vs_custodian_wall={wall / custodian_run.measured.wall_s:.2f} throttled_share={deckhand.throttled_share:.3f}"
    )


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cleanup", description=__doc__)
    parser.add_argument(
        "--snapshots",
        type=int,
        default=int(os.environ.get("DECKHAND_BENCH_SNAPSHOTS", DEFAULT_SNAPSHOTS)),
        help="snapshots to seed (default: $DECKHAND_BENCH_SNAPSHOTS or %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=int(os.environ.get("DECKHAND_BENCH_SEED", "6")))
    parser.add_argument(
        "--throttle",
        action="store_true",
        default=os.environ.get("DECKHAND_BENCH_THROTTLE", "") == "1",
        help=f"answer EC2 calls beyond token buckets with RequestLimitExceeded ({MODERATE})",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=float(os.environ.get("DECKHAND_BENCH_LATENCY_MS", "20")),
        help="round-trip latency of every AWS request (default: $DECKHAND_BENCH_LATENCY_MS or %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    specs = plan(args.snapshots, args.seed)
    conditions = Conditions(latency_s=args.latency_ms / 1000, limits=MODERATE if args.throttle else None)
    started = time.perf_counter()
    # moto would otherwise load hundreds of public AMIs (each with a snapshot) into every account it creates.
    with environment({"MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}), serve() as (endpoint, meter):
        deckhand = run_deckhand(endpoint, meter, specs, conditions)
        custodian_run = run_custodian(endpoint, meter, specs, conditions)
    bound = lower_bound(specs)
    report(args.snapshots, bound, conditions, [deckhand, custodian_run])
    print(f"  (whole cleanup bench {time.perf_counter() - started:.0f} s, seeding twice included)")
    if conditions.limits:
        print(f"  the buckets allow this estate {limit_s(bound, conditions.limits):.1f} s at best")
        print(throttled_line(args.snapshots, bound, conditions.limits, deckhand, custodian_run), flush=True)
    else:
        print(final_line(args.snapshots, bound, deckhand, custodian_run), flush=True)


if __name__ == "__main__":
    main()
