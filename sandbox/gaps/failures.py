"""Injected failures: one call answers an AWS error instead of moto (`POST /_sandbox/failures`), so a scenario can
show that one failed action does not stop the others; and DynamoDB's partial BatchWriteItem (`UnprocessedItems`),
so a writer's retries can be seen at work.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote
from wsgiref.types import WSGIApplication, WSGIEnvironment
from xml.sax.saxutils import escape as xml_escape

from werkzeug.wrappers import Request, Response

from sandbox.gaps.common import CREDENTIAL_SCOPE, JSON, iso_ms_z, utc_now

UNPROCESSED_ITEMS = "UnprocessedItems"  # a failure "code" that answers BatchWriteItem 200 with requests left undone


@dataclass
class InjectedFailure:
    """The next `times` calls of the operation `action` that name `resource_id` answer this error.

    The operation is read from the query protocols' `Action` (EC2, CloudFormation, Auto Scaling...) or the
    JSON protocol's `X-Amz-Target` (ECR, CloudWatch Logs...); REST services (Lambda, S3) are not matched.
    With the code `UnprocessedItems` (BatchWriteItem only, status 200) the call succeeds in part instead:
    the write requests that name `resource_id` come back unprocessed and moto writes the others.
    With `after` ({"action", "id"}), the failure sleeps until a call of that operation naming that id has
    passed: e.g. InvalidSnapshot.InUse for a snapshot right after its AMI's DeregisterImage, as EC2 answers
    for a moment while it releases the AMI's snapshots.
    """

    action: str
    resource_id: str
    code: str
    message: str
    status: int = 400
    times: int = 1
    after: tuple[str, str] | None = None  # (operation, id) whose call arms the failure

    @classmethod
    def from_request(cls, body: JSON) -> InjectedFailure:
        failure = cls(
            action=str(body["action"]),
            resource_id=str(body["id"]),
            code=str(body.get("code") or "InternalFailure"),
            message=str(body.get("message") or f"injected failure of {body['action']} on {body['id']}"),
            status=int(body.get("status", 200 if body.get("code") == UNPROCESSED_ITEMS else 400)),
            times=int(body.get("times", 1)),
            after=_trigger(body.get("after")),
        )
        if failure.code == UNPROCESSED_ITEMS:
            if (failure.action, failure.status) != ("BatchWriteItem", 200):
                raise ValueError(f"{UNPROCESSED_ITEMS} is an answer of BatchWriteItem, with status 200")
        elif not 400 <= failure.status <= 599:
            raise ValueError("a failure needs an action, an id, a status 400-599 and times >= 1")
        if not failure.action or not failure.resource_id or failure.times < 1:
            raise ValueError("a failure needs an action, an id, a status 400-599 and times >= 1")
        return failure

    def state(self) -> JSON:
        return {
            "action": self.action,
            "id": self.resource_id,
            "code": self.code,
            "message": self.message,
            "status": self.status,
            "times": self.times,
            **({"after": {"action": self.after[0], "id": self.after[1]}} if self.after else {}),
        }


def _trigger(after: Any) -> tuple[str, str] | None:
    if after is None:
        return None
    named = isinstance(after, dict) and all(isinstance(after.get(key), str) and after[key] for key in ("action", "id"))
    if not named:
        raise ValueError('"after" names the call that arms the failure: {"action": OPERATION, "id": ID}')
    return str(after["action"]), str(after["id"])


class Failures:
    """The failures waiting for their call, and those answered, behind their own lock (the server is threaded)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.pending: list[InjectedFailure] = []
        self.answered: list[JSON] = []

    def inject(self, body: JSON) -> JSON:
        failure = InjectedFailure.from_request(body)
        with self.lock:
            self.pending.append(failure)
        return failure.state()

    def state(self) -> JSON:
        with self.lock:
            return {"pending": [failure.state() for failure in self.pending], "answered": list(self.answered)}

    def spend(self, failure: InjectedFailure) -> None:
        failure.times -= 1
        if failure.times == 0:
            self.pending.remove(failure)
        self.answered.append({**failure.state(), "at": iso_ms_z(utc_now())})


def _operation(request: Request) -> str | None:
    target = request.headers.get("X-Amz-Target", "")
    if target:
        return target.rpartition(".")[2]
    fields = parse_qs(request.query_string.decode())
    if request.mimetype == "application/x-www-form-urlencoded":
        fields |= parse_qs(request.get_data(as_text=True))
    return fields.get("Action", [None])[0]


def _names(request: Request, resource_id: str) -> bool:
    said = " ".join((unquote(request.path), unquote(request.query_string.decode()), request.get_data(as_text=True)))
    return resource_id in said or resource_id in unquote(said.replace("+", " "))


def _aws_error(request: Request, failure: InjectedFailure) -> Response:
    """The error as the request's protocol carries one, so that botocore raises a ClientError with its code."""
    request_id = str(uuid.uuid4())
    if request.headers.get("X-Amz-Target"):
        return Response(
            json.dumps({"__type": failure.code, "message": failure.message}),
            status=failure.status,
            content_type="application/x-amz-json-1.1",
            headers={"x-amzn-ErrorType": failure.code, "x-amzn-RequestId": request_id},
        )
    code, message = xml_escape(failure.code), xml_escape(failure.message)
    scope = CREDENTIAL_SCOPE.search(request.headers.get("Authorization", ""))
    if scope and scope.group("service") == "ec2":
        body = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
    else:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return Response(body, status=failure.status, content_type="text/xml")


def injected_failure(failures: Failures, environ: WSGIEnvironment) -> Response | None:
    """The error of the first pending failure this request matches (spending one of its times), else None.

    The body is read once and put back, so that moto reads the request as it came.
    """
    request = _reread(environ)
    operation = _operation(request)
    if operation is None:
        return None
    with failures.lock:
        for failure in failures.pending:
            if failure.after is not None:
                if failure.after[0] == operation and _names(request, failure.after[1]):
                    failure.after = None  # this call goes through; the ones after it meet the failure
                continue
            if failure.code == UNPROCESSED_ITEMS:
                continue
            if failure.action == operation and _names(request, failure.resource_id):
                failures.spend(failure)
                return _aws_error(request, failure)
    return None


def unprocessed_items(failures: Failures, environ: WSGIEnvironment, moto_app: WSGIApplication) -> Response | None:
    """BatchWriteItem processed in part, as DynamoDB answers under load (HTTP 200, the rest in UnprocessedItems).

    The write requests that name a pending UnprocessedItems failure's id are left out of what moto writes
    and come back unprocessed; the call spends one of each matching failure's times. None when none match.
    """
    if environ.get("HTTP_X_AMZ_TARGET", "") != "DynamoDB_20120810.BatchWriteItem":
        return None
    body = json.loads(_reread(environ).get_data(as_text=True) or "{}")
    kept: dict[str, list[JSON]] = {}
    unprocessed: dict[str, list[JSON]] = {}
    with failures.lock:
        pending = [f for f in failures.pending if f.code == UNPROCESSED_ITEMS]
        matched = set()
        for table, writes in body.get("RequestItems", {}).items():
            for write in writes:
                said = json.dumps(write)
                failure = next((f for f in pending if f.resource_id in said), None)
                (kept if failure is None else unprocessed).setdefault(table, []).append(write)
                if failure is not None:
                    matched.add(id(failure))
        if not unprocessed:
            return None
        for failure in [f for f in pending if id(f) in matched]:
            failures.spend(failure)
    answer: JSON = {}
    if kept:
        data = json.dumps({**body, "RequestItems": kept}).encode()
        environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(data), str(len(data))
        status: list[str] = []

        def started(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            status.append(code)
            return lambda _: None

        written = b"".join(moto_app(environ, started))
        if not status[0].startswith("200"):
            return Response(written, status=int(status[0].split()[0]), content_type="application/x-amz-json-1.0")
        answer = json.loads(written or b"{}")
    answer["UnprocessedItems"] = {**answer.get("UnprocessedItems", {}), **unprocessed}
    # A fresh response: moto's x-amz-crc32 header would no longer match the body, and botocore checks it.
    return Response(json.dumps(answer), content_type="application/x-amz-json-1.0")


def _reread(environ: WSGIEnvironment) -> Request:
    """The request, its body read once and put back so that moto reads the request as it came."""
    request = Request(environ)
    environ["wsgi.input"] = io.BytesIO(request.get_data(cache=True))
    return request
