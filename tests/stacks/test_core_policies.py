"""The shared resource and identity policies, decided by AWS's evaluator (sandbox.iam.simulator) on the synthesized
template: what was refused before and is allowed now, and what was allowed before and is refused now.

Each old statement is kept here as it was deployed, so each test shows the exact request changing its answer.
"""

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk.assertions import Template

from functions.shared.audit import AuditRecord
from sandbox.iam.simulator import Policy, Simulation, Simulator
from stacks.app import policy_path
from stacks.core import Core
from stacks.policy import load_policy
from tests.support.template import role_statements

ACCOUNT, REGION = "123456789012", "us-east-1"
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:deckhand-notifications"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/deckhand-audit"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CLOUDWATCH, EVENTS = "cloudwatch.amazonaws.com", "events.amazonaws.com"


def alarm(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{name}"


def document(*statements: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


# --- the old statements, as deployed before the fix -------------------------------------------------------------

TLS_ONLY = {
    "Sid": "AllowPublishThroughSSLOnly",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "sns:Publish",
    "Resource": TOPIC,
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
OLD_TOPIC_POLICY = document(TLS_ONLY)
ACCOUNT_ROOT = {
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
OLD_KEY_POLICY = document(
    ACCOUNT_ROOT,
    {
        "Effect": "Allow",
        "Principal": {"Service": CLOUDWATCH},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
    },
)
OLD_RUNTIME_GRANT = Policy(
    "old-runtime",
    document(
        {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": TABLE},
        {"Effect": "Allow", "Action": "dynamodb:Query", "Resource": f"{TABLE}/index/by-duty"},
    ),
)
OLD_CLEANUP_STATE_GRANT = Policy(
    "old-cleanup-state",
    document(
        {
            "Effect": "Allow",
            "Action": ["dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
            "Resource": TABLE,
        }
    ),
)

# --- the template's policies with the sandbox account's values -------------------------------------------------


def concrete(value: Any, refs: Mapping[str, str]) -> Any:
    """`value` with every Ref, Fn::GetAtt and Fn::Join replaced by text: pseudo parameters, then `refs`.

    Text that tests.support.template already flattened (`${Logical.Arn}`) is resolved the same way. A resource
    these tests do not ask about becomes an ARN no request matches, so no template token reaches the
    evaluator, which would read `${...}` as a policy variable.
    """
    if isinstance(value, str):
        return re.sub(r"\$\{([^}]+)\}", lambda name: name_of(name[1], refs), value)
    if isinstance(value, list):
        return [concrete(item, refs) for item in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value or "Fn::GetAtt" in value:
        return name_of(value.get("Ref") or ".".join(value["Fn::GetAtt"]), refs)
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(concrete(part, refs) for part in parts)
    return {key: concrete(item, refs) for key, item in value.items()}


def name_of(name: str, refs: Mapping[str, str]) -> str:
    return PSEUDO.get(name) or refs.get(name) or f"arn:aws:unresolved:{REGION}:{ACCOUNT}:{name}"


def refs_of(template: Template) -> dict[str, str]:
    [topic] = template.find_resources("AWS::SNS::Topic")
    [table] = template.find_resources("AWS::DynamoDB::Table", {"Properties": {"TableName": "deckhand-audit"}})
    [key] = template.find_resources("AWS::KMS::Key")
    return {topic: TOPIC, f"{table}.Arn": TABLE, table: "deckhand-audit", f"{key}.Arn": KEY}


SIMULATOR = Simulator()


@pytest.fixture(scope="module", autouse=True)
def _simulator_process() -> Iterator[None]:
    yield
    SIMULATOR.close()


@pytest.fixture(scope="module")
def topic_policy(template: Template) -> dict[str, Any]:
    [policy] = template.find_resources("AWS::SNS::TopicPolicy").values()
    resolved: dict[str, Any] = concrete(policy["Properties"]["PolicyDocument"], refs_of(template))
    return resolved


@pytest.fixture(scope="module")
def key_policy(template: Template) -> dict[str, Any]:
    [key] = template.find_resources("AWS::KMS::Key").values()
    resolved: dict[str, Any] = concrete(key["Properties"]["KeyPolicy"], refs_of(template))
    return resolved


def delivery(principal: str, action: str, resource: str, source: str, **context: str) -> Simulation:
    """A service principal's request on behalf of `source` (IAM User Guide, aws:SourceArn and aws:SourceAccount)."""
    return Simulation(
        principal=principal,
        action=action,
        resource=resource,
        resource_account=ACCOUNT,
        context={
            "aws:SourceArn": source,
            "aws:SourceAccount": source.split(":")[4],
            "aws:SecureTransport": "true",
            **context,
        },
    )


def publish(source: str) -> Simulation:
    return delivery(CLOUDWATCH, "sns:Publish", TOPIC, source)


def under(policy: Mapping[str, Any], request: Simulation) -> bool:
    return SIMULATOR.evaluate(
        Simulation(**{**request.__dict__, "resource_policy": policy})  # the same request, another resource policy
    ).allowed


# --- 5. Error alarms reach the topic ----------------------------------------------------------------------------


def test_a_deckhand_alarm_was_refused_by_the_topic_and_now_publishes(topic_policy: dict[str, Any]) -> None:
    request = publish(alarm("deckhand-switches-errors"))
    assert not under(OLD_TOPIC_POLICY, request)
    assert under(topic_policy, request)
    assert under(topic_policy, publish(alarm("deckhand-capacity-dead-letters")))


@pytest.mark.parametrize(
    "source",
    [
        alarm("web-cpu-high"),  # the account's own alarm, not Deckhand's
        alarm("deckhand-switches-latency"),  # named like Deckhand's but not one of its kinds
        alarm("deckhand-switches-errors", account="210987654321"),  # another account's alarm
    ],
)
def test_an_alarm_that_is_not_deckhands_cannot_publish_or_use_the_key(
    topic_policy: dict[str, Any], key_policy: dict[str, Any], source: str
) -> None:
    assert not under(topic_policy, publish(source))
    assert not under(key_policy, delivery(CLOUDWATCH, "kms:GenerateDataKey", KEY, source))


def test_publishing_without_tls_is_still_denied(topic_policy: dict[str, Any]) -> None:
    request = publish(alarm("deckhand-switches-errors"))
    plain = Simulation(**{**request.__dict__, "context": {**request.context, "aws:SecureTransport": "false"}})
    assert not under(topic_policy, plain)


@pytest.mark.parametrize("action", ["kms:GenerateDataKey", "kms:Decrypt"])
def test_the_key_serves_deckhand_alarms_only_where_it_served_any_alarm(key_policy: dict[str, Any], action: str) -> None:
    deckhands, the_accounts = alarm("deckhand-gate-errors"), alarm("web-cpu-high")
    assert under(key_policy, delivery(CLOUDWATCH, action, KEY, deckhands))
    assert under(OLD_KEY_POLICY, delivery(CLOUDWATCH, action, KEY, the_accounts))
    assert not under(key_policy, delivery(CLOUDWATCH, action, KEY, the_accounts))


@pytest.mark.parametrize("action", ["kms:GenerateDataKey", "kms:Decrypt"])
def test_rules_reach_the_encrypted_dead_letter_queues_they_were_refused_before(
    key_policy: dict[str, Any], action: str
) -> None:
    request = delivery(EVENTS, action, KEY, f"arn:aws:events:{REGION}:{ACCOUNT}:rule/DeckhandSwitchesSweep1A2B3C")
    assert not under(OLD_KEY_POLICY, request)
    assert under(key_policy, request)
    elsewhere = delivery(EVENTS, action, KEY, f"arn:aws:events:{REGION}:210987654321:rule/DeckhandSwitchesSweep1A2B3C")
    assert not under(key_policy, elsewhere)


# --- 10. The audit cannot be rewritten --------------------------------------------------------------------------

ROLE_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/deckhand-role/deckhand-function"
AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def item_request(action: str, *partition_keys: str) -> Simulation:
    return Simulation(
        principal=ROLE_SESSION,
        action=action,
        resource=TABLE,
        resource_account=ACCOUNT,
        context={"dynamodb:LeadingKeys": list(partition_keys), "aws:SecureTransport": "true"},
    )


def allowed(policies: list[Policy], request: Simulation) -> bool:
    return SIMULATOR.evaluate(Simulation(**{**request.__dict__, "identity_policies": tuple(policies)})).allowed


def switches_record_key() -> str:
    """The partition key the switches function's AuditTrail.record writes."""
    record = AuditRecord(
        duty="switches",
        action="set-switch",
        subject="switch/freeze",
        outcome="changed",
        reason="r",
        dry_run=False,
        at=AT,
    )
    return str(record.item(30)["pk"]["S"])


@pytest.fixture(scope="module")
def switches_role(template: Template) -> list[Policy]:
    statements = concrete(role_statements(template, "deckhand-switches"), refs_of(template))
    return [Policy("deployed", document(*statements))]


def test_the_switches_function_still_writes_its_own_records(switches_role: list[Policy]) -> None:
    request = item_request("dynamodb:PutItem", switches_record_key())
    assert allowed([OLD_RUNTIME_GRANT], request)
    assert allowed(switches_role, request)


@pytest.mark.parametrize(
    "partition_key",
    [
        "audit/gating/pipeline/web-app/Deploy",  # another duty's record
        "switch/freeze",  # a record written the old way, with no duty in its key
        "capacity/orders",  # another duty's state
        "cleanup-run/unfinished",
    ],
)
def test_a_role_writes_no_other_partition_than_its_dutys_records(
    switches_role: list[Policy], partition_key: str
) -> None:
    request = item_request("dynamodb:PutItem", partition_key)
    assert allowed([OLD_RUNTIME_GRANT], request)
    assert not allowed(switches_role, request)


@pytest.mark.parametrize("action", ["dynamodb:DeleteItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"])
def test_a_role_can_neither_delete_nor_update_its_own_records(switches_role: list[Policy], action: str) -> None:
    assert not allowed(switches_role, item_request(action, switches_record_key()))


@pytest.fixture(scope="module")
def cleanup_state_grant() -> list[Policy]:
    """What the cleanup stack gets from grant_state for its marks and runs (the helper, synthesized on its own)."""
    app = App()
    stack = Stack(app, "Shared", env=Environment(region=REGION))
    core = Core(stack, "Core", policy=load_policy(policy_path(app)))
    role = iam.Role(stack, "Cleanup", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    core.grant_state(
        role,
        ["dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
        ["cleanup-mark/", "cleanup-run/"],
    )
    core.grant_audit(role, "cleanup")
    template = Template.from_stack(stack)
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    return [Policy("deployed", document(*concrete(statements, refs_of(template))))]


@pytest.mark.parametrize(
    ("action", "partition_key"),
    [
        ("dynamodb:DeleteItem", "audit/cleanup/cleanup/123456789012/us-east-1/ebs-snapshot"),
        ("dynamodb:BatchWriteItem", "audit/cleanup/cleanup/123456789012/us-east-1/ebs-snapshot"),
        ("dynamodb:PutItem", "audit/gating/pipeline/web-app/Deploy"),
        ("dynamodb:DeleteItem", "capacity/orders"),
    ],
)
def test_the_state_grant_cannot_touch_audit_records_or_other_state(
    cleanup_state_grant: list[Policy], action: str, partition_key: str
) -> None:
    request = item_request(action, partition_key)
    assert allowed([OLD_CLEANUP_STATE_GRANT], request)
    assert not allowed(cleanup_state_grant, request)


@pytest.mark.parametrize(
    ("action", "partition_keys"),
    [
        ("dynamodb:DeleteItem", ["cleanup-run/unfinished"]),
        ("dynamodb:BatchWriteItem", ["cleanup-mark/123456789012/us-east-1/ecr-image", "cleanup-run/abc"]),
        ("dynamodb:Query", ["cleanup-mark/123456789012/us-east-1/ecr-image"]),
        ("dynamodb:PutItem", ["audit/cleanup/cleanup/123456789012/us-east-1/ebs-snapshot"]),
    ],
)
def test_the_state_grant_allows_what_the_cleanup_code_does(
    cleanup_state_grant: list[Policy], action: str, partition_keys: list[str]
) -> None:
    assert allowed(cleanup_state_grant, item_request(action, *partition_keys))


def test_a_batch_mixing_state_and_an_audit_record_is_refused(cleanup_state_grant: list[Policy]) -> None:
    request = item_request("dynamodb:BatchWriteItem", "cleanup-run/abc", "audit/cleanup/x")
    assert not allowed(cleanup_state_grant, request)


@pytest.mark.parametrize("partition", ["audit/cleanup/", "audit", "a", "", "cleanup-mark", "cleanup-*/"])
def test_a_state_partition_that_could_reach_the_audit_records_fails_the_synth(partition: str) -> None:
    app = App()
    stack = Stack(app, "Shared", env=Environment(region=REGION))
    core = Core(stack, "Core", policy=load_policy(policy_path(app)))
    role = iam.Role(stack, "Any", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    with pytest.raises(ValueError, match="state partition"):
        core.grant_state(role, ["dynamodb:PutItem"], [partition])
