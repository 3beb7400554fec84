"""What every in-memory twin of an adapter that reaches member accounts shares: its own account and region, the
twins of the places it was sent to (`at`), and the roles whose AssumeRole is refused there."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

from functions.shared.members import Place
from tests.support.errors import client_error

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class PlacedTwin:
    principal: ClassVar[str]  # the hub role whose AssumeRole a denied place refuses, as AWS's message names it

    account: str = ACCOUNT
    region: str = REGION
    places: dict[tuple[str, str], Self] = field(default_factory=dict)  # (account, region) -> its twin
    reached: list[Place] = field(default_factory=list)  # every `at`, in order
    denied: set[str] = field(default_factory=set)  # roles whose AssumeRole is refused
    refusal: Exception | None = None  # raised by every call: this is a denied role's view

    def elsewhere(self, account: str, region: str = REGION) -> Self:
        """The twin of a member account and region, made on first use."""
        return self.places.setdefault((account, region), type(self)(account=account, region=region))

    def at(self, place: Place) -> Self:
        self.reached.append(place)
        if place.role in self.denied:
            message = f"User: {self.principal} is not authorized to perform: sts:AssumeRole on resource: {place.role}"
            refused = client_error("AccessDenied", "AssumeRole", message)
            return type(self)(account=place.account, region=place.region, refusal=refused)
        return self.elsewhere(place.account, place.region)
