"""Gather what one gate decides on, in as few AWS calls as the policy allows.

The flows see CloudWatch through the `CloudWatch` interface (alarms, alarm tags, metric data, mute rules):
`AwsCloudWatch` is boto3's (the functions'), the tests have an in-memory twin.

A gate with alarms by name, a window, the freeze switch and an error budget costs one
DescribeAlarms, one GetMetricData and the (cached) switch read: the window needs no call, every
metric the gate needs goes into one GetMetricData, and alarms selected by tag are resolved with one
GetResources and described together with the named ones. A check in mode "off" is not observed.

Alarms a selection places in a member account or region are read there (`CloudWatch.at`), through the gating member
role; a selection that cannot be read (no member role, AssumeRole denied, throttled) is unread, and the gate blocks
on it whatever `insufficient_data` says.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import ClientError

from functions.shared.clients import client
from functions.shared.clock import parse_cloudwatch_time
from functions.shared.members import Home, NotInOrganization, Place
from functions.shared.policy_base import Placed
from functions.shared.switches import SwitchBoard

from . import mutes, pipeline
from .model import AlarmObservation, AlarmValue, FreezeObservation, Observations
from .policy import AlarmCheck, Gate, Metric

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import (
        CompositeAlarmTypeDef,
        DescribeAlarmsInputTypeDef,
        DescribeAlarmsOutputTypeDef,
        GetMetricDataInputTypeDef,
        MetricAlarmTypeDef,
        MetricDataQueryTypeDef,
    )
    from mypy_boto3_resourcegroupstaggingapi.type_defs import GetResourcesInputTypeDef
    from mypy_boto3_sts import STSClient

NAMES_PER_CALL = 100  # DescribeAlarms takes at most 100 names
HOUR = 3600
BAKE_LOOKBACK = timedelta(days=14)  # one-minute data lives 15 days


# --- alarms -------------------------------------------------------------------------------------


def alarm_name(arn: str) -> str:
    """arn:aws:cloudwatch:region:account:alarm:NAME (a name may itself hold colons)."""
    return arn.split(":", 6)[6]


def _suppressed_until(raw: CompositeAlarmTypeDef, now: datetime) -> datetime | None:
    """When a composite alarm's actions suppression ends, if one holds now: such an alarm cannot vouch for health."""
    if raw.get("ActionsSuppressedBy") in ("Alarm", "ExtensionPeriod"):
        # Suppressed while the suppressor alarm is in ALARM, then for the extension period: a lower bound.
        return now + timedelta(seconds=raw.get("ActionsSuppressorExtensionPeriod", 0) + 60)
    return None


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        return parse_cloudwatch_time(value)
    return None


def to_alarm(
    raw: MetricAlarmTypeDef | CompositeAlarmTypeDef,
    kind: Literal["metric", "composite"],
    now: datetime,
    muted_until: datetime | None = None,
) -> AlarmObservation:
    """DescribeAlarms' view of one alarm (its model holds no mute: `with_mutes` adds the mute rules')."""
    state: AlarmValue = raw.get("StateValue", "INSUFFICIENT_DATA")
    return AlarmObservation(
        name=raw.get("AlarmName", ""),
        kind=kind,
        state=state,
        reason=raw.get("StateReason", ""),
        updated=_moment(raw.get("StateUpdatedTimestamp")) or now,
        muted_until=muted_until,
    )


def missing_alarm(name: str, now: datetime) -> AlarmObservation:
    """A named alarm that does not exist says nothing about health: insufficient data, with the reason why."""
    return AlarmObservation(
        name=name,
        kind="metric",
        state="INSUFFICIENT_DATA",
        reason="no such alarm: check the name in the policy's gating alarms",
        updated=now,
    )


def from_describe(response: DescribeAlarmsOutputTypeDef, now: datetime) -> list[AlarmObservation]:
    metric = [to_alarm(raw, "metric", now) for raw in response.get("MetricAlarms", [])]
    return metric + [
        to_alarm(raw, "composite", now, _suppressed_until(raw, now)) for raw in response.get("CompositeAlarms", [])
    ]


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def observe_alarms(check: AlarmCheck, now: datetime, cloudwatch: CloudWatch) -> tuple[AlarmObservation, ...]:
    names = list(dict.fromkeys([*check.names, *(cloudwatch.tagged_alarm_names(check.tags) if check.tags else [])]))
    found: dict[str, AlarmObservation] = {}
    for chunk in _chunks(names, NAMES_PER_CALL):
        found.update((alarm.name, alarm) for alarm in cloudwatch.alarms(now, names=chunk))
    for prefix in check.prefixes:
        found.update((alarm.name, alarm) for alarm in cloudwatch.alarms(now, prefix=prefix))
    missing = [missing_alarm(name, now) for name in check.names if name not in found]
    return (*with_mutes(found, now, cloudwatch).values(), *missing)


def placed_at(selection: Placed, home: Home) -> Place:
    """Where the selection's alarms live, and the role that reads them; raises NotInOrganization."""
    return home.place(selection.account, selection.region)


def read_alarms(
    check: AlarmCheck, path: str, now: datetime, cloudwatch: CloudWatch
) -> tuple[tuple[AlarmObservation, ...], str | None]:
    """The selected alarms, read where the selection places them (asking where the function runs only of a selection
    that names a place); or none and why they stay unread, naming where they were looked for and through which role:
    a same-named alarm elsewhere is not theirs, so the gate blocks."""
    if not check.placed:
        return observe_alarms(check, now, cloudwatch), None
    named = " and ".join(
        f"{key} {value}" for key, value in (("account", check.account), ("region", check.region)) if value
    )
    try:
        home = cloudwatch.home()
        place = placed_at(check, home)
    except (NotInOrganization, ClientError) as error:
        return (), f"{path} in {named} could not be read: {error}"
    try:
        return observe_alarms(check, now, cloudwatch if place == home.here else cloudwatch.at(place)), None
    except ClientError as error:
        through = place.role or "the function's own role"
        return (
            (),
            f"{path} in account {place.account} region {place.region} could not be read through {through}: {error}",
        )


def with_mutes(
    found: Mapping[str, AlarmObservation], now: datetime, cloudwatch: CloudWatch
) -> dict[str, AlarmObservation]:
    """The alarms, each muted until the later of its suppression's and its active mute rule's end."""
    observed = dict(found)
    for name, mute in cloudwatch.active_mutes(set(found), now).items():
        alarm = observed[name]
        until = max(mute.until, alarm.muted_until) if alarm.muted_until else mute.until
        observed[name] = replace(alarm, muted_until=until)
    return observed


def freeze_observation(board: SwitchBoard, now: datetime) -> FreezeObservation | None:
    state = board.freeze(now)
    if state is None:
        return None
    return FreezeObservation(reason=state.reason, expires_at=state.expires_at, set_by=state.set_by or "someone")


# --- metrics ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricRequest:
    """One GetMetricData call: its queries share StartTime and EndTime."""

    start: datetime
    end: datetime
    queries: tuple[MetricDataQueryTypeDef, ...]


@dataclass(frozen=True)
class MetricPlan:
    """The GetMetricData calls for every sum a gate needs: one, or two when the error budget reaches back
    more than 15 days.

    CloudWatch buckets each query from StartTime by its period, so a span is a whole number of every period
    and every window a whole number of its query's period: then each window's sum is exactly the sum of the
    buckets that start inside it. The burn windows share one period (their greatest common divisor). CloudWatch
    rounds StartTime down to the minute up to 15 days back, to 5 minutes up to 63 days, to the hour beyond
    (GetMetricData's StartTime documentation), so EndTime is floored to the same rounding. The burn windows and
    the bake count must end at the current minute: when the budget period reaches back further than 15 days,
    they go in a call of their own (`recent`), and the budget is summed by the hour in another (`budget`).
    """

    recent: MetricRequest | None = None  # burn windows and bake count, ending at the current minute
    budget: MetricRequest | None = None  # the error budget period, when it needs a coarser StartTime
    burn_windows: tuple[int, ...] = ()  # minutes
    budget_minutes: int | None = None
    bake_since: datetime | None = None

    @property
    def requests(self) -> tuple[MetricRequest, ...]:
        return tuple(request for request in (self.recent, self.budget) if request is not None)

    @property
    def queries(self) -> tuple[MetricDataQueryTypeDef, ...]:
        return tuple(query for request in self.requests for query in request.queries)

    @property
    def empty(self) -> bool:
        return not self.queries


@dataclass(frozen=True)
class MetricSums:
    errors_by_window: dict[int, float] = field(default_factory=dict)
    requests_by_window: dict[int, float] = field(default_factory=dict)
    budget_errors: float | None = None
    budget_requests: float | None = None
    bake_count: float | None = None


def _query(query_id: str, metric: Metric, period: int) -> MetricDataQueryTypeDef:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": metric.namespace,
                "MetricName": metric.name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(metric.dimensions.items())],
            },
            "Period": period,
            "Stat": metric.stat,
        },
        "ReturnData": True,
    }


def _floor(moment: datetime, seconds: int) -> datetime:
    epoch = math.floor(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def _start_rounding(span: int) -> int:
    """CloudWatch rounds StartTime down to 1 min under 15 days ago, 5 min under 63 days, else 1 hour."""
    return 60 if span <= 15 * 86400 else 300 if span <= 63 * 86400 else HOUR


def _request(queries: list[MetricDataQueryTypeDef], periods: list[int], needed: int, now: datetime) -> MetricRequest:
    """One call covering `needed` seconds back, a whole number of every period, ending where CloudWatch's
    rounding of StartTime for that span lets it."""
    unit = math.lcm(*periods)
    span = max(unit, math.ceil(needed / unit) * unit)
    end = _floor(now, _start_rounding(span))
    return MetricRequest(start=end - timedelta(seconds=span), end=end, queries=tuple(queries))


def plan_metrics(gate: Gate, now: datetime, bake_since: datetime | None) -> MetricPlan:
    recent: list[MetricDataQueryTypeDef] = []
    recent_periods: list[int] = [60]
    recent_needed = 0
    budget: list[MetricDataQueryTypeDef] = []
    budget_needed = 0
    burn: tuple[int, ...] = ()
    budget_minutes: int | None = None
    check = gate.error_budget
    if check is not None and check.mode != "off":
        burn = tuple(sorted({m for w in check.windows for m in (w.long_minutes, w.short_minutes)}))
        fine = 60 * math.gcd(*burn)
        budget_minutes = check.budget_days * 24 * 60
        recent_periods.append(fine)
        recent_needed = 60 * max(burn)
        recent += [_query("errors", check.errors, fine), _query("requests", check.requests, fine)]
        budget += [_query("budget_errors", check.errors, HOUR), _query("budget_requests", check.requests, HOUR)]
        budget_needed = 60 * budget_minutes
    bake = gate.bake
    count_metric = bake.count_metric if bake is not None and bake.mode != "off" else None
    if count_metric is not None and bake_since is not None:
        bake_since = max(bake_since, now - BAKE_LOOKBACK)
        recent_needed = max(recent_needed, int((now - bake_since).total_seconds()) + 60)
        recent.append(_query("bake", count_metric, 60))
    else:
        bake_since = None
    if not recent:
        return MetricPlan()
    together = _request(
        recent + budget, [*recent_periods, HOUR] if budget else recent_periods, max(recent_needed, budget_needed), now
    )
    if together.end == _floor(now, 60):  # one call whose windows all end at the current minute
        return MetricPlan(together, None, burn, budget_minutes, bake_since)
    return MetricPlan(
        recent=_request(recent, recent_periods, recent_needed, now),
        budget=_request(budget, [HOUR], budget_needed, now),
        burn_windows=burn,
        budget_minutes=budget_minutes,
        bake_since=bake_since,
    )


Series = Mapping[str, Sequence[tuple[datetime, float]]]


def _sum_since(points: Iterable[tuple[datetime, float]], since: datetime) -> float | None:
    """The sum of the buckets starting at or after `since`; None when there are none (no data)."""
    values = [value for moment, value in points if moment >= since]
    return float(sum(values)) if values else None


def fold(plan: MetricPlan, series: Series) -> MetricSums:
    errors: dict[int, float] = {}
    requests: dict[int, float] = {}
    if plan.recent is None:
        return MetricSums()
    for minutes in plan.burn_windows:
        since = plan.recent.end - timedelta(minutes=minutes)
        for into, query_id in ((errors, "errors"), (requests, "requests")):
            total = _sum_since(series.get(query_id, ()), since)
            if total is not None:
                into[minutes] = total
    budget_errors = budget_requests = None
    if plan.budget_minutes is not None:
        since = (plan.budget or plan.recent).end - timedelta(minutes=plan.budget_minutes)
        budget_errors = _sum_since(series.get("budget_errors", ()), since)
        budget_requests = _sum_since(series.get("budget_requests", ()), since)
    bake_count = None
    if plan.bake_since is not None:
        bake_count = _sum_since(series.get("bake", ()), plan.bake_since) or 0.0
    return MetricSums(errors, requests, budget_errors, budget_requests, bake_count)


def to_series(results: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[datetime, float]]]:
    series: dict[str, list[tuple[datetime, float]]] = {}
    for result in results:
        pairs = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
        points = [(moment, float(value)) for stamp, value in pairs if (moment := _moment(stamp)) is not None]
        series.setdefault(result["Id"], []).extend(points)
    return series


def observe_metrics(plan: MetricPlan, cloudwatch: CloudWatch) -> MetricSums:
    results = [result for call in plan.requests for result in cloudwatch.metric_data(call)]
    return fold(plan, to_series(results))


# --- one gate -----------------------------------------------------------------------------------


def bake_after(gate: Gate) -> str | None:
    """The stage whose success the bake check times from, when the check is on."""
    return gate.bake.after_stage if gate.bake is not None and gate.bake.mode != "off" else None


def gather(
    gate: Gate, board: SwitchBoard, now: datetime, cloudwatch: CloudWatch, pipelines: pipeline.Pipelines
) -> Observations:
    check = gate.alarms if gate.alarms is not None and gate.alarms.mode != "off" else None
    alarms, unread = (
        read_alarms(check, f"gate {gate.pipeline}/{gate.stage}: alarms", now, cloudwatch) if check else ((), None)
    )
    after = bake_after(gate)
    succeeded_at = pipeline.stage_succeeded_at(pipelines.pipeline_state(gate.pipeline), after) if after else None
    sums = observe_metrics(plan_metrics(gate, now, succeeded_at), cloudwatch)
    return Observations(
        alarms=alarms,
        alarms_unread=unread,
        freeze=freeze_observation(board, now) if gate.freeze.mode != "off" else None,
        previous_stage_succeeded_at=succeeded_at,
        bake_count=sums.bake_count,
        errors_by_window=sums.errors_by_window,
        requests_by_window=sums.requests_by_window,
        budget_errors=sums.budget_errors,
        budget_requests=sums.budget_requests,
    )


def summary(observations: Observations) -> dict[str, Any]:
    """What the decision saw, for the audit record (plain JSON, no credentials)."""
    execution = observations.execution
    return {
        "alarms_unread": observations.alarms_unread,
        "alarms": [
            {
                "name": a.name,
                "kind": a.kind,
                "state": a.state,
                "reason": a.reason[:300],
                "updated": a.updated.isoformat(),
                "muted_until": a.muted_until.isoformat() if a.muted_until else None,
            }
            for a in sorted(observations.alarms, key=lambda a: a.name)
        ],
        "freeze": (
            {
                "reason": observations.freeze.reason,
                "set_by": observations.freeze.set_by,
                "expires_at": observations.freeze.expires_at.isoformat() if observations.freeze.expires_at else None,
            }
            if observations.freeze
            else None
        ),
        "execution": (
            {"id": execution.id, "trigger": execution.trigger, "rollback": execution.rollback} if execution else None
        ),
        "previous_stage_succeeded_at": (
            observations.previous_stage_succeeded_at.isoformat() if observations.previous_stage_succeeded_at else None
        ),
        "bake_count": observations.bake_count,
        "errors_by_window": {str(k): v for k, v in sorted(observations.errors_by_window.items())},
        "requests_by_window": {str(k): v for k, v in sorted(observations.requests_by_window.items())},
        "budget_errors": observations.budget_errors,
        "budget_requests": observations.budget_requests,
    }


# --- the interface the gating flows use, and CloudWatch's -----------------------------------------


class CloudWatch(Protocol):
    """What the gating functions read of CloudWatch: alarms (by name or prefix, or by tag), metric data and the
    mute rules that silence alarms."""

    def alarms(self, now: datetime, names: Sequence[str] = (), prefix: str = "") -> list[AlarmObservation]: ...

    def tagged_alarm_names(self, tags: Mapping[str, str]) -> list[str]: ...

    def metric_data(self, request: MetricRequest) -> list[Mapping[str, Any]]: ...

    def active_mutes(self, alarms: Collection[str], now: datetime) -> dict[str, mutes.Mute]: ...

    def home(self) -> Home:
        """The partition, account and region of the function's own credentials."""
        ...

    def at(self, place: Place) -> CloudWatch:
        """CloudWatch in another account or region, read through `place.role`."""
        ...


class AwsCloudWatch:
    """CloudWatch through the shared boto3 clients, every page read: the function's own account and region, or
    `place`."""

    def __init__(self, place: Place | None = None) -> None:
        self.place = place

    @property
    def where(self) -> tuple[str | None, str | None]:
        """The region and role of the clients: the function's own (None, None), or the place's."""
        return (None, None) if self.place is None else (self.place.region, self.place.role)

    def at(self, place: Place) -> AwsCloudWatch:
        return AwsCloudWatch(place)

    def alarms(self, now: datetime, names: Sequence[str] = (), prefix: str = "") -> list[AlarmObservation]:
        """The alarms named (at most 100), or those whose name starts with `prefix`."""
        request: DescribeAlarmsInputTypeDef = {"AlarmTypes": ["MetricAlarm", "CompositeAlarm"], "MaxRecords": 100}
        if names:
            request["AlarmNames"] = list(names)
        if prefix:
            request["AlarmNamePrefix"] = prefix
        found: list[AlarmObservation] = []
        while True:
            response = client("cloudwatch", *self.where).describe_alarms(**request)
            found += from_describe(response, now)
            if not response.get("NextToken"):
                return found
            request["NextToken"] = response["NextToken"]

    def tagged_alarm_names(self, tags: Mapping[str, str]) -> list[str]:
        request: GetResourcesInputTypeDef = {
            "ResourceTypeFilters": ["cloudwatch:alarm"],
            "TagFilters": [{"Key": key, "Values": [value]} for key, value in sorted(tags.items())],
        }
        names: list[str] = []
        while True:
            response = client("resourcegroupstaggingapi", *self.where).get_resources(**request)
            names += [alarm_name(item["ResourceARN"]) for item in response.get("ResourceTagMappingList", [])]
            if not response.get("PaginationToken"):
                return names
            request["PaginationToken"] = response["PaginationToken"]

    def metric_data(self, request: MetricRequest) -> list[Mapping[str, Any]]:
        """GetMetricData's results for one request, every page."""
        call: GetMetricDataInputTypeDef = {
            "MetricDataQueries": list(request.queries),
            "StartTime": request.start,
            "EndTime": request.end,
        }
        results: list[Mapping[str, Any]] = []
        while True:
            response = client("cloudwatch", *self.where).get_metric_data(**call)
            results += response.get("MetricDataResults", [])
            if not response.get("NextToken"):
                return results
            call["NextToken"] = response["NextToken"]

    def active_mutes(self, alarms: Collection[str], now: datetime) -> dict[str, mutes.Mute]:
        return mutes.active_mutes(alarms, now, *self.where)

    def home(self) -> Home:
        partition, account = _identity_of(client("sts"))
        return Home(partition, account, os.environ.get("AWS_REGION", ""))


@cache
def _identity_of(sts: STSClient) -> tuple[str, str]:
    """The partition and account of the credentials of a client, asked once per client, so once per container
    (GetCallerIdentity needs no permission: STS API Reference), and again after `clients.reset()` moved them."""
    identity = sts.get_caller_identity()
    return identity["Arn"].split(":")[1], identity["Account"]


@dataclass(frozen=True)
class Adapters:
    """What a gating function reads and answers through: AWS's, or a test's twins."""

    cloudwatch: CloudWatch
    pipelines: pipeline.Pipelines

    @classmethod
    def of_aws(cls) -> Adapters:
        return cls(AwsCloudWatch(), pipeline.AwsPipelines())
