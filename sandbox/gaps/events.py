"""EventBridge: moto's pattern matcher, and what a target receives of an event (Input, InputPath, InputTransformer)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.events.models import EventPattern, events_backends

from sandbox.gaps.cloudformation import CfnAttachment
from sandbox.gaps.common import JSON

JSON_PATH_STEP = re.compile(r"\.(?P<key>[^.\[]+)|\[(?P<index>\d+)\]|\[(?P<quote>['\"])(?P<quoted>.*?)(?P=quote)\]")
PLACEHOLDER = re.compile(r"<(?P<name>[A-Za-z0-9_.\-]+)>")
ENABLED = frozenset({"ENABLED", "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"})
_MISSING = object()


def event_matches(pattern: JSON | str, event: JSON) -> bool:
    """EventBridge pattern matching, as moto implements it; raises ValueError on an invalid pattern."""
    raw = pattern if isinstance(pattern, str) else json.dumps(pattern)
    try:
        return bool(EventPattern.load(raw).matches_event(event))  # type: ignore[arg-type]
    except Exception as error:
        if type(error).__name__ == "InvalidEventPatternException":
            raise ValueError(f"invalid event pattern: {raw}") from error
        raise


def target_payload(
    target: dict[str, Any],
    event: dict[str, Any],
    *,
    rule_name: str = "",
    rule_arn: str = "",
    ingestion_time: str | None = None,
) -> Any:
    """What EventBridge hands the target: Input, else InputPath, else InputTransformer, else the event."""
    if target.get("Input") is not None:
        return json.loads(target["Input"])
    if target.get("InputPath"):
        return json_path(event, target["InputPath"])
    transformer = target.get("InputTransformer")
    if transformer:
        # The user guide's "Predefined variables": aws.events.event is the original event "without the detail
        # field", aws.events.event.json the whole of it; ingestion-time is when EventBridge received the event (a
        # PutEvents entry's Time may say otherwise).
        values: dict[str, Any] = {
            "aws.events.rule-name": rule_name,
            "aws.events.rule-arn": rule_arn,
            "aws.events.event": {key: value for key, value in event.items() if key != "detail"},
            "aws.events.event.json": event,
            "aws.events.event.ingestion-time": ingestion_time or event.get("time"),
        }
        for name, path in (transformer.get("InputPathsMap") or {}).items():
            values[name] = json_path(event, path)
        return render_template(transformer["InputTemplate"], values)
    return event


def json_path(document: Any, path: str) -> Any:
    """The subset of JSONPath EventBridge accepts: `$`, `.key`, `['key']`, `[index]`; None when absent."""
    if not path.startswith("$"):
        raise ValueError(f"JSONPath must start with $: {path}")
    node = document
    position = 1
    while position < len(path):
        step = JSON_PATH_STEP.match(path, position)
        if step is None:
            raise ValueError(f"unsupported JSONPath: {path}")
        position = step.end()
        if step.group("index") is not None:
            index = int(step.group("index"))
            node = node[index] if isinstance(node, list) and index < len(node) else _MISSING
        else:
            key = step.group("key") if step.group("key") is not None else step.group("quoted")
            node = node.get(key, _MISSING) if isinstance(node, dict) else _MISSING
        if node is _MISSING:
            return None
    return node


def render_template(template: str, values: dict[str, Any]) -> Any:
    """Fill `<name>` placeholders the way an InputTransformer does.

    In a JSON template a value lands as JSON outside quotes and as bare text inside a string;
    a template that is not JSON gets the bare text everywhere and is delivered as a string.
    """
    is_json = template.strip()[:1] in ("{", "[", '"')
    parts = []
    in_string = False
    for kind, text in _tokens(template):
        if kind == "quote" and is_json:
            in_string = not in_string
            parts.append(text)
        elif kind == "placeholder" and text in values:
            value = values[text]
            if not is_json:
                parts.append(value if isinstance(value, str) else json.dumps(value))
            elif in_string:
                parts.append(json.dumps(value if isinstance(value, str) else json.dumps(value))[1:-1])
            else:
                parts.append(json.dumps(value))
        else:
            parts.append(f"<{text}>" if kind == "placeholder" else text)
    rendered = "".join(parts)
    if not is_json:
        return rendered
    try:
        return json.loads(rendered)
    except ValueError:
        return rendered


def _tokens(template: str) -> Iterator[tuple[str, str]]:
    position = 0
    while position < len(template):
        char = template[position]
        if char == "\\":
            yield "text", template[position : position + 2]
            position += 2
        elif char == '"':
            yield "quote", char
            position += 1
        elif (placeholder := PLACEHOLDER.match(template, position)) is not None:
            yield "placeholder", placeholder.group("name")
            position = placeholder.end()
        else:
            yield "text", char
            position += 1


class CfnEventBusPolicy(CfnAttachment, CloudFormationModel):
    """AWS::Events::EventBusPolicy, which moto's CloudFormation skips: without it the hub's default bus had no policy,
    and every member's forwarded event was refused. Its one statement (`Statement`, Sid set to `StatementId`) joins
    the bus's policy, and leaves it with the resource."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Events::EventBusPolicy"

    @classmethod
    def attach(cls, properties: JSON, account_id: str, region_name: str, *, removing: bool = False) -> None:
        if "Statement" not in properties:
            raise ValueError("the sandbox deploys an AWS::Events::EventBusPolicy by its Statement only")
        backend = events_backends[account_id][region_name]
        bus, sid = str(properties.get("EventBusName") or "default"), str(properties["StatementId"])
        if removing:
            backend.remove_permission(bus, sid, remove_all_permissions=False)
            return
        statement = {**properties["Statement"], "Sid": sid}
        policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        backend.put_permission(bus, action="", principal="", statement_id=sid, condition={}, policy=policy)
