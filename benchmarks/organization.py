"""The organization bench (`python -m benchmarks org`): one real cleanup run fanned out over an organization.

A sandbox server runs in this process behind the bench's meter, with IAM enforced. The bench makes an AWS
Organizations organization in it (the sandbox's account its management account, the members in one unit), deploys
the real app with an organization policy (cdk synth, bootstrap, deploy of the hub stack, whose StackSet deploys the
member stack into every member and region), seeds clutter in each account-region from a seeded plan that says of
every resource whether a correct run removes it, marks it or keeps it (protected, too young, in use, marked and not
yet due), then starts one run as the console does (invoke the cleanup function; it starts the fan-out state machine)
and waits for the execution. It ends on the one `org:` line:

- `api_calls/lower_bound`: the AWS requests the run made (signed by Deckhand's roles: the hub functions', the state
  machine's and the member roles'; plus the console's one Invoke) over `lower_bound`'s minimum;
- `wrong`: resources removed or marked that the plan keeps (or removed where it marks, marked where it removes);
  `missed`: resources the plan removes or marks that the run left as they were;
- `max_mutating_rate_per_account_region`: the most mutating EC2 calls any member account-region received in any
  1-second window, beside the bound the policy's pacing sets (burst + rate x window, checked on every window);
- `transitions`: the state transitions of the execution and its Distributed Map's child executions, retries
  included, as Step Functions bills them; `est_cost_usd`: Step Functions' and Lambda's list prices for the run.

Every request waits `--latency-ms` (default 5 ms) before the server answers: lower than the cleanup bench's 20 ms,
because the run's requests are serial (the sandbox runs one Lambda handler at a time) and 100 accounts x 4 regions
would otherwise spend minutes asleep; it is the same for every request, so it does not change the ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from benchmarks.estate import MARK_TAG, PROTECT_TAG

PREFIX = "orgbench"  # its own stack and function names, apart from any other deployment in the same process
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1")
KINDS = ("ebs-volume", "elastic-ip")
DEFAULT_ACCOUNTS = 100
MIN_AGE_DAYS = 14  # ebs-volume's min_age_days in the bench policy
GRACE_DAYS = 7
PER_SECOND, BURST = 5.0, 50  # EC2's mutating bucket, the policy's pacing (functions/cleanup/policy.py Pacing)
UNIT = "bench-members"
COMMAND = {"action": "run", "kinds": list(KINDS), "dry_run": False}
EXECUTION_TIMEOUT_S = 1800  # 800 scopes one after another took 10 minutes on a loaded 2-core machine

Kind = Literal["ebs-volume", "elastic-ip"]
Mark = Literal["due", "pending", "none"]
Verdict = Literal["remove", "mark", "keep"]

# ----------------------------------------------------------------------------------------------------------------
# The plan: what is seeded, and what a correct run does with each resource. Pure, from a seed.

VOLUMES_PER_SCOPE = (0, 4)  # uniform in this range, per account-region
ADDRESSES_PER_SCOPE = (0, 3)
PROTECTED_SHARE = 0.1
IN_USE_SHARE = 0.15  # an attached volume, an associated address
YOUNG_SHARE = 0.15  # volumes younger than MIN_AGE_DAYS
DUE_SHARE, PENDING_SHARE = 0.4, 0.2  # marked and due, marked and not yet due; the rest unmarked


@dataclass(frozen=True)
class Clutter:
    """One seeded resource of member `account` (an index into the organization's members) in `region`."""

    index: int
    account: int
    region: str
    kind: Kind
    age_days: float  # volumes; never within a day of MIN_AGE_DAYS
    protected: bool
    in_use: bool
    mark: Mark
    mark_offset_days: int  # the mark's due date is today + offset (negative: due)

    @property
    def verdict(self) -> Verdict:
        """What a correct run does (functions/cleanup/decide.py's order, restated from the policy, not imported)."""
        if self.protected or self.in_use or (self.kind == "ebs-volume" and self.age_days < MIN_AGE_DAYS):
            return "keep"
        return {"due": "remove", "pending": "keep", "none": "mark"}[self.mark]  # type: ignore[return-value]

    def mark_value(self, today: date) -> str | None:
        return None if self.mark == "none" else (today + timedelta(days=self.mark_offset_days)).isoformat()


def plan(accounts: int, regions: Sequence[str], seed: int) -> list[Clutter]:
    rng = random.Random(seed)  # noqa: S311 (a reproducible estate, not a secret)
    specs: list[Clutter] = []
    for account in range(accounts):
        for region in regions:
            counts: list[tuple[Kind, tuple[int, int]]] = [
                ("ebs-volume", VOLUMES_PER_SCOPE),
                ("elastic-ip", ADDRESSES_PER_SCOPE),
            ]
            for kind, (low, high) in counts:
                for _ in range(rng.randint(low, high)):
                    roll = rng.random()
                    mark: Mark = (
                        "due" if roll < DUE_SHARE else "pending" if roll < DUE_SHARE + PENDING_SHARE else "none"
                    )
                    young = kind == "ebs-volume" and rng.random() < YOUNG_SHARE
                    specs.append(
                        Clutter(
                            index=len(specs),
                            account=account,
                            region=region,
                            kind=kind,
                            age_days=rng.randint(1, MIN_AGE_DAYS - 2) + 0.5
                            if young
                            else rng.randint(MIN_AGE_DAYS + 1, 365) + 0.5,
                            protected=rng.random() < PROTECTED_SHARE,
                            in_use=rng.random() < IN_USE_SHARE,
                            mark=mark,
                            mark_offset_days=-rng.randint(1, 20) if mark == "due" else rng.randint(1, 20),
                        )
                    )
    return specs


@dataclass(frozen=True)
class Bound:
    """The fewest AWS calls a correct run of the plan can make."""

    lists: int
    credentials: int
    marks: int
    removals: int

    @property
    def total(self) -> int:
        return self.lists + self.credentials + self.marks + self.removals


ORGANIZATIONS_PAGE = 20  # ListAccountsForParent's largest MaxResults (botocore's organizations model: 1-20)
VOLUMES_PAGE = 500  # DescribeVolumes' largest MaxResults (botocore's ec2 model: 5-500); DescribeAddresses has none
MARKS_PER_CALL = 1000  # CreateTags takes up to 1,000 resource ids (functions/cleanup/kinds/common.py tag_ec2)


def lower_bound(specs: Sequence[Clutter], accounts: int, regions: Sequence[str]) -> Bound:
    """The minimum calls of a correct run, whatever the engine:

    - lists: the members (ListAccountsForParent pages of the one unit, and one ListOrganizationalUnitsForParent to
      learn it has no child units); per account-region, the unattached volumes (DescribeVolumes pages) and the
      addresses (one DescribeAddresses: it is not paginated);
    - credentials: one AssumeRole of the member role per account (STS is global: one session serves its regions),
      and, where the account has something to remove, one of the member deleter, behind one of the hub deleter that
      alone may assume it (the marking and deleting identities stay separate);
    - marks: one CreateTags per account-region and kind with resources to mark (all due the same day);
    - removals: one DeleteVolume or ReleaseAddress per resource the plan removes.
    """
    by_scope: dict[tuple[int, str, str], Counter[Verdict]] = defaultdict(Counter)
    for spec in specs:
        by_scope[(spec.account, spec.region, spec.kind)][spec.verdict] += 1
    available = Counter((s.account, s.region) for s in specs if s.kind == "ebs-volume" and not s.in_use)
    lists = math.ceil(accounts / ORGANIZATIONS_PAGE) + 1
    lists += sum(max(1, math.ceil(available[(a, r)] / VOLUMES_PAGE)) + 1 for a in range(accounts) for r in regions)
    removing = {account for (account, _, _), verdicts in by_scope.items() if verdicts["remove"]}
    return Bound(
        lists=lists,
        credentials=accounts + len(removing) + (1 if removing else 0),
        marks=sum(math.ceil(v["mark"] / MARKS_PER_CALL) for v in by_scope.values()),
        removals=sum(v["remove"] for v in by_scope.values()),
    )


Observed = Literal["removed", "marked", "untouched"]


def judged(specs: Sequence[Clutter], observed: Mapping[int, Observed]) -> tuple[int, int]:
    """(wrong, missed): resources the run acted on otherwise than the plan says; resources the plan acts on that the
    run left untouched."""
    wanted = {"remove": "removed", "mark": "marked", "keep": "untouched"}
    wrong = sum(1 for s in specs if observed[s.index] != "untouched" and observed[s.index] != wanted[s.verdict])
    missed = sum(1 for s in specs if s.verdict != "keep" and observed[s.index] == "untouched")
    return wrong, missed


# ----------------------------------------------------------------------------------------------------------------
# The pace: what the pacing properties assert, measured on the calls the server received.


def busiest_second(instants: Sequence[float], window_s: float = 1.0) -> int:
    """The most instants any window of `window_s` holds (windows anywhere, not aligned to the clock)."""
    ordered = sorted(instants)
    most, start = 0, 0
    for end, instant in enumerate(ordered):
        while ordered[start] <= instant - window_s:
            start += 1
        most = max(most, end - start + 1)
    return most


def within_pace(instants: Sequence[float], per_second: float, burst: float) -> bool:
    """Whether no window holds more calls than `burst + per_second x` its length: the bucket's bound."""
    ordered = sorted(instants)
    return all(
        last - first + 1 <= burst + per_second * (ordered[last] - ordered[first]) + 1e-9  # float sums of 1/rate
        for first in range(len(ordered))
        for last in range(first, len(ordered))
    )


# ----------------------------------------------------------------------------------------------------------------
# The cost: AWS's public on-demand list prices (no free tier), us-east-1, as read on PRICES_READ.

PRICES_READ = date(2026, 12, 6)
# https://aws.amazon.com/step-functions/pricing/ : Standard workflows, $0.025 per 1,000 state transitions; "a state
# transition each time a step of your workflow is executed", retries included.
STATE_TRANSITION_USD = 0.025 / 1000
# https://aws.amazon.com/lambda/pricing/ : $0.20 per 1M requests; duration per GB-second, first tier (Arm: the first
# 7.5 billion GB-seconds a month; x86: the first 6 billion), duration rounded up to the next 1 ms.
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
GB_SECOND_USD = {"arm64": 0.0000133334, "x86_64": 0.0000166667}


@dataclass(frozen=True)
class Invocation:
    duration_ms: float
    memory_mb: int
    architecture: str  # arm64 or x86_64, as Lambda's configuration names it


def billed_ms(duration_ms: float) -> int:
    return max(1, math.ceil(duration_ms))


def cost_usd(transitions: int, invocations: Iterable[Invocation]) -> float:
    """Step Functions Standard's transitions plus Lambda's requests and billed GB-seconds (1 GB = 1024 MB, as
    Lambda's memory sizes are counted)."""
    lambda_usd = sum(
        LAMBDA_REQUEST_USD + billed_ms(i.duration_ms) / 1000 * i.memory_mb / 1024 * GB_SECOND_USD[i.architecture]
        for i in invocations
    )
    return transitions * STATE_TRANSITION_USD + lambda_usd


# ----------------------------------------------------------------------------------------------------------------
# The sandbox side: seeding and reading moto's backends in this process.


def seed(specs: Sequence[Clutter], members: Sequence[str], now: datetime) -> dict[int, str]:
    """Create every planned resource in its member account and region; plan index -> resource id. Through moto's
    backends in this process: thousands of resources in seconds rather than minutes of API calls."""
    from moto.ec2.models import ec2_backends

    from sandbox.gaps.control import backdate

    today = now.astimezone(UTC).date()
    ids: dict[int, str] = {}
    users: dict[tuple[str, str], tuple[str, str, Any]] = {}  # per account-region: a zone, an instance, an interface
    for spec in specs:
        account = members[spec.account]
        ec2: Any = ec2_backends[account][spec.region]
        if spec.in_use and (account, spec.region) not in users:
            subnet = next(iter(ec2.get_default_subnets().values()))
            zone = str(subnet.availability_zone)
            made = ec2.run_instances("ami-12c6146b", 1, None, [], placement=zone, is_instance_type_default=True)
            users[(account, spec.region)] = zone, made.instances[0].id, ec2.create_network_interface(subnet, [])
        tags = {"Name": f"org-bench-{spec.index}"}
        if spec.protected:
            tags[PROTECT_TAG] = "bench"
        mark = spec.mark_value(today)
        if mark is not None:
            tags[MARK_TAG] = mark
        user = users.get((account, spec.region)) if spec.in_use else None
        if spec.kind == "ebs-volume":
            zone = user[0] if user else f"{spec.region}a"
            volume = ec2.create_volume(size=8 + spec.index % 50, zone_name=zone, volume_type="gp3")
            resource_id = str(volume.id)
            ec2.create_tags([resource_id], tags)
            created = now - timedelta(days=spec.age_days)
            backdate("ec2", "volume", resource_id, created, account=account, region=spec.region)
            if user:
                ec2.attach_volume(resource_id, user[1], f"/dev/sd{chr(ord('f') + spec.index % 10)}")
        else:
            resource_id = str(ec2.allocate_address(domain="vpc").allocation_id)
            ec2.create_tags([resource_id], tags)
            if user:
                ec2.associate_address(eni=user[2], address=None, allocation_id=resource_id)
        ids[spec.index] = resource_id
    return ids


def observe(
    specs: Sequence[Clutter], members: Sequence[str], ids: Mapping[int, str], today: date
) -> dict[int, Observed]:
    """What the run did to each seeded resource: removed it, wrote a new mark on it, or neither."""
    from moto.ec2.models import ec2_backends

    found: dict[int, Observed] = {}
    for spec in specs:
        ec2 = ec2_backends[members[spec.account]][spec.region]
        resource_id = ids[spec.index]
        held = (
            resource_id in ec2.volumes
            if spec.kind == "ebs-volume"
            else any(a.allocation_id == resource_id for a in ec2.addresses)
        )
        tags = dict.get(ec2.tags, resource_id) or {}
        if not held:
            found[spec.index] = "removed"
        elif tags.get(MARK_TAG) != spec.mark_value(today):
            found[spec.index] = "marked"
        else:
            found[spec.index] = "untouched"
    return found


@dataclass(frozen=True)
class Sent:
    """One request the server received: when, signed by whom, in which account and region."""

    at: float
    admin: bool  # the sandbox's own keys: its plumbing and the bench's driver, not the run's calls
    account: str
    region: str
    service: str
    operation: str

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"


class Recorder:
    """WSGI middleware inside the bench's Meter (after its latency): every AWS request, while recording."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.sent: list[Sent] = []
        self.recording = False

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.recording:
            from sandbox.clients import DUMMY
            from sandbox.gaps.app import read_call
            from sandbox.iam.requests import CREDENTIAL

            call = read_call(environ)
            if call is not None:
                signed = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
                admin = signed is not None and signed.group("key") == DUMMY["AWS_ACCESS_KEY_ID"]
                sent = Sent(time.monotonic(), admin, call.account, call.region, call.service, call.operation)
                with self.lock:
                    self.sent.append(sent)
        return self.app(environ, start_response)

    @contextmanager
    def recorded(self) -> Iterator[list[Sent]]:
        """Record afresh for the block; the requests it received."""
        with self.lock:
            self.sent = []
            self.recording = True
        try:
            yield self.sent
        finally:
            self.recording = False


def run_calls(sent: Iterable[Sent]) -> list[Sent]:
    """The run's requests: those Deckhand's roles signed, and the console's Invoke that started it (the sandbox's
    admin keys otherwise sign only the sandbox's plumbing, playing AWS's services, and the bench's polling)."""
    return [s for s in sent if not s.admin or s.name == "lambda:Invoke"]


def mutating_by_scope(sent: Iterable[Sent], members: Iterable[str]) -> dict[tuple[str, str], list[float]]:
    """The instants of the mutating EC2 calls each member account-region received (what the policy's pacing governs:
    `functions.shared.pacing_hooks.mutating`, as the pacer tells them)."""
    from functions.shared.pacing_hooks import mutating

    wanted = set(members)
    found: dict[tuple[str, str], list[float]] = defaultdict(list)
    for s in sent:
        if s.service == "ec2" and s.account in wanted and mutating(s.operation):
            found[(s.account, s.region)].append(s.at)
    return found


def configured_functions(template: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    """Each function the deployed template makes: name -> (memory in MB, architecture), with Lambda's defaults (128 MB,
    x86_64) where the template sets none."""
    return {
        str(resource["Properties"]["FunctionName"]): (
            int(resource["Properties"].get("MemorySize", 128)),
            str((resource["Properties"].get("Architectures") or ["x86_64"])[0]),
        )
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "AWS::Lambda::Function"
        and isinstance(resource["Properties"].get("FunctionName"), str)
    }


def lambda_invocations(configured: Mapping[str, tuple[int, str]], since: datetime) -> list[Invocation]:
    """Each run of the hub's functions since `since`: its duration, as the sandbox's Lambda counted it in AWS/Lambda
    Duration, with the memory and architecture the function is deployed with."""
    from moto.cloudwatch.models import MetricDatum, cloudwatch_backends

    from sandbox import ACCOUNT, REGION

    found = []
    for datum in cloudwatch_backends[ACCOUNT][REGION].metric_data:
        if not (isinstance(datum, MetricDatum) and datum.namespace == "AWS/Lambda" and datum.name == "Duration"):
            continue
        if datum.timestamp.replace(tzinfo=UTC) < since:
            continue
        function = str(next(d.value for d in datum.dimensions if d.name == "FunctionName"))
        memory, architecture = configured[function]
        found.append(Invocation(float(datum.value), memory, architecture))
    return found


def make_organization(endpoint: str, count: int) -> tuple[str, str, list[str]]:
    """`count` new member accounts in a unit of their own, in the organization the sandbox's account manages (made
    if there is none: moto's backends are process-wide, and a test may have made one): (organization id, unit id,
    member account ids)."""
    from sandbox.clients import sandbox_client

    organizations = sandbox_client("organizations", endpoint)
    try:
        organization = organizations.describe_organization()["Organization"]["Id"]
    except organizations.exceptions.AWSOrganizationsNotInUseException:
        organization = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root = organizations.list_roots()["Roots"][0]["Id"]
    name = f"{UNIT}-{uuid.uuid4().hex[:8]}"
    unit = organizations.create_organizational_unit(ParentId=root, Name=name)["OrganizationalUnit"]["Id"]
    members = []
    for n in range(count):
        status = organizations.create_account(AccountName=f"{name}-{n:03d}", Email=f"{name}-{n:03d}@example.com")
        account = status["CreateAccountStatus"]["AccountId"]
        organizations.move_account(AccountId=account, SourceParentId=root, DestinationParentId=unit)
        members.append(account)
    return organization, unit, members


def bench_policy(organization: str, unit: str, regions: Sequence[str]) -> dict[str, Any]:
    """The policy deployed: the unit's accounts in `regions`, two kinds, a grace period (so runs mark), EC2's pace,
    no blast-radius cap (a scope's clutter is mostly removable), no final snapshot (one call per removal)."""
    return {
        "version": 1,
        "name_prefix": PREFIX,
        "regions": ["us-east-1"],
        "notifications": {"emails": ["ops@example.com"]},
        "defaults": {"dry_run": True, "protect_tag": PROTECT_TAG},
        "organization": {"id": organization, "accounts": [unit], "regions": list(regions)},
        "cleanup": {
            "enabled": True,
            "grace_days": GRACE_DAYS,
            "mark_tag": MARK_TAG,
            "pacing": {"per_second": PER_SECOND, "burst": BURST},
            "kinds": {
                "ebs-volume": {"min_age_days": MIN_AGE_DAYS, "final_snapshot": False, "max_share": 1.0},
                "elastic-ip": {"max_share": 1.0},
            },
        },
    }


@dataclass
class OrgRun:
    accounts: int
    regions: int
    specs: list[Clutter]
    bound: Bound
    scopes: int
    wall_s: float
    calls: Counter[str]
    all_requests: int
    observed: dict[int, Observed]
    mutating: dict[tuple[str, str], list[float]]
    transitions: int
    retries: int
    invocations: list[Invocation]
    status: str
    failed_accounts: list[Any]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def api_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def wrong(self) -> int:
        return judged(self.specs, self.observed)[0]

    @property
    def missed(self) -> int:
        return judged(self.specs, self.observed)[1]

    @property
    def max_rate(self) -> int:
        return max((busiest_second(instants) for instants in self.mutating.values()), default=0)

    @property
    def paced(self) -> bool:
        return all(within_pace(instants, PER_SECOND, BURST) for instants in self.mutating.values())

    @property
    def cost_usd(self) -> float:
        return cost_usd(self.transitions, self.invocations)


@contextmanager
def served(latency_s: float) -> Iterator[tuple[str, Any, Recorder]]:
    """The sandbox's app (IAM enforced) in a thread, behind the Meter (latency) and the Recorder, with the Powertools
    layer's public parameter the hub template reads: (endpoint, app, recorder). The app learns its URL here, as
    `sandbox.gaps.app.make_server` tells a bare app."""
    from benchmarks.server import Conditions, Meter
    from sandbox import ACCOUNT, REGION
    from sandbox.gaps import stepfunctions
    from sandbox.gaps.app import make_app, serving
    from sandbox.gaps.ssm import seed_powertools
    from stacks.versions import pinned_version

    app = make_app()
    seed_powertools(pinned_version("aws-lambda-powertools"), ACCOUNT, REGION)  # as sandbox.server does
    recorder = Recorder(app)
    meter = Meter(recorder)
    meter.start(Conditions(latency_s=latency_s))
    with serving(meter) as endpoint:
        app.store.functions.endpoint = endpoint
        stepfunctions.serving(app.store.states)
        yield endpoint, app, recorder


def deployed(
    endpoint: str, root: Path, policy: Path, while_building: Any, timings: dict[str, float]
) -> dict[str, tuple[int, str]]:
    """cdk synth (with the policy) and bootstrap side by side, `while_building()` meanwhile, then deploy the hub
    stack: its StackSet deploys the member stack into every member and region. The hub's functions, configured."""
    from sandbox import ACCOUNT, REGION
    from sandbox.cdk import HUB_STACK, POLICY_CONTEXT, start_cdk
    from sandbox.process import Paths

    paths = Paths(root)
    started = time.perf_counter()
    synth_args = ["synth", "--quiet", "--output", str(paths.assembly), "-c", f"{POLICY_CONTEXT}={policy}"]
    synth = start_cdk("synth", synth_args, endpoint, paths, False)
    bootstrap = start_cdk("bootstrap", ["bootstrap", f"aws://{ACCOUNT}/{REGION}"], endpoint, paths, False)
    while_building()
    timings["seed"] = time.perf_counter() - started
    bootstrap.finish()
    synth.finish()
    timings["synth+bootstrap"] = time.perf_counter() - started
    started = time.perf_counter()
    deploy = ["deploy", HUB_STACK, "--require-approval", "never", "--method=direct", "--no-previous-parameters"]
    start_cdk("deploy", [*deploy, "--app", str(paths.assembly)], endpoint, paths, False).finish()
    timings["deploy (StackSet included)"] = time.perf_counter() - started
    return configured_functions(json.loads((paths.assembly / f"{HUB_STACK}.template.json").read_text()))


def run(accounts: int, regions: Sequence[str], seed_value: int, latency_s: float) -> OrgRun:
    from benchmarks.cleanup import environment
    from sandbox.clients import sandbox_client

    specs = plan(accounts, regions, seed_value)
    timings: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-org-") as folder,
        environment({"MOTO_EC2_LOAD_DEFAULT_AMIS": "false", "DECKHAND_SANDBOX_DIR": folder}),  # the functions' code
        served(latency_s) as (endpoint, app, recorder),
    ):
        started = time.perf_counter()
        organization, unit, members = make_organization(endpoint, accounts)
        timings["organization"] = time.perf_counter() - started
        policy = Path(folder) / "organization.yaml"
        policy.write_text(json.dumps(bench_policy(organization, unit, regions), indent=2))  # JSON is YAML
        now = datetime.now(UTC)
        ids: dict[int, str] = {}
        functions = deployed(endpoint, Path(folder), policy, lambda: ids.update(seed(specs, members, now)), timings)
        waits = len(app.store.states.waits)
        since = datetime.now(UTC)
        with recorder.recorded() as sent:
            started = time.perf_counter()
            answer = json.loads(
                sandbox_client("lambda", endpoint)
                .invoke(FunctionName=f"{PREFIX}-cleanup", Payload=json.dumps(COMMAND).encode())["Payload"]
                .read()
            )
            if answer.get("status") != "started":
                raise RuntimeError(f"the cleanup function did not start the fan-out: {json.dumps(answer)[:2000]}")
            described = app.store.states.wait(answer["execution_arn"], timeout=EXECUTION_TIMEOUT_S)
            wall = time.perf_counter() - started
        output = json.loads(described.get("output") or "{}")
        retries = len(app.store.states.waits) - waits
        transitions = app.store.states.transitions(answer["execution_arn"])  # retries included, as billed
        mine = run_calls(sent)
        return OrgRun(
            accounts=accounts,
            regions=len(regions),
            specs=specs,
            bound=lower_bound(specs, accounts, regions),
            scopes=accounts * len(regions) * len(KINDS),
            wall_s=wall,
            calls=Counter(s.name for s in mine),
            all_requests=len(sent),
            observed=observe(specs, members, ids, now.date()),
            mutating=mutating_by_scope(mine, members),
            transitions=transitions,
            retries=retries,
            invocations=lambda_invocations(functions, since),
            status=str(described["status"]),
            failed_accounts=list(output.get("failed_accounts", [])),
            timings=timings,
        )


def report(result: OrgRun, latency_s: float) -> None:
    bound, sent = result.bound, result.calls
    print(
        f"organization cleanup: {result.accounts} member accounts x {result.regions} regions x {len(KINDS)} kinds, "
        f"{len(result.specs)} resources seeded, IAM enforced, {latency_s * 1000:.0f} ms latency per AWS request"
    )
    outcomes = Counter((spec.verdict, result.observed[spec.index]) for spec in result.specs)
    print(f"  {'the plan':<9} {'seeded':>7} {'removed':>8} {'marked':>7} {'untouched':>10}")
    for verdict in ("remove", "mark", "keep"):
        row = [outcomes[(verdict, seen)] for seen in ("removed", "marked", "untouched")]
        print(f"  {verdict:<9} {sum(row):7d} {row[0]:8d} {row[1]:7d} {row[2]:10d}")
    print("  setup: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items()))
    print(
        f"  execution {result.status}, {len(result.failed_accounts)} failed account(s); wall {result.wall_s:.1f} s "
        f"from the console's Invoke to the execution's end"
    )
    for failed in result.failed_accounts[:3]:
        print(f"    failed: {json.dumps(failed)[:300]}")
    print(
        f"  lower bound {bound.total} calls: {bound.lists} lists, {bound.credentials} AssumeRole, {bound.marks} "
        f"CreateTags marks, {bound.removals} removals; the run made {result.api_calls} "
        f"({result.all_requests - result.api_calls} more requests were the sandbox's own, playing AWS's services)"
    )
    for name, count in sent.most_common():
        print(f"    {count:6d} {name}")
    print(
        f"  mutating EC2 calls per member account-region: busiest 1-s window {result.max_rate}, configured "
        f"{BURST} + {PER_SECOND:g}/s (burst + rate x window: {BURST + PER_SECOND:g} in 1 s), every window within "
        f"it: {'yes' if result.paced else 'NO'}"
    )
    lambda_ms = sum(billed_ms(i.duration_ms) for i in result.invocations)
    architectures = ", ".join(sorted({i.architecture for i in result.invocations}))
    print(
        f"  {result.transitions} state transitions ({result.retries} of them retries), {len(result.invocations)} "
        f"Lambda invocations billed {lambda_ms / 1000:.1f} s: ${result.cost_usd:.4f} at list prices read "
        f"{PRICES_READ} (Step Functions Standard, Lambda {architectures}, us-east-1)"
    )


def final_line(result: OrgRun) -> str:
    return (
        f"org: accounts={result.accounts} regions={result.regions} scopes={result.scopes} wall_s={result.wall_s:.1f} "
        f"api_calls/lower_bound={result.api_calls / result.bound.total:.2f} wrong={result.wrong} "
        f"missed={result.missed} max_mutating_rate_per_account_region={result.max_rate} "
        f"transitions={result.transitions} est_cost_usd={result.cost_usd:.4f}"
    )


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks org", description=__doc__)
    parser.add_argument(
        "--accounts", type=int, default=int(os.environ.get("DECKHAND_BENCH_ACCOUNTS", DEFAULT_ACCOUNTS))
    )
    parser.add_argument("--regions", type=int, default=len(REGIONS), choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("DECKHAND_BENCH_SEED", "6")))
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=float(os.environ.get("DECKHAND_BENCH_ORG_LATENCY_MS", "5")),
        help="round-trip latency of every AWS request (default: $DECKHAND_BENCH_ORG_LATENCY_MS or %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> OrgRun:
    args = arguments(argv)
    started = time.perf_counter()
    result = run(args.accounts, REGIONS[: args.regions], args.seed, args.latency_ms / 1000)
    report(result, args.latency_ms / 1000)
    print(f"  (whole organization bench {time.perf_counter() - started:.0f} s)")
    print(final_line(result), flush=True)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
