"""Which alarms a mute rule silences now, read the way CloudWatch keeps them: in alarm mute rules.

DescribeAlarms says nothing of mutes (its model has no such field); CloudWatch keeps them in alarm mute
rules (ListAlarmMuteRules / GetAlarmMuteRule, botocore's cloudwatch model). A rule whose Status is ACTIVE
"is currently muting alarm actions" (GetAlarmMuteRule's documentation), so one ListAlarmMuteRules for the
ACTIVE rules and one GetAlarmMuteRule per active rule (for its targets and schedule) cover every alarm a
gate reads, however many.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from functions.shared.clients import client

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import AlarmMuteRuleSummaryTypeDef, GetAlarmMuteRuleOutputTypeDef

ONE_TIME = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2})\)$")
DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
MAX_DURATION = timedelta(days=15)  # PutAlarmMuteRule's documented maximum


@dataclass(frozen=True)
class Mute:
    rule: str  # the mute rule's ARN
    until: datetime  # when its current window ends, at the latest


def rule_name(arn: str) -> str:
    """arn:aws:cloudwatch:REGION:ACCOUNT:alarm-mute-rule:NAME -> NAME."""
    return arn.split(":alarm-mute-rule:", 1)[-1]


def duration_of(text: str) -> timedelta | None:
    found = DURATION.match(text)
    if found is None or not any(found.groups()):
        return None
    days, hours, minutes, seconds = (int(part or 0) for part in found.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def window_end(rule: GetAlarmMuteRuleOutputTypeDef, now: datetime) -> datetime:
    """When the active window ends: exact for a one-time `at(...)` window; for a recurring one, at most its
    Duration from now (the window began at most that long ago); never after the rule expires."""
    schedule = rule.get("Rule", {}).get("Schedule", {})
    length = duration_of(schedule.get("Duration", "")) or MAX_DURATION
    end = now + length
    once = ONE_TIME.match(schedule.get("Expression", ""))
    if once is not None:
        try:
            zone = ZoneInfo(schedule.get("Timezone") or "UTC")
            end = datetime.fromisoformat(once.group(1)).replace(tzinfo=zone).astimezone(UTC) + length
        except (ZoneInfoNotFoundError, ValueError, OverflowError):
            pass  # unreadable: the bound above stands
    expires = rule.get("ExpireDate")
    return min(end, expires) if expires is not None else end


def _active(alarm_name: str | None, cloudwatch: CloudWatchClient) -> Iterator[AlarmMuteRuleSummaryTypeDef]:
    token = ""
    while True:
        if alarm_name is not None and token:
            page = cloudwatch.list_alarm_mute_rules(AlarmName=alarm_name, Statuses=["ACTIVE"], NextToken=token)
        elif alarm_name is not None:
            page = cloudwatch.list_alarm_mute_rules(AlarmName=alarm_name, Statuses=["ACTIVE"])
        elif token:
            page = cloudwatch.list_alarm_mute_rules(Statuses=["ACTIVE"], NextToken=token)
        else:
            page = cloudwatch.list_alarm_mute_rules(Statuses=["ACTIVE"])
        yield from page.get("AlarmMuteRuleSummaries", [])
        token = page.get("NextToken", "")
        if not token:
            return


def active_mutes(
    alarms: Collection[str], now: datetime, region: str | None = None, role: str | None = None
) -> dict[str, Mute]:
    """The alarms of `alarms` an ACTIVE mute rule silences, each with the rule and when its window ends; in the
    function's own account and region, or in `region` through `role`."""
    if not alarms:
        return {}
    cloudwatch = client("cloudwatch", region, role)
    only = next(iter(alarms)) if len(alarms) == 1 else None
    muted: dict[str, Mute] = {}
    for summary in _active(only, cloudwatch):
        arn = summary.get("AlarmMuteRuleArn", "")
        if not arn:
            continue
        try:
            rule = cloudwatch.get_alarm_mute_rule(AlarmMuteRuleName=rule_name(arn))
        except cloudwatch.exceptions.ResourceNotFoundException:
            continue  # deleted between the two calls
        mute = Mute(rule=arn, until=window_end(rule, now))
        for name in rule.get("MuteTargets", {}).get("AlarmNames", []):
            if name in alarms and (name not in muted or muted[name].until < mute.until):
                muted[name] = mute
    return muted
