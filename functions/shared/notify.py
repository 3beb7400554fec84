"""Notifications to the operators' SNS topic: what happened, why, and what to do next."""

from __future__ import annotations

from dataclasses import dataclass

from .clients import client

SUBJECT_LIMIT = 100  # SNS rejects longer email subjects
MESSAGE_LIMIT = 250_000  # bytes of UTF-8, below SNS's 256 KB


@dataclass(frozen=True)
class Notice:
    duty: str
    severity: str  # "info" | "warning" | "critical"
    subject: str
    what: str
    why: str
    next_step: str

    def body(self) -> str:
        return f"What: {self.what}\n\nWhy: {self.why}\n\nNext: {self.next_step}\n"


def clean_subject(text: str) -> str:
    flat = " ".join(text.split())
    printable = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in flat)
    return printable if len(printable) <= SUBJECT_LIMIT else printable[: SUBJECT_LIMIT - 3] + "..."


class Notifier:
    def __init__(self, topic_arn: str) -> None:
        self.topic_arn = topic_arn

    def send(self, notice: Notice) -> str:
        response = client("sns").publish(
            TopicArn=self.topic_arn,
            Subject=clean_subject(f"Deckhand {notice.duty}: {notice.subject}"),
            Message=notice.body().encode()[:MESSAGE_LIMIT].decode(errors="ignore"),
            MessageAttributes={
                "duty": {"DataType": "String", "StringValue": notice.duty},
                "severity": {"DataType": "String", "StringValue": notice.severity},
            },
        )
        return str(response["MessageId"])
