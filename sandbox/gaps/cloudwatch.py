"""CloudWatch gaps: composite alarms (moto stores them but does not route PutCompositeAlarm), alarm mute rules
(moto has none), AWS::CloudWatch::Alarm (moto's CloudFormation skips it), and what SetAlarmState does beyond
moto: the state change event on the default bus and the new state's SNS actions (moto does neither).
"""

from __future__ import annotations

import io
import json
import re
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from wsgiref.types import WSGIApplication
from zoneinfo import ZoneInfo

import botocore.session
from moto.cloudwatch.models import Alarm, cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from werkzeug.wrappers import Request, Response

from sandbox.gaps import deliver
from sandbox.gaps.bus import Bus
from sandbox.gaps.cloudformation import NamedModel
from sandbox.gaps.common import JSON, ApiError, caller, iso_z, utc_now
from sandbox.iam import deliveries
from sandbox.iam.model import Call

MuteRules = dict[tuple[str, str], dict[str, JSON]]  # (account, region) -> name -> the rule as put


def put_composite_alarm(request: Request, call: Call) -> Response:
    """moto stores composite alarms (a metric alarm with a rule) but does not route PutCompositeAlarm."""
    account, region = caller(request)
    body: JSON = json.loads(request.get_data() or b"{}")
    if not body.get("AlarmName") or not body.get("AlarmRule"):
        error = {"__type": "ValidationError", "message": "AlarmName and AlarmRule are required"}
        return Response(json.dumps(error), status=400, content_type="application/x-amz-json-1.0")
    arguments: JSON = dict.fromkeys(
        (
            "namespace",
            "metric_name",
            "metric_data_queries",
            "comparison_operator",
            "evaluation_periods",
            "datapoints_to_alarm",
            "period",
            "threshold",
            "statistic",
            "extended_statistic",
        )
    )
    arguments["description"] = body.get("AlarmDescription")
    cloudwatch_backends[account][region].put_metric_alarm(
        name=body["AlarmName"],
        dimensions=[],
        alarm_actions=body.get("AlarmActions", []),
        ok_actions=body.get("OKActions", []),
        insufficient_data_actions=body.get("InsufficientDataActions", []),
        actions_enabled=body.get("ActionsEnabled", True),
        rule=body["AlarmRule"],
        tags=body.get("Tags"),
        **arguments,
    )
    return Response("{}", content_type="application/x-amz-json-1.0")


# Alarm mute rules: shapes and statuses from botocore's cloudwatch model (PutAlarmMuteRule, GetAlarmMuteRule,
# ListAlarmMuteRules, DeleteAlarmMuteRule); DescribeAlarms shows no mute.

MUTE_RULE_OPERATIONS = ("PutAlarmMuteRule", "GetAlarmMuteRule", "ListAlarmMuteRules", "DeleteAlarmMuteRule")
MUTE_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2})\)$")
MUTE_CRON = re.compile(r"^cron\((\S+) (\S+) (\S+) (\S+) (\S+)\)$")
MUTE_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")
CRON_NAMES = {
    **{name: str(number) for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))},
    **{
        name: str(number)
        for number, name in enumerate(
            ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
        )
    },
}


def _cron_field_matches(field_text: str, value: int) -> bool:
    for written in field_text.upper().split(","):
        part = CRON_NAMES.get(written, written)
        if part == "*":
            return True
        low, _, high = part.partition("-")
        if low.isdigit() and int(CRON_NAMES.get(low, low)) <= value <= int(CRON_NAMES.get(high, high) if high else low):
            return True
    return False


def _mute_window(rule: JSON, now: datetime) -> tuple[datetime, datetime] | None:
    """The window of `rule` that covers `now` or comes next (a one-time one), None when none does."""
    schedule = rule["Rule"]["Schedule"]
    found = MUTE_DURATION.match(schedule["Duration"])
    if found is None:
        raise ApiError(
            "ValidationError", f"Duration {schedule['Duration']!r} is not an ISO 8601 duration from PT1M to P15D"
        )
    days, hours, minutes = (int(part or 0) for part in found.groups())
    length = timedelta(days=days, hours=hours, minutes=minutes)
    zone = ZoneInfo(schedule.get("Timezone") or "UTC")
    once = MUTE_AT.match(schedule["Expression"])
    if once is not None:
        begins = datetime.fromisoformat(once.group(1)).replace(tzinfo=zone).astimezone(UTC)
        return begins, begins + length
    cron = MUTE_CRON.match(schedule["Expression"])
    if cron is None:
        raise ApiError("ValidationError", f"Expression {schedule['Expression']!r} is neither cron(...) nor at(...)")
    minute = now.astimezone(zone).replace(second=0, microsecond=0)
    for back in range(int(length.total_seconds() // 60)):
        moment = minute - timedelta(minutes=back)
        fields = (moment.minute, moment.hour, moment.day, moment.month, (moment.weekday() + 1) % 7)
        if all(_cron_field_matches(text, value) for text, value in zip(cron.groups(), fields, strict=True)):
            return moment.astimezone(UTC), moment.astimezone(UTC) + length
    return None


def _mute_status(rule: JSON, now: datetime) -> str:
    expires = rule.get("ExpireDate")
    if expires is not None and now >= datetime.fromtimestamp(expires, UTC):
        return "EXPIRED"
    starts = rule.get("StartDate")
    window = _mute_window(rule, now)
    if (starts is None or now >= datetime.fromtimestamp(starts, UTC)) and window and window[0] <= now < window[1]:
        return "ACTIVE"
    if MUTE_AT.match(rule["Rule"]["Schedule"]["Expression"]) and window and now >= window[1]:
        return "EXPIRED"
    return "SCHEDULED"


def mute_rules(stored: MuteRules, request: Request, call: Call) -> Response:
    """A mute rule operation (the caller holds the store's lock)."""
    operation = call.operation
    account, region = caller(request)
    body: JSON = json.loads(request.get_data() or b"{}")
    rules = stored.setdefault((account, region), {})
    now = utc_now()
    try:
        if operation == "PutAlarmMuteRule":
            rule: JSON = {
                key: body[key]
                for key in ("Name", "Description", "Rule", "MuteTargets", "StartDate", "ExpireDate")
                if key in body
            }
            rule["AlarmMuteRuleArn"] = f"arn:aws:cloudwatch:{region}:{account}:alarm-mute-rule:{body['Name']}"
            rule["LastUpdatedTimestamp"] = now.timestamp()
            _mute_status(rule, now)  # refuses a schedule CloudWatch would refuse
            rules[body["Name"]] = rule
            result: JSON = {}
        elif operation == "GetAlarmMuteRule":
            found = rules.get(body.get("AlarmMuteRuleName", ""))
            if found is None:
                raise ApiError(
                    "ResourceNotFoundException", f"Alarm mute rule {body.get('AlarmMuteRuleName')} not found"
                )
            result = {**found, "Status": _mute_status(found, now), "MuteType": "ALARM"}
        elif operation == "ListAlarmMuteRules":
            wanted = set(body.get("Statuses") or ("SCHEDULED", "ACTIVE", "EXPIRED"))
            alarm = body.get("AlarmName")
            result = {
                "AlarmMuteRuleSummaries": [
                    {
                        "AlarmMuteRuleArn": rule["AlarmMuteRuleArn"],
                        "Status": status,
                        "MuteType": "ALARM",
                        "LastUpdatedTimestamp": rule["LastUpdatedTimestamp"],
                        **({"ExpireDate": rule["ExpireDate"]} if "ExpireDate" in rule else {}),
                    }
                    for rule in rules.values()
                    if (status := _mute_status(rule, now)) in wanted
                    and (alarm is None or alarm in rule.get("MuteTargets", {}).get("AlarmNames", []))
                ]
            }
        else:
            rules.pop(body.get("AlarmMuteRuleName", ""), None)
            result = {}
    except (KeyError, TypeError, ValueError) as error:
        return _json_error(ApiError("ValidationError", f"invalid request: {error!r}"))
    except ApiError as error:
        return _json_error(error)
    return Response(json.dumps(result), content_type="application/x-amz-json-1.0")


def _json_error(error: ApiError) -> Response:
    body = {"__type": error.code, "message": error.message}
    return Response(json.dumps(body), status=error.status, content_type="application/x-amz-json-1.0")


class CfnAlarm(NamedModel, CloudFormationModel):
    """AWS::CloudWatch::Alarm on one metric, put through moto's CloudWatch backend (a metric-math alarm keeps its
    actions and loses its math, which nothing in the sandbox evaluates)."""

    TYPE = "AWS::CloudWatch::Alarm"
    NAME_PROPERTY = "AlarmName"

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnAlarm:
        p = cloudformation_json["Properties"]

        def number(key: str) -> Any:
            return float(p[key]) if key in p else None

        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=resource_name,
            namespace=p.get("Namespace"),
            metric_name=p.get("MetricName"),
            comparison_operator=p["ComparisonOperator"],
            evaluation_periods=int(p["EvaluationPeriods"]),
            period=int(p.get("Period", 0)),  # a metric-math alarm's periods are in its Metrics
            threshold=number("Threshold"),
            statistic=p.get("Statistic"),
            description=p.get("AlarmDescription"),
            dimensions=p.get("Dimensions", []),
            alarm_actions=p.get("AlarmActions", []),
            ok_actions=p.get("OKActions", []),
            insufficient_data_actions=p.get("InsufficientDataActions", []),
            datapoints_to_alarm=int(p["DatapointsToAlarm"]) if "DatapointsToAlarm" in p else None,
            extended_statistic=p.get("ExtendedStatistic"),
            unit=p.get("Unit"),
            actions_enabled=str(p.get("ActionsEnabled", True)).lower() == "true",
            treat_missing_data=p.get("TreatMissingData"),
        )
        return cls(alarm.name, alarm.alarm_arn)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: CfnAlarm,
        new_resource_name: str,
        cloudformation_json: JSON,
        account_id: str,
        region_name: str,
    ) -> CfnAlarm:
        cloudwatch_backends[account_id][region_name].delete_alarms([original_resource.name])
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str
    ) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([resource_name])


def _describe_alarm(cloudwatch_client: Any, alarm_name: str) -> tuple[str, JSON]:
    found = cloudwatch_client.describe_alarms(AlarmNames=[alarm_name], AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    for kind in ("MetricAlarms", "CompositeAlarms"):
        for alarm in found.get(kind, []):
            if alarm["AlarmName"] == alarm_name:
                return kind, alarm
    raise LookupError(f"no alarm named {alarm_name}")


def _cloudwatch_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _metric_stat(metric: JSON, period: Any, stat: Any, unit: Any) -> JSON:
    body: JSON = {
        "metric": {
            "dimensions": {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])},
            "name": metric["MetricName"],
            "namespace": metric["Namespace"],
        },
        "period": period,
        "stat": stat,
    }
    if unit:
        body["unit"] = unit
    return body


def alarm_configuration(kind: str, alarm: JSON) -> JSON:
    config: JSON = {}
    if alarm.get("AlarmDescription"):
        config["description"] = alarm["AlarmDescription"]
    if kind == "CompositeAlarms":
        config["alarmRule"] = alarm["AlarmRule"]
        for source, target in (
            ("ActionsSuppressor", "actionsSuppressor"),
            ("ActionsSuppressorWaitPeriod", "actionsSuppressorWaitPeriod"),
            ("ActionsSuppressorExtensionPeriod", "actionsSuppressorExtensionPeriod"),
        ):
            if alarm.get(source) is not None:
                config[target] = alarm[source]
        return config
    metrics = []
    for query in alarm.get("Metrics") or []:
        item: JSON = {"id": query["Id"]}
        if "Expression" in query:
            item["expression"] = query["Expression"]
        else:
            stat = query["MetricStat"]
            item["metricStat"] = _metric_stat(stat["Metric"], stat["Period"], stat["Stat"], stat.get("Unit"))
        if query.get("Label"):
            item["label"] = query["Label"]
        item["returnData"] = query.get("ReturnData", True)
        metrics.append(item)
    if not metrics:
        metrics.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, alarm["AlarmArn"])),
                "metricStat": _metric_stat(
                    alarm,
                    alarm.get("Period"),
                    alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
                    alarm.get("Unit"),
                ),
                "returnData": True,
            }
        )
    config["metrics"] = metrics
    return config


def _alarm_state(value: str, reason: str, reason_data: str | None, moment: datetime) -> JSON:
    state: JSON = {"value": value, "reason": reason}
    if reason_data and reason_data != "{}":
        state["reasonData"] = reason_data
    state["timestamp"] = _cloudwatch_time(moment)
    return state


def alarm_state_change(
    cloudwatch_client: Any, alarm_name: str, state: str, reason: str, now: datetime, *, reason_data: str | None = None
) -> JSON:
    """Set an alarm's state in the sandbox and return the `CloudWatch Alarm State Change` event AWS would emit."""
    _, before = _describe_alarm(cloudwatch_client, alarm_name)
    request: JSON = {"AlarmName": alarm_name, "StateValue": state, "StateReason": reason}
    if reason_data is not None:
        request["StateReasonData"] = reason_data
    cloudwatch_client.set_alarm_state(**request)
    kind, after = _describe_alarm(cloudwatch_client, alarm_name)
    return state_change_event(kind, before, after, now)


def state_change_event(kind: str, before: JSON, after: JSON, now: datetime) -> JSON:
    """The `CloudWatch Alarm State Change` event of an alarm going from `before` to `after` (DescribeAlarms shapes)."""
    arn = after["AlarmArn"]
    _, _, _, region, account, _ = arn.split(":", 5)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": account,
        "time": iso_z(now),
        "region": region,
        "resources": [arn],
        "detail": {
            "alarmName": after["AlarmName"],
            "state": _alarm_state(after["StateValue"], after.get("StateReason", ""), after.get("StateReasonData"), now),
            "previousState": _alarm_state(
                before["StateValue"],
                before.get("StateReason", ""),
                before.get("StateReasonData"),
                before["StateUpdatedTimestamp"],
            ),
            "configuration": alarm_configuration(kind, after),
        },
    }


# --- SetAlarmState from any client: the state change event on the default bus, the new state's SNS actions ---------

STATE_ROUTE = "/_sandbox/cloudwatch/alarm-state"  # POST SetAlarmState's request: `set_state`, for the scenarios
# The alarm's actions CloudWatch runs when it enters each state (DescribeAlarms fields).
ACTIONS_FOR_STATE = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}


def described(alarm: Alarm) -> tuple[str, JSON]:
    """(DescribeAlarms' list, the alarm as DescribeAlarms answers it) of a moto alarm: what the event is made of."""
    kind = "CompositeAlarms" if alarm.rule else "MetricAlarms"
    answer: JSON = {
        "AlarmName": alarm.name,
        "AlarmArn": alarm.alarm_arn,
        "AlarmDescription": alarm.description,
        "ActionsEnabled": alarm.actions_enabled,
        "AlarmActions": list(alarm.alarm_actions or []),
        "OKActions": list(alarm.ok_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "StateValue": alarm.state_value,
        "StateReason": alarm.state_reason,
        "StateReasonData": alarm.state_reason_data,
        "StateUpdatedTimestamp": _aware(alarm.state_updated_timestamp),
    }
    if alarm.rule:
        return kind, {**answer, "AlarmRule": alarm.rule}
    metric: JSON = {
        "MetricName": alarm.metric_name,
        "Namespace": alarm.namespace,
        "Dimensions": [{"Name": d.name, "Value": d.value} for d in alarm.dimensions],
        "Period": alarm.period,
        "Statistic": alarm.statistic,
        "ExtendedStatistic": alarm.extended_statistic,
        "Unit": alarm.unit,
    }
    queries = [_query(q) for q in alarm.metric_data_queries]
    return kind, {**answer, **({"Metrics": queries} if queries else metric)}


def _query(query: Any) -> JSON:
    found: JSON = {"Id": query.id, "ReturnData": query.return_data in (True, None, "true", "True")}
    if query.label:
        found["Label"] = query.label
    if query.expression:
        found["Expression"] = query.expression
    elif query.metric_stat is not None:
        stat = query.metric_stat
        found["MetricStat"] = {
            "Metric": {
                "MetricName": stat.metric.metric_name,
                "Namespace": stat.metric.namespace,
                "Dimensions": [{"Name": d.name, "Value": d.value} for d in stat.metric.dimensions],
            },
            "Period": int(stat.period),
            "Stat": stat.stat,
            **({"Unit": stat.unit} if stat.unit else {}),
        }
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def set_alarm_state(bus: Bus, muting: MuteRules, moto_app: WSGIApplication, request: Request, call: Call) -> Response:
    """SetAlarmState answered by moto (in the request's own protocol), then what CloudWatch does of a change."""
    account, region = caller(request)
    before = _alarm(account, region, str(call.params.get("AlarmName", "")))
    body = request.get_data()
    request.environ["wsgi.input"] = io.BytesIO(body)
    answer = Response.from_app(moto_app, request.environ, buffered=True)
    if answer.status_code == 200 and before is not None:
        changed(bus, muting, account, region, before)
    return answer


def set_state(bus: Bus, muting: MuteRules, account: str, region: str, request: JSON) -> JSON:
    """SetAlarmState's `request` (AlarmName, StateValue, StateReason) as the sandbox's own route makes it for a
    scenario: the event, and each delivery with the function's answer, as the scenario waits for them."""
    name = str(request["AlarmName"])
    before = _alarm(account, region, name)
    if before is None:
        raise ApiError("ResourceNotFound", f"no alarm named {name}", 404)
    backend = cloudwatch_backends[account][region]
    backend.set_alarm_state(name, str(request["StateReason"]), "{}", str(request["StateValue"]))
    return changed(bus, muting, account, region, before, wait=True)


def _alarm(account: str, region: str, name: str) -> tuple[str, JSON] | None:
    found = cloudwatch_backends[account][region].alarms.get(name)
    return described(found) if found is not None else None


def changed(
    bus: Bus, muting: MuteRules, account: str, region: str, before: tuple[str, JSON], *, wait: bool = False
) -> JSON:
    """What CloudWatch does once an alarm's state was set: on a change of state only (SetAlarmState: "When the
    updated state differs from the previous value, the action configured for the appropriate state is invoked";
    the user guide's "Alarm events and EventBridge": an event "whenever a CloudWatch alarm ... changes state"),
    the state change event on the default bus and the new state's SNS actions. An alarm an active mute rule targets
    still changes state, but "their configured actions (such as Amazon SNS notifications ...) are muted"
    (PutAlarmMuteRule, botocore's cloudwatch model); its event says so in muteDetail (tests/events' sample)."""
    kind, after = described(cloudwatch_backends[account][region].alarms[before[1]["AlarmName"]])
    if after["StateValue"] == before[1]["StateValue"]:
        return {"event": None, "deliveries": [], "notified": []}
    now = utc_now()
    event = state_change_event(kind, before[1], after, now)
    mute = muted_by(muting, account, region, after["AlarmName"], now)
    if mute is not None:
        event["detail"]["muteDetail"] = mute
    routed = bus.put_and_wait(account=account, region=region, event=event) if wait else []
    if not wait:
        bus.put(account=account, region=region, event=event)
    notified = run_alarm_actions(bus, after, event) if mute is None else []
    return {"event": event, "deliveries": [asdict(d) for d in routed], "notified": notified}


def muted_by(muting: MuteRules, account: str, region: str, alarm_name: str, now: datetime) -> JSON | None:
    """The muteDetail of the active mute rule that targets the alarm now; None when none does."""
    for rule in list(muting.get((account, region), {}).values()):
        if alarm_name not in rule.get("MuteTargets", {}).get("AlarmNames", []) or _mute_status(rule, now) != "ACTIVE":
            continue
        window = _mute_window(rule, now)
        if window is not None:
            return {
                "mutedByArn": rule["AlarmMuteRuleArn"],
                "muteWindowStart": _cloudwatch_time(window[0]),
                "muteWindowEnd": _cloudwatch_time(window[1]),
            }
    return None


def run_alarm_actions(bus: Bus, alarm: JSON, event: JSON) -> list[str]:
    """Publish the alarm's notification to each topic its new state names, while its actions are enabled: the
    topics reached. CloudWatch publishes as its service principal, so the topic policy (and the key policy of an
    encrypted topic) must let it; a refused topic gets nothing, as in AWS, and the refusal is counted."""
    detail = event["detail"]
    state = detail["state"]["value"]
    if not alarm.get("ActionsEnabled", True):
        return []
    reached = []
    for topic in [a for a in alarm.get(ACTIONS_FOR_STATE[state], []) if a.startswith("arn:aws:sns:")]:
        checks = deliver.to_topic(deliveries.CLOUDWATCH, topic, deliveries.on_behalf_of(alarm["AlarmArn"]))
        delivery = deliveries.Delivery(kind="alarm → topic", source=alarm["AlarmArn"], target=topic, checks=checks)
        if deliver.authorized(bus.ledger, bus.simulator, delivery) is not None:
            continue
        deliver.publish(
            topic,
            alarm_notification(alarm, event),
            f'{state}: "{alarm["AlarmName"]}" in {region_name(event["region"])}'[:100],
        )
        reached.append(topic)
    return reached


def alarm_notification(alarm: JSON, event: JSON) -> str:
    """The JSON message CloudWatch publishes to an alarm action's topic."""
    detail = event["detail"]
    return json.dumps(
        {
            "AlarmName": alarm["AlarmName"],
            "AlarmDescription": alarm.get("AlarmDescription"),
            "AWSAccountId": event["account"],
            "NewStateValue": detail["state"]["value"],
            "NewStateReason": detail["state"].get("reason", ""),
            "StateChangeTime": detail["state"]["timestamp"],  # as CloudWatch writes it: 2017-01-12T16:30:42.236+0000
            "Region": region_name(event["region"]),
            "AlarmArn": alarm["AlarmArn"],
            "OldStateValue": detail["previousState"]["value"],
        }
    )


@cache
def region_name(region: str) -> str:
    """'US East (N. Virginia)': how CloudWatch names the region in a notification, from botocore's endpoint data."""
    for partition in botocore.session.get_session().get_data("endpoints")["partitions"]:
        if region in partition["regions"]:
            return str(partition["regions"][region]["description"])
    return region
