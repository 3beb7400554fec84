"""Amazon DynamoDB: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html

dynamodb:LeadingKeys is the partition key value of every item a call touches; TransactWriteItems has no
action of its own: each item is authorized as its own PutItem, UpdateItem, DeleteItem or
ConditionCheckItem, with dynamodb:EnclosingOperation (TRANSACT_SOURCE).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from moto.dynamodb.models import dynamodb_backends

from sandbox.iam.actions import kms
from sandbox.iam.actions.rows import MOTO_ERRORS, Also, Context, Row, Table, arn, pairs, resource_tags
from sandbox.iam.model import Call, IamRequest

TRANSACT_SOURCE = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html"
TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
# A table encrypted with a customer managed key: DynamoDB uses it with the caller's permissions.
TABLE_KEY = "https://docs.aws.amazon.com/kms/latest/developerguide/services-dynamodb.html"


def _table(call: Call) -> Any:
    try:
        return dynamodb_backends[call.account][call.region].get_table(call.params["TableName"])
    except MOTO_ERRORS:
        return None


def _partition_key(call: Call, table_name: str) -> str | None:
    try:
        found = dynamodb_backends[call.account][call.region].get_table(table_name)
    except MOTO_ERRORS:
        return None
    return str(found.hash_key_attr) or None


def _value(attribute: Mapping[str, Any]) -> str:
    """An attribute value as IAM compares it: its scalar, as a string."""
    return str(next(iter(attribute.values())))


def leading_keys(call: Call, table_name: str, items: Sequence[Mapping[str, Any]]) -> list[str]:
    name = _partition_key(call, table_name)
    return sorted({_value(item[name]) for item in items if name and name in item})


def tags(call: Call, resource: str) -> dict[str, str]:
    """The table's tags, on the table and on its indexes, which have none of their own."""
    name = resource.partition(":table/")[2].partition("/")[0]
    try:
        found = dynamodb_backends[call.account][call.region].get_table(name)
    except MOTO_ERRORS:
        return {}
    return resource_tags(pairs(found.tags))


def table(call: Call) -> Sequence[str]:
    name = call.params["TableName"]
    index = call.params.get("IndexName")
    return (arn(call, "dynamodb", f"table/{name}" + (f"/index/{index}" if index else "")),)


def options(call: Call) -> dict[str, str | Sequence[str]]:
    return {
        f"dynamodb:{key}": str(call.params[key])
        for key in ("ReturnValues", "Select", "ReturnConsumedCapacity")
        if key in call.params
    }


def item(call: Call, resource: str) -> Context:
    """PutItem: the item's partition key and attributes; GetItem, UpdateItem, DeleteItem: the key's."""
    written = call.params.get("Item")
    found = {
        "dynamodb:LeadingKeys": leading_keys(call, call.params["TableName"], [written or call.params["Key"]]),
        **options(call),
        **tags(call, resource),
    }
    if written:
        found["dynamodb:Attributes"] = sorted(written)
    return found


def query(call: Call, resource: str) -> Context:
    """The partition key value the key condition sets (`pk = :value`)."""
    name = _partition_key(call, call.params["TableName"])
    condition = str(call.params.get("KeyConditionExpression", ""))
    names = dict(call.params.get("ExpressionAttributeNames") or {})
    values = call.params.get("ExpressionAttributeValues") or {}
    keys = [
        _value(values[placeholder])
        for attribute, placeholder in re.findall(r"([#\w]+)\s*=\s*(:\w+)", condition)
        if names.get(attribute, attribute) == name and placeholder in values
    ]
    return {"dynamodb:LeadingKeys": keys, **options(call), **tags(call, resource)}


def batch_tables(call: Call) -> Sequence[str]:
    return [arn(call, "dynamodb", f"table/{name}") for name in call.params["RequestItems"]]


def batch_write(call: Call, resource: str) -> Context:
    """One request per table: its LeadingKeys every partition key value written or deleted there, its Attributes
    those of the items written, as for PutItem."""
    name = resource.rpartition("table/")[2]
    requests = call.params["RequestItems"][name]
    items = [r["PutRequest"]["Item"] if "PutRequest" in r else r["DeleteRequest"]["Key"] for r in requests]
    written = sorted({attribute for r in requests if "PutRequest" in r for attribute in r["PutRequest"]["Item"]})
    found = {"dynamodb:LeadingKeys": leading_keys(call, name, items), **options(call), **tags(call, resource)}
    if written:
        found["dynamodb:Attributes"] = written
    return found


def transact_items(call: Call) -> list[IamRequest]:
    found = []
    for entry in call.params["TransactItems"]:
        ((kind, request),) = entry.items()
        touched = request.get("Item") or request["Key"]
        on = arn(call, "dynamodb", f"table/{request['TableName']}")
        context = {
            "dynamodb:LeadingKeys": leading_keys(call, request["TableName"], [touched]),
            "dynamodb:EnclosingOperation": "TransactWriteItems",
            **tags(call, on),
        }
        found.append(IamRequest(f"dynamodb:{TRANSACT[kind]}", on, context))
    return found


def table_key(call: Call) -> Sequence[IamRequest]:
    found = _table(call) if "TableName" in call.params else None
    sse = (getattr(found, "sse_specification", None) or {}) if found else {}
    # Its encryption context names the table and the account (TABLE_KEY, "DynamoDB encryption context").
    encryption = {
        "aws:dynamodb:tableName": str(call.params.get("TableName")),
        "aws:dynamodb:subscriberId": call.account,
    }
    return kms.via(call, "dynamodb", sse.get("KMSMasterKeyId"), ("kms:Decrypt",), encryption)


ENCRYPTED = (Also(table_key, TABLE_KEY),)

TABLE: Table = {
    "GetItem": Row("dynamodb:GetItem", table, item, ENCRYPTED),
    "PutItem": Row("dynamodb:PutItem", table, item, ENCRYPTED),
    "UpdateItem": Row("dynamodb:UpdateItem", table, item, ENCRYPTED),
    "DeleteItem": Row("dynamodb:DeleteItem", table, item, ENCRYPTED),
    "Query": Row("dynamodb:Query", table, query, ENCRYPTED),
    "BatchWriteItem": Row("dynamodb:BatchWriteItem", batch_tables, batch_write),
    "TransactWriteItems": Row(None, also=(Also(transact_items, TRANSACT_SOURCE),)),
}
