"""The bench's AWS: the sandbox's moto app in a thread, behind a meter that counts (and may throttle) calls.

Also fills two moto gaps the bench depends on: moto's DescribeSnapshots ignores OwnerIds, MaxResults and
NextToken and never lists snapshots other accounts share, so every caller would get one unbounded page; and
moto reads each EC2 resource's tags by scanning every tag in the region, which makes a page of 1,000
snapshots take over ten seconds at 10,000 snapshots (quadratic), so the bench would time moto, not the client.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any
from urllib.parse import parse_qs
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from moto.core.responses import ActionResult
from moto.ec2.exceptions import InvalidSnapshotIdError
from moto.ec2.models import ec2_backends
from moto.ec2.models.core import TaggedEC2Resource
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE, generic_filter, get_prefix

from sandbox.gaps.app import make_app, serving

HOST = "127.0.0.1"
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/(?P<service>[^/]+)/")
MUTATING = re.compile(r"^(Create|Delete|Modify|Register|Deregister|Copy|Reset|Attach|Detach)")


class TokenBucket:
    """`capacity` tokens, refilled at `rate` a second; a call that finds no token is refused."""

    def __init__(self, capacity: float, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.rate = rate
        self.clock = clock
        self.tokens = capacity
        self.updated = clock()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


@dataclass(frozen=True)
class Limits:
    """EC2's request token buckets (capacity, refill a second) per action family."""

    mutating: tuple[float, float]
    describe: tuple[float, float]

    def buckets(self) -> dict[str, TokenBucket]:
        return {"mutating": TokenBucket(*self.mutating), "describe": TokenBucket(*self.describe)}

    def __str__(self) -> str:
        return (
            f"EC2 mutating bucket {self.mutating[0]:.0f} + {self.mutating[1]:.0f}/s, "
            f"describe bucket {self.describe[0]:.0f} + {self.describe[1]:.0f}/s"
        )


# EC2's documented bucket sizes (mutating 50, non-mutating 100) with refill rates raised (from 5/s and 20/s)
# so that a 10,000-snapshot bench ends in minutes while still throttling any client that bursts.
MODERATE = Limits(mutating=(50, 100), describe=(100, 20))


@dataclass(frozen=True)
class Conditions:
    """How the bench's AWS answers: a round-trip latency on every AWS request, and EC2's rate limits if given.

    moto answers in well under a millisecond from one interpreter; AWS answers over a network, in tens of
    milliseconds. Without a latency, a benchmark measures moto's own serialization, the same for every
    client, and not how a client keeps calls in flight. The sleep happens outside the GIL, so requests
    in flight overlap as they would against AWS.
    """

    latency_s: float = 0.0
    limits: Limits | None = None

    def __str__(self) -> str:
        throttle = f"EC2 throttling on ({self.limits})" if self.limits else "EC2 throttling off"
        return f"{self.latency_s * 1000:.0f} ms latency per AWS request, {throttle}"


def action_of(environ: WSGIEnvironment, body: bytes) -> tuple[str, str]:
    """(service, action) of an AWS request: JSON target header, query-protocol Action, or REST method."""
    found = SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = found["service"] if found else "unknown"
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return service, target.rsplit(".", 1)[-1]
    form = parse_qs(body.decode("utf-8", "replace")) if body else {}
    query = parse_qs(environ.get("QUERY_STRING", ""))
    action = (form.get("Action") or query.get("Action") or [""])[0]
    return service, action or environ.get("REQUEST_METHOD", "?")


THROTTLED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>'
    "<Message>Request limit exceeded.</Message></Error></Errors><RequestID>{id}</RequestID></Response>"
)


@dataclass
class Tally:
    calls: Counter[str] = field(default_factory=Counter)  # "service:Action" -> requests answered
    throttled: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class Meter:
    """WSGI middleware: counts every AWS request by service and action; throttles EC2 when given limits."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.tally = Tally()
        self.buckets: dict[str, TokenBucket] = {}
        self.latency_s = 0.0

    def start(self, conditions: Conditions | None) -> Tally:
        """Count afresh from now on, answering under `conditions` (None: at once, unthrottled); the tally."""
        with self.lock:
            self.tally = Tally()
            limits = conditions.limits if conditions else None
            self.buckets = limits.buckets() if limits else {}
            self.latency_s = conditions.latency_s if conditions else 0.0
            return self.tally

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(("/moto-api/", "/_sandbox/")):
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = BytesIO(body)
        service, action = action_of(environ, body)
        name = f"{service}:{action}"
        bucket = self.buckets.get("mutating" if MUTATING.match(action) else "describe") if service == "ec2" else None
        allowed = bucket.take() if bucket else True
        with self.lock:
            self.tally.calls[name] += 1
            if not allowed:
                self.tally.throttled[name] += 1
        if self.latency_s:
            time.sleep(self.latency_s)
        if not allowed:
            start_response("503 Service Unavailable", [("Content-Type", "text/xml")])
            return [THROTTLED.format(id=uuid.uuid4()).encode()]
        return self.app(environ, start_response)


# ----------------------------------------------------------------------------------------------------------------
# DescribeSnapshots as EC2 answers it


def _visible_snapshots(account: str, region: str, owners: list[str]) -> list[Any]:
    """Ours, and those other accounts share with us (or with everyone), narrowed to `owners` if given."""
    wanted = {account if owner == "self" else owner for owner in owners}
    found = []
    for owner, regions in ec2_backends.items():
        backend = dict.get(regions, region)
        if backend is None or (wanted and owner not in wanted):
            continue
        for snapshot in backend.snapshots.values():
            if snapshot.owner_id != owner:  # moto files AMI snapshots of other owners here too
                continue
            shared = account in snapshot.create_volume_permission_userids or (
                "all" in snapshot.create_volume_permission_groups
            )
            if owner == account or shared:
                found.append(snapshot)
    return found


def _describe_snapshots(self: Any) -> ActionResult:
    self.error_on_dryrun()
    ids = self._get_param("SnapshotIds", [])
    owners = self._get_param("OwnerIds", [])
    matches = _visible_snapshots(self.current_account, self.region, owners)
    if ids:
        matches = [snapshot for snapshot in matches if snapshot.id in set(ids)]
        if len(matches) < len(set(ids)):
            raise InvalidSnapshotIdError()
    matches = generic_filter(self._filters_from_querystring(), matches)
    matches.sort(key=lambda snapshot: snapshot.id)
    start = int(self._get_param("NextToken") or 0)
    size = self._get_int_param("MaxResults") or len(matches)
    page = matches[start : start + size]
    result: dict[str, Any] = {"Snapshots": page}
    if start + size < len(matches):
        result["NextToken"] = str(start + size)
    return ActionResult(result)


def _tags_of(self: Any) -> list[dict[str, str]]:
    """moto's `describe_tags(resource-id=...)` result for one resource, by lookup rather than a scan."""
    tags = dict.get(self.ec2_backend.tags, self.id) or {}
    kind = EC2_PREFIX_TO_RESOURCE.get(get_prefix(self.id), "")
    return [{"resource_id": self.id, "key": key, "value": value, "resource_type": kind} for key, value in tags.items()]


@contextmanager
def filled_gaps() -> Iterator[None]:
    """moto with the bench's gap fillers, for the `with` block only (tests share moto's classes)."""
    saved = ElasticBlockStore.describe_snapshots, TaggedEC2Resource.get_tags
    ElasticBlockStore.describe_snapshots = _describe_snapshots  # type: ignore[method-assign]
    TaggedEC2Resource.get_tags = _tags_of  # type: ignore[method-assign]
    try:
        yield
    finally:
        ElasticBlockStore.describe_snapshots, TaggedEC2Resource.get_tags = saved  # type: ignore[method-assign]


@contextmanager
def serve() -> Iterator[tuple[str, Meter]]:
    """The sandbox's moto app behind a Meter, with the bench's gap fillers, for the `with` block."""
    app = make_app()
    assert app.enforcer is not None
    app.enforcer.enabled = False  # Custodian, compared on the same server, has no role IAM could enforce
    meter = Meter(app)
    with filled_gaps(), serving(meter, named=HOST) as endpoint:
        yield endpoint, meter
