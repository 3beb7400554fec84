"""The pacer: no account-region ever gets more mutating calls than its bucket allows in any window, whatever the
workers and throttling answers; one account-region's throttling never slows another's; clients made by
`functions.shared.clients` are paced inside `Pacer.pacing` and learn from the answers."""

from __future__ import annotations

import heapq
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.shared import clients
from functions.shared.pacing import CUT, FLOOR_SHARE, Key, Pace, Pacer
from functions.shared.pacing_hooks import mutating

HERE = Key("111111111111", "us-east-1")
THERE = Key("222222222222", "eu-west-1")


@dataclass
class FakeClock:
    now: float = 0.0
    waits: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.waits.append(seconds)


def simulate(
    pacer: Pacer, clock: FakeClock, *, workers: dict[Key, int], calls: int, throttles: dict[Key, list[bool]], rtt: float
) -> dict[Key, list[float]]:
    """`workers[key]` workers per account-region, each making calls one after another (a round trip of `rtt`
    seconds after its send), until `calls` are sent per key; a key's answers are throttling as `throttles` says,
    in order. Events run in time order on the fake clock; the send instants per key."""
    events: list[tuple[float, int, Key, int, str, float]] = []  # (time, tie, key, worker, what, sent_at)
    tie = 0
    for key, count in workers.items():
        for worker in range(count):
            events.append((0.0, tie, key, worker, "send", 0.0))
            tie += 1
    heapq.heapify(events)
    sent: dict[Key, list[float]] = {key: [] for key in workers}
    answers = {key: iter(throttles.get(key, [])) for key in workers}
    while events:
        clock.now, _, key, worker, what, sent_at = heapq.heappop(events)
        if what == "send":
            if len(sent[key]) >= calls:
                continue
            at = pacer.send(key)
            sent[key].append(at)
            heapq.heappush(events, (at + rtt, tie, key, worker, "answer", at))
        else:
            pacer.answered(key, sent_at, throttled=next(answers[key], False))
            heapq.heappush(events, (clock.now, tie, key, worker, "send", 0.0))
        tie += 1
    return sent


def most_in_any_window(instants: list[float], window: float) -> int:
    ordered = sorted(instants)
    most, start = 0, 0
    for end, instant in enumerate(ordered):
        while instant - ordered[start] > window:
            start += 1
        most = max(most, end - start + 1)
    return most


paces = st.builds(Pace, rate=st.floats(0.5, 200), burst=st.integers(1, 100))


@settings(max_examples=60, deadline=None)
@given(
    pace=paces,
    workers=st.integers(1, 32),
    calls=st.integers(1, 300),
    throttles=st.lists(st.booleans(), max_size=300),
    rtt=st.floats(0.001, 0.5),
    window=st.floats(0.01, 30),
)
def test_no_account_region_ever_exceeds_its_bucket_in_any_window(
    *, pace: Pace, workers: int, calls: int, throttles: list[bool], rtt: float, window: float
) -> None:
    clock = FakeClock()
    pacer = Pacer(pace, clock=clock, sleep=clock.sleep)

    sent = simulate(pacer, clock, workers={HERE: workers}, calls=calls, throttles={HERE: throttles}, rtt=rtt)

    assert len(sent[HERE]) == calls
    # A token bucket of `burst` refilled at `rate` admits at most burst + rate x window calls in any window.
    assert most_in_any_window(sent[HERE], window) <= pace.burst + pace.rate * window + 1e-6
    assert pace.rate * FLOOR_SHARE - 1e-9 <= pacer.rate(HERE) <= pace.rate


@settings(max_examples=40, deadline=None)
@given(
    pace=paces,
    workers=st.integers(1, 16),
    others=st.integers(1, 16),
    calls=st.integers(1, 200),
    throttles=st.lists(st.booleans(), min_size=1, max_size=200),
    rtt=st.floats(0.001, 0.5),
)
def test_one_account_regions_throttling_never_slows_another(
    *, pace: Pace, workers: int, others: int, calls: int, throttles: list[bool], rtt: float
) -> None:
    alone_clock = FakeClock()
    alone = simulate(
        Pacer(pace, clock=alone_clock, sleep=alone_clock.sleep),
        alone_clock,
        workers={HERE: workers},
        calls=calls,
        throttles={},
        rtt=rtt,
    )
    clock = FakeClock()

    shared = simulate(
        Pacer(pace, clock=clock, sleep=clock.sleep),
        clock,
        workers={HERE: workers, THERE: others},
        calls=calls,
        throttles={THERE: throttles},
        rtt=rtt,
    )

    assert shared[HERE] == alone[HERE]


def test_a_throttling_answer_halves_the_pace_once_per_congestion_and_successes_bring_it_back() -> None:
    clock = FakeClock()
    pacer = Pacer(Pace(rate=100, burst=50), clock=clock, sleep=clock.sleep)
    before = [pacer.send(HERE) for _ in range(8)]  # eight in flight, all met an empty bucket
    clock.now = 0.05

    for sent_at in before:
        pacer.answered(HERE, sent_at, throttled=True)

    assert pacer.rate(HERE) == 100 * CUT
    assert pacer.send(HERE) >= clock.now + 1 / (100 * CUT)  # the refill is waited for: no saved burst is spent
    for _ in range(60):
        pacer.answered(HERE, clock.now, throttled=False)
    assert pacer.rate(HERE) == 100


def test_the_pace_never_falls_below_its_floor() -> None:
    clock = FakeClock()
    pacer = Pacer(Pace(rate=20, burst=5), clock=clock, sleep=clock.sleep)
    for step in range(30):
        clock.now = float(step)
        pacer.answered(HERE, clock.now, throttled=True)

    assert pacer.rate(HERE) == pytest.approx(20 * FLOOR_SHARE)


@pytest.mark.parametrize(
    ("operation", "expected"),
    [("DeleteSnapshot", True), ("CreateTags", True), ("DeregisterImage", True), ("DescribeSnapshots", False)],
)
def test_reads_are_not_paced(operation: str, expected: bool) -> None:
    assert mutating(operation) is expected


THROTTLED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>'
    b"<Message>Request limit exceeded.</Message></Error></Errors><RequestID>1</RequestID></Response>"
)
DELETED = b'<DeleteSnapshotResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><return>true</return></DeleteSnapshotResponse>'


@pytest.mark.aws
def test_a_clients_mutating_calls_are_paced_inside_pacing_and_learn_from_throttling_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EC2 answered by a before-send handler (as a stubbed endpoint): one RequestLimitExceeded, then success."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    clients.reset()
    ec2 = clients.client("ec2", "us-east-1")
    answers = [(503, THROTTLED), (200, DELETED), (200, DELETED)]
    seen: list[str] = []

    def endpoint(request: object, event_name: str, **_: object) -> AWSResponse:
        seen.append(event_name.rsplit(".", 1)[-1])
        status, body = answers.pop(0)
        return AWSResponse("https://ec2.us-east-1.amazonaws.com/", status, HTTPHeaders(), RawBody(body))

    ec2.meta.events.register_last("before-send", endpoint)  # type: ignore[arg-type]  # a response ends sending
    clock = FakeClock()
    pacer = Pacer(Pace(rate=10, burst=1), clock=clock, sleep=clock.sleep)

    with pacer.pacing(HERE):
        ec2.delete_snapshot(SnapshotId="snap-0123456789abcdef0")  # throttled once, then retried by botocore
    ec2.delete_snapshot(SnapshotId="snap-0123456789abcdef1")  # outside pacing: not paced

    assert seen == ["DeleteSnapshot"] * 3
    assert pacer.rate(HERE) == pytest.approx(10 * CUT + 10 * (1 - CUT) / 50)  # cut once, one success after
    assert clock.waits  # the retry waited for the bucket's refill
    clients.reset()


class RawBody:
    """What botocore reads an HTTP response's body from."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: object) -> list[bytes]:
        return [self.body]

    def read(self, *_: object) -> bytes:
        return self.body


def test_the_pacer_loads_only_where_one_paces() -> None:
    # Every function's clients carry the hooks; the pacer is cleanup's alone, and no other cold start pays for it.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, functions.shared.clients; print('functions.shared.pacing' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"
