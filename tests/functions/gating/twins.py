"""In-memory twins of gating's AWS adapters (observe.CloudWatch, pipeline.Pipelines): the flows run on them
without a server.

They answer as AWS does (test_cloudwatch_contract.py and test_pipelines_contract.py run the same assertions on
them and on the boto3 adapters against the sandbox's moto server): the same observations, sums, tokens, and the
same ClientError codes for the same misuse.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from functions.gating import mutes
from functions.gating.model import AlarmObservation, AlarmValue
from functions.gating.observe import MetricRequest

ACCOUNT = "123456789012"
REGION = "us-east-1"


def client_error(code: str, operation: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message or code}}, operation)


# --- CloudWatch ------------------------------------------------------------------------------------


@dataclass
class Alarm:
    state: AlarmValue = "OK"
    reason: str = ""
    updated: datetime = field(default_factory=lambda: datetime.now(UTC))
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class MuteRule:
    """A one-time mute window, as PutAlarmMuteRule's `at(...)` schedule with a Duration sets it."""

    alarms: list[str]
    began: datetime
    duration: timedelta


MetricKey = tuple[str, str, tuple[tuple[str, str], ...]]  # namespace, name, sorted dimensions


@dataclass
class MemoryCloudWatch:
    alarms_by_name: dict[str, Alarm] = field(default_factory=dict)
    mute_rules: dict[str, MuteRule] = field(default_factory=dict)
    datapoints: dict[MetricKey, list[tuple[datetime, float]]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)  # every read, in order

    # --- seeding ---

    def put(self, namespace: str, name: str, dimensions: Mapping[str, str], at: datetime, value: float) -> None:
        self.datapoints.setdefault((namespace, name, tuple(sorted(dimensions.items()))), []).append((at, value))

    # --- observe.CloudWatch ---

    def alarms(self, now: datetime, names: Sequence[str] = (), prefix: str = "") -> list[AlarmObservation]:
        self.asked.append("alarms")
        chosen = sorted(
            name
            for name in self.alarms_by_name
            if (not names or name in names) and (not prefix or name.startswith(prefix))
        )
        return [
            AlarmObservation(
                name=name,
                kind="metric",
                state=self.alarms_by_name[name].state,
                reason=self.alarms_by_name[name].reason,
                updated=self.alarms_by_name[name].updated,
            )
            for name in chosen
        ]

    def tagged_alarm_names(self, tags: Mapping[str, str]) -> list[str]:
        self.asked.append("tagged_alarm_names")
        return sorted(
            name for name, alarm in self.alarms_by_name.items() if all(alarm.tags.get(k) == v for k, v in tags.items())
        )

    def metric_data(self, request: MetricRequest) -> list[Mapping[str, Any]]:
        """Each query's datapoints summed into the periods that start at StartTime, as GetMetricData buckets them."""
        self.asked.append("metric_data")
        results: list[Mapping[str, Any]] = []
        for query in request.queries:
            stat = query["MetricStat"]
            metric = stat["Metric"]
            key = (
                metric["Namespace"],
                metric["MetricName"],
                tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))),
            )
            period = timedelta(seconds=stat["Period"])
            buckets: dict[datetime, list[float]] = {}
            for at, value in self.datapoints.get(key, []):
                if request.start <= at < request.end:
                    start = request.start + period * ((at - request.start) // period)
                    buckets.setdefault(start, []).append(value)
            if stat["Stat"] != "Sum":
                raise NotImplementedError(f"the twin sums; {stat['Stat']} is not modelled")
            moments = sorted(buckets, reverse=True)  # TimestampDescending, GetMetricData's default
            results.append({"Id": query["Id"], "Timestamps": moments, "Values": [sum(buckets[m]) for m in moments]})
        return results

    def active_mutes(self, alarms: Collection[str], now: datetime) -> dict[str, mutes.Mute]:
        self.asked.append("active_mutes")
        muted: dict[str, mutes.Mute] = {}
        for name, rule in sorted(self.mute_rules.items()):
            until = rule.began + rule.duration
            if not rule.began <= now < until:
                continue
            arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm-mute-rule:{name}"
            for alarm in rule.alarms:
                if alarm in alarms and (alarm not in muted or muted[alarm].until < until):
                    muted[alarm] = mutes.Mute(rule=arn, until=until)
        return muted
