"""What every cleanup kind provides, and the plain data a kind and the cleanup engine exchange.

A kind is a small module: an adapter that finds resources (its declared `Listing`: largest pages, server-side
filters), one that reads what keeps them in use, one that
acts on one resource, and pure code that says which found resources the kind itself would act on and
what each costs a month. The safety every kind
shares (protect tag, foreign owner, in use, minimum age, mark then grace period, blast-radius cap)
lives in the engine's pure decision, not in the kinds.

A kind also declares, next to its calls, the IAM statements they need (`statements`), as plain data the
stack renders for the policy's regions, mark tag and protect tag; and it registers itself (`register`), so
the policy's `kinds` mapping, the stack's grants and a run find it by its name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import Field, PlainValidator
from pydantic_core import PydanticCustomError

from functions.shared.policy_base import Section


def _registered(name: object) -> str:
    """A kind name that some kind registered, refused as a Literal of the names would be."""
    if isinstance(name, str) and name in KINDS:
        return name
    expected = [repr(known) for known in KINDS]
    raise PydanticCustomError(
        "literal_error",
        "Input should be {expected}",
        {"expected": f"{', '.join(expected[:-1])} or {expected[-1]}" if len(expected) > 1 else "".join(expected)},
    )


# The name of a registered kind, e.g. "ebs-snapshot" (the policy file's key for it).
KindName = Annotated[str, PlainValidator(_registered, json_schema_input_type=str)]


class KindRule(Section):
    """The policy of one kind; each kind subclasses it with its own settings."""

    enabled: bool = True
    min_age_days: Annotated[int, Field(ge=0, le=3650)] = 30  # younger resources are never acted on
    # Blast radius: the kind is aborted for the run when it would act on more than this share of what it
    # found in a scope (account and region), or on more than max_count resources.
    max_share: Annotated[float, Field(gt=0, le=1)] = 0.5
    max_count: Annotated[int, Field(ge=1, le=100_000)] = 500


@dataclass(frozen=True)
class Scope:
    """One unit of work: a kind in one account and region (what Step Functions would fan out)."""

    account: str
    region: str
    kind: KindName


@dataclass(frozen=True)
class Resource:
    """One found resource, in plain data. `created` is the service's own timestamp, in UTC."""

    kind: KindName
    id: str
    region: str
    created: datetime
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str | None = None  # the owning account, where the service says (snapshots, AMIs)
    name: str = ""  # what a person calls it in the report (Name tag, group name, repository:digest...)
    details: Mapping[str, Any] = field(default_factory=dict)  # kind-specific facts its judge and act read


@dataclass(frozen=True)
class Candidate:
    """The kind's own judgement of one resource: it would `action` it, saving `monthly_usd`."""

    action: str  # a verb for the report and the audit: delete, release, set-retention, ...
    monthly_usd: float
    why: str  # why the kind would act, e.g. "unattached for 40 days"


@dataclass(frozen=True)
class Excluded:
    """The kind's own reason to leave a resource alone (attached, within the last K, ...)."""

    why: str


Judgement = Candidate | Excluded


@dataclass(frozen=True)
class Permissions:
    """The IAM actions (`service:Action`) a kind's calls need: the stack grants exactly these, and the kind's
    tests check every call they see against them.

    `reads` list and describe; `writes` change something (the mark, the kind's action), so the stack grants
    each only on the kind's own resource types, with the mark and protect tag conditions where the service has them.
    """

    reads: frozenset[str]
    writes: frozenset[str]

    @classmethod
    def of(cls, *, reads: Iterable[str], writes: Iterable[str]) -> Permissions:
        return cls(reads=frozenset(reads), writes=frozenset(writes))

    def __post_init__(self) -> None:
        malformed = sorted(a for a in self.reads | self.writes if not re.fullmatch(r"[a-z0-9-]+:[A-Z][A-Za-z0-9]+", a))
        if malformed:
            raise ValueError(f"expected IAM actions written service:Action, got {', '.join(malformed)}")
        both = sorted(self.reads & self.writes)
        if both:
            raise ValueError(f"an action is either a read or a write, not both: {', '.join(both)}")

    @property
    def actions(self) -> frozenset[str]:
        return self.reads | self.writes


@dataclass(frozen=True)
class Listing:
    """What a kind lists, declared as Cloud Custodian's TypeInfo declares its enum_spec: a paginated operation (its
    botocore name) with fixed parameters (the server-side filters), the largest page it takes, and where the items
    are in a page (a JMESPath, as botocore's PageIterator.search reads it). The kinds' tests check each against
    botocore's service model, as the typed stubs check a call written out.

    `paginated` False: the operation has no paginator and answers everything in one call, the items under the key
    `items`. `parent`: the operation
    lists the children of one item of another listing (an ECR repository's images, a function's versions), as
    Custodian's ChildResourceManager does; `per_parent` names, for each parameter, the parent item's key that gives
    its value."""

    service: str
    operation: str
    items: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    page_size: int | None = None
    paginated: bool = True
    parent: Listing | None = None
    per_parent: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Arn:
    """A resource type's ARNs in every region the policy cleans: arn:partition:service:region:account:resource.

    `account` False for the types whose ARN has no account (EC2 snapshots and AMIs: Service Authorization
    Reference, Amazon EC2, resource types).
    """

    service: str
    resource: str  # e.g. "snapshot/*", "function:*:*"
    account: bool = True


class Guard(Enum):
    """A condition on the policy's own tags: the stack writes it from the mark tag, the protect tag (and its
    values) and the grace period, which a kind does not know."""

    NONE = "none"
    UNPROTECTED = "unprotected"  # the resource does not carry the protect tag
    MARKED = "marked"  # ... and carries the mark (unless there is no grace period, so no mark)
    ONLY_THE_MARK = "only the mark"  # tagging adds the mark tag only, and never to a protected resource


ConditionValue = str | Sequence[str] | Arn  # an Arn stands for its ARNs in every policy region


@dataclass(frozen=True)
class Statement:
    """One IAM statement a kind's calls need, on named resources (or `*`, under a service's condition key).

    `deleter`: it goes to the deleter role (removals and changes), not to the function's role (reads and marks).
    `why` says why its resources hold a wildcard, for cdk-nag's acknowledgement.
    """

    actions: tuple[str, ...]
    resources: tuple[Arn | str, ...]
    why: str
    guard: Guard = Guard.NONE
    conditions: Mapping[str, Mapping[str, ConditionValue]] = field(default_factory=dict)
    deleter: bool = False


class Kind(Protocol):
    name: KindName
    rule: type[KindRule]
    # True: a mark is a tag on the resource itself (read back by `find` in `Resource.tags`); False: the
    # service cannot tag this resource, so the engine keeps its marks in the state table.
    taggable: bool
    permissions: Permissions  # every IAM action its methods call, for the stack to grant
    listing: Listing  # what `find` lists

    def statements(self, rule: KindRule) -> Sequence[Statement]:
        """Every write it declares on the resources and under the conditions it may act (removals to the deleter
        role), and the reads IAM scopes by resource; its other reads go on `*`."""
        ...

    def find(self, scope: Scope, rule: KindRule) -> Iterable[Resource]:
        """Every resource of the kind in the scope, listed with the largest pages and server-side filters."""
        ...

    def in_use(self, scope: Scope, rule: KindRule, found: Sequence[Resource]) -> Mapping[str, str]:
        """Resource id -> what uses it (an AMI, an alias, a running task definition...), for the found ones."""
        ...

    def judge(self, found: Sequence[Resource], rule: KindRule, now: datetime) -> Mapping[str, Judgement]:
        """Pure: for every found resource, a Candidate or the kind's reason to exclude it."""
        ...

    def act(self, scope: Scope, resource: Resource, candidate: Candidate, rule: KindRule) -> None:
        """Carry out the candidate's action on one resource, for real (the engine never calls it in dry-run)."""
        ...

    def mark(self, scope: Scope, resources: Sequence[Resource], tag: str, value: str) -> None:
        """Tag the resources with the mark (taggable kinds only), batching as the API allows."""
        ...


# Every kind, by name, in the order the kinds package imports their modules (a run's order): import it from there.
KINDS: dict[str, Kind] = {}
K = TypeVar("K", bound=Kind)


def register(kind: K) -> K:
    """Make the kind known by its name: to the policy's `kinds` mapping, the stack's grants and a run."""
    if kind.name in KINDS:
        raise ValueError(f"two kinds are named {kind.name!r}")
    KINDS[kind.name] = kind
    return kind
