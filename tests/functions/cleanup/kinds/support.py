"""What the kind tests share: the scope, a moto account id, and a recorder of the AWS calls a kind makes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3

from functions.cleanup.kinds.base import KindName, Scope
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
