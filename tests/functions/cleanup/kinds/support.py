"""What the kind tests share: the scope, a moto account id, recorders of the AWS calls a kind makes (by
operation, and by the IAM action each needs), and a whole cycle of a kind checked against its permissions."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from functions.cleanup.kinds.base import Candidate, Kind, KindName, KindRule, Scope
from functions.shared import clients
from functions.shared.clients import client
from tests.support.aws import REGION

ACCOUNT = "123456789012"  # moto's default account


def scope(kind: KindName) -> Scope:
    return Scope(account=ACCOUNT, region=REGION, kind=kind)


@dataclass
class Calls:
    """Every call Deckhand's clients make: the operation names, counted, and each call's parameters."""

    made: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.made.append((model.name, params))

    def count(self) -> Counter[str]:
        return Counter(name for name, _ in self.made)

    def params(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.made if name == operation]

    def reset(self) -> None:
        self.made.clear()


def record_calls(*services: str) -> Calls:
    """Record the calls of Deckhand's cached clients (functions.shared.clients) for these services."""
    calls = Calls()
    for service in services:
        client(service, REGION).meta.events.register("provide-client-params", calls.record)
    return calls


def setup_client(service: str) -> Any:
    """A client for arranging the estate, apart from the ones whose calls are recorded."""
    return boto3.client(service, region_name=REGION)


def lambda_role() -> str:
    """The ARN of a role Lambda may assume, for the estate's functions."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return str(
        setup_client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    )


def handler_zip(returns: int) -> bytes:
    """A function's code: an app.py whose handler returns `returns`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", f"def handler(event, context):\n    return {returns}\n")
    return buffer.getvalue()


def python_function(name: str, returns: int, **more: Any) -> None:
    """A Python function (the estate's first: it makes the role) whose handler returns `returns`."""
    code = {"ZipFile": handler_zip(returns)}
    setup_client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=lambda_role(), Handler="app.handler", Code=code, **more
    )


# botocore operation -> IAM action, where the names differ (botocore's service name is the IAM prefix of
# every service Deckhand calls; for CloudWatch too, though it signs as "monitoring").
IAM_ACTIONS: dict[str, str] = {}


def iam_action(model: Any) -> str:
    """The IAM action a call needs: `service:Operation`, or the action IAM_ACTIONS names for it."""
    called = f"{model.service_model.service_name}:{model.name}"
    return IAM_ACTIONS.get(called, called)


@contextmanager
def iam_actions() -> Iterator[set[str]]:
    """The IAM actions of every call Deckhand's clients (functions.shared.clients) make inside the block.

    The hook is on the session, so the clients are made afresh inside; it sees calls botocore's Stubber answers.
    """
    made: set[str] = set()

    def record(model: Any, **_: Any) -> None:
        made.add(iam_action(model))

    clients.reset()
    session = clients._session()
    session.events.register("provide-client-params", record)
    try:
        yield made
    finally:
        session.events.unregister("provide-client-params", record)
        clients.reset()


def undeclared(kind: Kind, made: set[str]) -> set[str]:
    return made - kind.permissions.actions


def whole_cycle(kind: Kind, rule: KindRule, among: set[str] | None = None) -> None:
    """find, in_use, judge, mark (taggable kinds), then act on every candidate nothing uses (`among` these ids,
    when given), as a real run would, well after moto made the estate: it acts on something, and calls only IAM
    actions the kind declares."""
    the_scope, now = scope(kind.name), datetime.now(UTC) + timedelta(days=400)
    with iam_actions() as made:
        found = list(kind.find(the_scope, rule))
        used = kind.in_use(the_scope, rule, found)
        judged = kind.judge(found, rule, now)
        due = [
            r
            for r in found
            if isinstance(judged[r.id], Candidate) and r.id not in used and (among is None or r.id in among)
        ]
        if kind.taggable and due:
            kind.mark(the_scope, due, "deckhand:cleanup-after", f"{now:%Y-%m-%d}")
        for resource in due:
            candidate = judged[resource.id]
            assert isinstance(candidate, Candidate)
            kind.act(the_scope, resource, candidate, rule)
    assert due, f"a whole {kind.name} cycle acted on nothing"
    missing = undeclared(kind, made)
    assert not missing, f"{kind.name} calls {sorted(missing)}: declare them in its permissions"
