"""The `capacity` section of the policy file: which targets Deckhand scales, within which bounds, and when."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from functions.shared.policy_base import NAME_PATTERN, NAME_RULE, Cron, Duty, Name, Placed, Section, TagKey
from functions.shared.times import ClockTime, TimeZone, Weekday

Kind = Literal["ecs-service", "asg", "scalable-target", "lambda-provisioned-concurrency"]
# The service namespaces of Application Auto Scaling.
Namespace = Literal[
    "appstream",
    "cassandra",
    "comprehend",
    "custom-resource",
    "dynamodb",
    "ec2",
    "ecs",
    "elasticache",
    "elasticmapreduce",
    "kafka",
    "lambda",
    "neptune",
    "rds",
    "sagemaker",
    "workspaces",
]
# Application Auto Scaling's scalable dimensions, as its service model lists them.
Dimension = Literal[
    "appstream:fleet:DesiredCapacity",
    "cassandra:table:ReadCapacityUnits",
    "cassandra:table:WriteCapacityUnits",
    "comprehend:document-classifier-endpoint:DesiredInferenceUnits",
    "comprehend:entity-recognizer-endpoint:DesiredInferenceUnits",
    "custom-resource:ResourceType:Property",
    "dynamodb:index:ReadCapacityUnits",
    "dynamodb:index:WriteCapacityUnits",
    "dynamodb:table:ReadCapacityUnits",
    "dynamodb:table:WriteCapacityUnits",
    "ec2:spot-fleet-request:TargetCapacity",
    "ecs:service:DesiredCount",
    "elasticache:cache-cluster:Nodes",
    "elasticache:replication-group:NodeGroups",
    "elasticache:replication-group:Replicas",
    "elasticmapreduce:instancegroup:InstanceCount",
    "kafka:broker-storage:VolumeSize",
    "lambda:function:ProvisionedConcurrency",
    "neptune:cluster:ReadReplicaCount",
    "rds:cluster:ReadReplicaCount",
    "sagemaker:inference-component:DesiredCopyCount",
    "sagemaker:variant:DesiredInstanceCount",
    "sagemaker:variant:DesiredProvisionedConcurrency",
    "workspaces:workspacespool:DesiredUserSessions",
]
WEEKDAYS: tuple[Weekday, ...] = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Count = Annotated[int, Field(ge=0, le=100_000)]

# The resource keys each kind needs; the others must stay unset.
RESOURCE_KEYS: dict[Kind, tuple[str, ...]] = {
    "ecs-service": ("cluster", "service"),
    "asg": ("group",),
    "scalable-target": ("namespace", "dimension", "resource_id"),
    "lambda-provisioned-concurrency": ("function", "qualifier"),
}
_ALL_RESOURCE_KEYS = ("cluster", "service", "group", "namespace", "dimension", "resource_id", "function", "qualifier")


def _dated(value: Any) -> Any:
    # YAML gives a date; the JSON round trip to the functions gives its ISO form.
    if isinstance(value, str):
        if not _ISO_DATE.fullmatch(value):
            raise ValueError("expected a date with its year, like 2026-12-25")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("expected a date with its year, like 2026-12-25") from None
    return value


DateWithYear = Annotated[date, BeforeValidator(_dated)]


class Profile(Section):
    """Named bounds, e.g. day, night, weekend; a profile whose max is 0 is a zero profile."""

    min: Count
    max: Count
    desired: Count | None = None  # where it applies: ASGs and raw capacity

    @model_validator(mode="after")
    def _ordered(self) -> Profile:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if self.desired is not None and not self.min <= self.desired <= self.max:
            raise ValueError(f"desired {self.desired} is outside min..max ({self.min}..{self.max})")
        return self

    @property
    def zero(self) -> bool:
        return self.max == 0


class Schedule(Section):
    """Apply a profile at a time of day (or an EventBridge Scheduler cron) in an IANA zone, except on listed dates."""

    profile: str
    at: ClockTime | None = None
    cron: Cron | None = None
    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    timezone: TimeZone = "UTC"
    except_dates: list[DateWithYear] = Field(default=[])  # holidays and exclusions

    @model_validator(mode="after")
    def _one_time(self) -> Schedule:
        if (self.at is None) == (self.cron is None):
            raise ValueError("give exactly one of at (a time like '08:00') or cron")
        return self


class FlapBudget(Section):
    max_changes: Annotated[int, Field(ge=1, le=100)] = 6
    window_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 60


class AlarmTriggers(Section):
    """An alarm going to ALARM steps the target out by `step`; back to OK steps it in toward its level."""

    scale_out: list[str] = Field(min_length=1)
    step: Annotated[int, Field(ge=1, le=10_000)] = 1
    scale_in_on_ok: bool = True


class Target(Placed):
    """A target in the hub's account and region, or in the member `account` and `region` it names."""

    name: Name
    kind: Kind
    cluster: str | None = None
    service: str | None = None
    group: str | None = None
    namespace: Namespace | None = None
    dimension: Dimension | None = None  # a scalable dimension like ecs:service:DesiredCount
    resource_id: str | None = None  # like service/my-cluster/my-service
    function: str | None = None
    qualifier: str | None = None  # an alias or version
    floor: Count
    ceiling: Count
    max_step: Annotated[int, Field(ge=1, le=10_000)] = 10
    cooldown_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 5
    flap: FlapBudget = Field(default_factory=FlapBudget)
    alarms: AlarmTriggers | None = None
    profiles: dict[str, Profile] = Field(default_factory=dict)
    schedules: list[Schedule] = Field(default=[])
    mute_at_zero: list[str] = Field(default=[])  # alarms muted while deliberately at zero
    opt_in: Literal["policy", "tag"] = "policy"  # tag: act only while the resource carries the opt-in tag

    @field_validator("profiles")
    @classmethod
    def _profile_names(cls, profiles: dict[str, Profile]) -> dict[str, Profile]:
        for name in profiles:
            if not re.fullmatch(NAME_PATTERN, name):
                raise ValueError(f"profile name {name!r}: expected {NAME_RULE}")
        return profiles

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        self._check_resource()
        if self.floor > self.ceiling:
            raise ValueError(f"floor {self.floor} is above ceiling {self.ceiling}")
        for name, profile in self.profiles.items():
            if profile.min < self.floor or profile.max > self.ceiling:
                raise ValueError(
                    f"profile {name!r} ({profile.min}..{profile.max}) is outside the hard bounds "
                    f"floor {self.floor}..ceiling {self.ceiling}"
                )
        for index, schedule in enumerate(self.schedules):
            if schedule.profile not in self.profiles:
                known = ", ".join(sorted(self.profiles)) or "none"
                raise ValueError(f"schedules[{index}] uses unknown profile {schedule.profile!r}; known: {known}")
        return self

    def _check_resource(self) -> None:
        needed = RESOURCE_KEYS[self.kind]
        missing = [key for key in needed if getattr(self, key) is None]
        if missing:
            raise ValueError(f"kind {self.kind} needs {', '.join(needed)}; missing {', '.join(missing)}")
        extra = [key for key in _ALL_RESOURCE_KEYS if key not in needed and getattr(self, key) is not None]
        if extra:
            raise ValueError(f"kind {self.kind} takes only {', '.join(needed)}; remove {', '.join(extra)}")
        if self.namespace and self.dimension and not self.dimension.startswith(f"{self.namespace}:"):
            raise ValueError(f"dimension {self.dimension!r} is not in namespace {self.namespace!r}")

    @property
    def zero_profiles(self) -> frozenset[str]:
        return frozenset(name for name, profile in self.profiles.items() if profile.zero)


class Capacity(Duty):
    opt_in_tag: TagKey = "deckhand:capacity"
    targets: list[Target] = Field(default=[])

    @model_validator(mode="after")
    def _unique_names(self) -> Capacity:
        seen: set[str] = set()
        for target in self.targets:
            if target.name in seen:
                raise ValueError(f"target {target.name!r} is listed twice; give each target its own name")
            seen.add(target.name)
        return self

    def target(self, name: str) -> Target | None:
        return next((t for t in self.targets if t.name == name), None)
