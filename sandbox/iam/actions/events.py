"""Amazon EventBridge: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html"""

from __future__ import annotations

from collections.abc import Sequence

from sandbox.iam.actions.rows import Also, Row, Table, arn
from sandbox.iam.model import Call, IamRequest


def bus_arn(call: Call, name_or_arn: str | None) -> str:
    """An entry's bus (its EventBusName, a name or an ARN); the default bus when it names none."""
    if name_or_arn and name_or_arn.startswith("arn:"):
        return name_or_arn
    return arn(call, "events", f"event-bus/{name_or_arn or 'default'}")


def put_events(call: Call) -> Sequence[IamRequest]:
    """One request per entry, on the entry's bus, with the entry's source and detail type: EventBridge authorizes
    each entry. In AWS an entry refused for its source or detail type fails alone (PutEventsResultEntry's
    NotAuthorizedForSourceException, NotAuthorizedForDetailTypeException); the sandbox's enforcer refuses the whole
    request on the first denied entry (AccessDeniedException)."""
    found: dict[tuple[str, str, str], IamRequest] = {}
    for entry in call.params["Entries"]:
        context = {
            key: str(entry[field])
            for key, field in (("events:source", "Source"), ("events:detail-type", "DetailType"))
            if entry.get(field)
        }
        resource = bus_arn(call, entry.get("EventBusName"))
        key = (resource, context.get("events:source", ""), context.get("events:detail-type", ""))
        found.setdefault(key, IamRequest("events:PutEvents", resource, context))
    return list(found.values())


ENTRIES = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-conditions.html"

TABLE: Table = {
    "PutEvents": Row(None, also=(Also(put_events, ENTRIES),)),
}
