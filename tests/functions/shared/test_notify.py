"""Notifications (moto SNS -> SQS): a clean subject, and a body that says what, why and what next."""

import json
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.shared.notify import MESSAGE_LIMIT, SUBJECT_LIMIT, Notice, Notifier, clean_subject

REGION = "us-east-1"


def notice(**changes: str) -> Notice:
    fields = {
        "duty": "gating",
        "severity": "warning",
        "subject": "deploy of web blocked",
        "what": "The deploy of web to prod was blocked.",
        "why": "Alarm web-5xx is in ALARM.",
        "next_step": "Fix the alarm, then retry the stage.",
        **changes,
    }
    return Notice(**fields)


@pytest.fixture
def topic_and_queue(aws: None) -> tuple[str, str]:
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="deckhand-notifications")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return topic_arn, queue_url


def received(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def test_send_publishes_subject_body_and_attributes(topic_and_queue: tuple[str, str]) -> None:
    topic_arn, queue_url = topic_and_queue

    message_id = Notifier(topic_arn).send(notice())

    [envelope] = received(queue_url)
    assert envelope["MessageId"] == message_id
    assert envelope["TopicArn"] == topic_arn
    assert envelope["Subject"] == "Deckhand gating: deploy of web blocked"
    assert envelope["Message"] == (
        "What: The deploy of web to prod was blocked.\n\n"
        "Why: Alarm web-5xx is in ALARM.\n\n"
        "Next: Fix the alarm, then retry the stage.\n"
    )
    assert envelope["MessageAttributes"] == {
        "duty": {"Type": "String", "Value": "gating"},
        "severity": {"Type": "String", "Value": "warning"},
    }


def test_send_cleans_the_subject(topic_and_queue: tuple[str, str]) -> None:
    topic_arn, queue_url = topic_and_queue
    messy = "stale snapshots\nin eu-west-1 — 12 found\t(café) " + "more words " * 20

    Notifier(topic_arn).send(notice(duty="cleanup", subject=messy))

    [envelope] = received(queue_url)
    subject = envelope["Subject"]
    assert subject.startswith("Deckhand cleanup: stale snapshots in eu-west-1 ? 12 found (caf?) more words")
    assert "\n" not in subject
    assert "\t" not in subject
    assert subject.isascii()
    assert len(subject) == SUBJECT_LIMIT
    assert subject.endswith("...")


def test_a_huge_body_is_cut_below_the_sns_limit_in_bytes(topic_and_queue: tuple[str, str]) -> None:
    topic_arn, queue_url = topic_and_queue

    Notifier(topic_arn).send(notice(what="é" * MESSAGE_LIMIT))

    [envelope] = received(queue_url)
    body = envelope["Message"]
    assert body.startswith("What: ééé")
    assert len(body.encode()) <= MESSAGE_LIMIT
    assert len(body.encode()) >= MESSAGE_LIMIT - 1  # cut at the limit, not before; never mid-character


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("plain", "plain"),
        ("two\nlines", "two lines"),
        ("  padded \r\n\t out  ", "padded out"),
        ("naïve ☃", "na?ve ?"),
        ("bell\x07", "bell?"),
        ("x" * SUBJECT_LIMIT, "x" * SUBJECT_LIMIT),
        ("x" * (SUBJECT_LIMIT + 1), "x" * (SUBJECT_LIMIT - 3) + "..."),
    ],
)
def test_clean_subject(text: str, cleaned: str) -> None:
    assert clean_subject(text) == cleaned


@given(st.text())
def test_any_subject_is_cleaned_to_what_sns_accepts(text: str) -> None:
    subject = clean_subject(text)
    assert len(subject) <= SUBJECT_LIMIT
    assert all(32 <= ord(ch) < 127 for ch in subject)
    assert subject == subject.strip()


def test_the_body_has_what_why_and_next() -> None:
    body = notice(what="A", why="B", next_step="C").body()
    assert body == "What: A\n\nWhy: B\n\nNext: C\n"
