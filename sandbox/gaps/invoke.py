"""Lambda Invoke, answered by the sandbox: the deployed function's handler runs in the server's process.

moto's Lambda runs code in Docker, which the sandbox does not have. The server plays Lambda's runtime instead,
the way `sandbox invoke` does: `sandbox.runner` loads what CloudFormation deployed (configuration, and the code
from its asset in the bootstrap bucket) and runs it with the deployed environment and a session of the execution
role, its clients pointed back at this server (which enforces that role's policies). `Functions.invoke` serves
any client: the Invoke API (`answer`), EventBridge targets and CodePipeline Invoke actions (both `Event`).

- `RequestResponse` answers the handler's result, or Lambda's error object with `FunctionError: Unhandled`.
- `Event` answers 202 at once; one worker thread runs the queue, retrying as the function's EventInvokeConfig
  says (MaximumRetryAttempts, default 2), then sends the invocation record to its on-failure (or on-success)
  destination and a failed event to its dead-letter queue. A failure's delivery to an SQS queue is authorized as
  Lambda's (`sandbox.iam.deliveries.Wiring.function`: the execution role, the queue's policy and key); other
  deliveries (to a topic, a function, a bus, or on success) are made unchecked. Retries follow at once: the
  sandbox does not wait Lambda's minutes between them.
- `DryRun` answers 204 once the function exists and the caller may invoke it (the enforcer ran first).
- Each run counts in Lambda's AWS/Lambda metrics by FunctionName (Invocations, Errors, Duration; Throttles,
  DeadLetterErrors, DestinationDeliveryFailures), which the functions' alarms read.

Handlers run one at a time (`sandbox.runner` holds one lock while a handler owns os.environ and sys.modules),
never under the store's lock: a handler calls this same server from its own clients. So a handler cannot wait on
another's synchronous run: its own synchronous Invoke is throttled (429), where Lambda would run both at once.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import botocore.session
from botocore.exceptions import ClientError
from botocore.model import Shape
from moto.cloudwatch.models import cloudwatch_backends
from werkzeug.wrappers import Request, Response

from sandbox import runner
from sandbox.clients import sandbox_session
from sandbox.gaps.common import JSON, ApiError, iso_ms_z, utc_now
from sandbox.iam import deliveries, enforce, policies
from sandbox.iam.model import Call
from sandbox.iam.simulator import Simulator
from sandbox.process import Paths

STATUS = {"RequestResponse": 200, "Event": 202, "DryRun": 204}
# Invoke's payload quotas (botocore's Invoke Payload: "6 MB for synchronous invocations and 1 MB for asynchronous").
PAYLOAD_LIMITS = {"RequestResponse": 6 * 1024 * 1024, "Event": 1024 * 1024, "DryRun": 6 * 1024 * 1024}
LOG_TAIL_BYTES = 4096  # botocore's Invoke output, LogResult: "the last 4 KB of the execution log"
DEFAULT_RETRIES = 2  # https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html
METRIC_UNITS = {"Duration": "Milliseconds"}  # the others are counts
DLQ_MESSAGE_BYTES = 1024  # ErrorMessage: "the first 1 KB of the error message" (invocation-async-retain-records)

log = logging.getLogger("sandbox.server")


@dataclass(frozen=True)
class Invoked:
    """Lambda's answer to Invoke: StatusCode, Payload, FunctionError, LogResult (base64, "" when none)."""

    status_code: int
    payload: bytes
    function_error: str | None
    log_tail: str
    executed_version: str = "$LATEST"


class Invoke(Protocol):
    """`Functions.invoke` as the server's other services call it: EventBridge's targets, CodePipeline's actions."""

    def __call__(
        self, *, account: str, region: str, function: str, payload: bytes, invocation_type: str = ...
    ) -> Invoked: ...


@dataclass(frozen=True)
class Target:
    """The function an Invoke names: a name, `name:qualifier`, a partial or a full ARN (whose account is the
    function's: another account's function is invoked by its ARN)."""

    name: str
    qualifier: str | None
    account: str | None = None

    @classmethod
    def parse(cls, function: str, qualifier: str | None) -> Target:
        """Checked against the patterns of botocore's model, as Lambda checks them (its ValidationException)."""
        for field, value, shape in (("functionName", function, FUNCTION_NAME), ("qualifier", qualifier, QUALIFIER)):
            if value is not None and not re.fullmatch(model_pattern(shape), value):
                raise ApiError(
                    "ValidationException",
                    f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
                    f"Member must satisfy regular expression pattern: {model_pattern(shape)}",
                )
        found = NAMED.fullmatch(function)
        if found is None:  # what the model's pattern admits, this one reads
            raise ApiError("ValidationException", f"the sandbox cannot read the function name {function!r}")
        named = found["qualifier"]
        if named and qualifier and named != qualifier:
            raise ApiError(
                "InvalidParameterValueException", "The derived qualifier from the function name does not match."
            )
        return cls(found["name"], named or qualifier, found["account"])


FUNCTION_NAME, QUALIFIER = "NamespacedFunctionName", "NumericLatestPublishedOrAliasQualifier"  # Invoke's shapes
# The parts of a name the model's pattern admits, tried in its order: ARN prefix, region, account, "function:".
NAMED = re.compile(
    r"(?:arn:[a-zA-Z-]*:lambda:)?(?:[a-z0-9-]+-\d:)?(?:(?P<account>\d{12}):)?(?:function:)?"
    r"(?P<name>[a-zA-Z0-9-_.]+)(?::(?P<qualifier>[a-zA-Z0-9-_$.]+))?"
)


@cache
def model_pattern(shape: str) -> str:
    return str(model_shape(shape).metadata["pattern"])


@cache
def model_shape(shape: str) -> Shape:
    return botocore.session.get_session().get_service_model("lambda").shape_for(shape)


def check_enum(field: str, value: str, shape: str) -> None:
    """A header outside its enum is refused as Lambda refuses it: a ValidationException naming the member
    (Lambda's answer to InvocationType 'dry_run', quoted in ex-aws/ex_aws#442)."""
    allowed = model_shape(shape).metadata["enum"]
    if value not in allowed:
        raise ApiError(
            "ValidationException",
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(allowed)}]",
        )


@dataclass(frozen=True)
class Queued:
    account: str
    region: str
    target: Target
    event: Any
    request_id: str


class Functions:
    """The server's Lambda runtime: `invoke` runs a deployed function as Lambda would for its invocation type."""

    def __init__(
        self,
        ledger: deliveries.Ledger,
        simulator: Simulator,
        lock: threading.RLock,
        assets: Path | None = None,
    ) -> None:
        self.endpoint: str | None = None  # the server's own URL, set once its port is bound (`app.make_server`)
        self.ledger = ledger
        self.simulator = simulator
        self.lock = lock  # the store's: the ledger is counted under it, never held while a handler runs
        self.assets = assets or Paths.default().assets
        self.queue: queue.Queue[Queued] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._one_at_a_time = threading.Lock()
        self.running: str | None = None  # the session ARN of the function whose handler runs
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._making = threading.Lock()  # the clients and the worker are made once, on first use

    def invoke(
        self,
        *,
        account: str,
        region: str,
        function: str,
        payload: bytes,
        invocation_type: str = "RequestResponse",
        qualifier: str | None = None,
        caller: str | None = None,
    ) -> Invoked:
        """Run `function` (a name or ARN) as Lambda does for `invocation_type`; raises `ApiError` as Lambda answers.

        For `Event` the answer is 202 at once and the function runs on the worker, retried and its failure sent
        where the function's configuration says. `caller` is the role session that signed the request, if any."""
        check_enum("invocationType", invocation_type, "InvocationType")
        check_size(payload, invocation_type)
        target = Target.parse(function, qualifier)
        account = target.account or account
        event = parsed_payload(payload)
        version = self.configuration(account, region, target)["Version"]
        if invocation_type == "DryRun":
            return Invoked(STATUS["DryRun"], b"", None, "", version)
        if invocation_type == "Event":
            self._enqueue(Queued(account, region, target, event, str(uuid.uuid4())))
            return Invoked(STATUS["Event"], b"", None, "", version)
        if caller is not None and caller == self.running:
            self.count(account, region, target.name, Throttles=1.0)
            raise ApiError(
                "TooManyRequestsException",
                "Rate Exceeded. The sandbox runs one handler at a time: the running one cannot wait on another",
                429,
            )
        invocation = self.run(account, region, target, event, str(uuid.uuid4()))
        return Invoked(
            STATUS["RequestResponse"],
            json.dumps(answer_of(invocation)).encode(),
            "Unhandled" if invocation.error is not None else None,
            log_tail(invocation, version),
            version,
        )

    # -- running ----------------------------------------------------------------------------------------------

    def configuration(self, account: str, region: str, target: Target) -> JSON:
        """The function's configuration (the qualified version's); Lambda's 404 when there is none."""
        awslambda = self.client("lambda", account, region)
        asked = {"Qualifier": target.qualifier} if target.qualifier else {}
        try:
            found: JSON = awslambda.get_function_configuration(FunctionName=target.name, **asked)
        except ClientError as failed:
            error = failed.response["Error"]
            status = int(failed.response["ResponseMetadata"]["HTTPStatusCode"])
            raise ApiError(str(error["Code"]), str(error.get("Message", "")), status) from None
        return found

    def run(self, account: str, region: str, target: Target, event: Any, request_id: str) -> runner.Invocation:
        """One run of the deployed handler, loaded afresh (a redeploy or a new environment shows at once)."""
        deployed = runner.load(
            target.name,
            lambda_client=self.client("lambda", account, region),
            s3_client=self.client("s3", account, region),
            sts_client=self.client("sts", account, region),
            cache_dir=self.assets,
            qualifier=target.qualifier,
        )
        with self._one_at_a_time:
            self.running = deliveries.session_of(deployed.role, deployed.name)
            try:
                invocation = runner.invoke(deployed, event, endpoint=self.own_endpoint(), request_id=request_id)
            finally:
                self.running = None
        failed = 1.0 if invocation.error is not None else 0.0
        self.count(account, region, target.name, Invocations=1.0, Errors=failed, Duration=invocation.duration_ms)
        return invocation

    def count(self, account: str, region: str, function: str, **values: float) -> None:
        """Lambda's function metrics, in AWS/Lambda by FunctionName (Lambda developer guide, "Types of metrics for
        Lambda functions"): every run an invocation, each failed one an error (0 otherwise), its duration; a
        throttled request, a dead letter or a destination record Lambda could not send. The sandbox plays Lambda,
        so it writes in AWS's reserved namespace in its place."""
        dimensions = [{"Name": "FunctionName", "Value": function}]
        data = [
            {"MetricName": name, "Dimensions": dimensions, "Value": value, "Unit": METRIC_UNITS.get(name, "Count")}
            for name, value in values.items()
        ]
        with self.lock:
            cloudwatch_backends[account][region].put_metric_data("AWS/Lambda", data)

    def own_endpoint(self) -> str:
        if self.endpoint is None:
            raise ApiError("ServiceException", "the sandbox server does not know its own URL yet", 500)
        return self.endpoint

    def client(self, service: str, account: str, region: str) -> Any:
        """A client of this server with the sandbox's admin keys, in `account` (moto's x-moto-account-id)."""
        key = (service, account, region)
        with self._making:
            if key not in self._clients:
                made = sandbox_session().client(  # type: ignore[call-overload]  # named at run time
                    service, endpoint_url=self.own_endpoint(), region_name=region
                )
                made.meta.events.register("before-sign.*.*", _in_account(account))
                self._clients[key] = made
            return self._clients[key]

    # -- asynchronous invocation ------------------------------------------------------------------------------

    def _enqueue(self, queued: Queued) -> None:
        with self._making:
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="lambda-async", daemon=True)
                self._worker.start()
        self.queue.put(queued)

    def _work(self) -> None:
        while True:
            queued = self.queue.get()
            try:
                self.run_async(queued)
            except Exception:  # one event's failure never stops the worker, as in Lambda
                log.exception("asynchronous invocation %s of %s", queued.request_id, queued.target.name)
            finally:
                self.queue.task_done()

    def run_async(self, queued: Queued) -> None:
        """Lambda's asynchronous invocation: the first run and the configured retries, then the destinations."""
        config = self.configuration(queued.account, queued.region, queued.target)
        invoke_config = self.event_invoke_config(queued)
        retries = int(invoke_config.get("MaximumRetryAttempts", DEFAULT_RETRIES))
        invocation = self.run(queued.account, queued.region, queued.target, queued.event, queued.request_id)
        attempts = 1
        while invocation.error is not None and attempts <= retries:
            invocation = self.run(queued.account, queued.region, queued.target, queued.event, queued.request_id)
            attempts += 1
        destinations = invoke_config.get("DestinationConfig") or {}
        outcome = "OnSuccess" if invocation.error is None else "OnFailure"
        destination = (destinations.get(outcome) or {}).get("Destination")
        if destination:
            record = invocation_record(config, queued, invocation, attempts)
            self.deliver(config, queued, destination, "destination", record)
        dead_letters = (config.get("DeadLetterConfig") or {}).get("TargetArn")
        if invocation.error is not None and dead_letters:
            self.deliver(config, queued, dead_letters, "dead-letter queue", dead_letter_message(queued, invocation))

    def event_invoke_config(self, queued: Queued) -> JSON:
        awslambda = self.client("lambda", queued.account, queued.region)
        asked = {"Qualifier": queued.target.qualifier} if queued.target.qualifier else {}
        try:
            found: JSON = awslambda.get_function_event_invoke_config(FunctionName=queued.target.name, **asked)
        except awslambda.exceptions.ResourceNotFoundException:
            return {}
        return found

    def deliver(self, config: JSON, queued: Queued, target_arn: str, kind: str, message: Message) -> None:
        """Send as Lambda does, unless a check the deliveries `Wiring` plans for the function refuses it."""
        wiring = deliveries.Wiring(
            lambda service: self.client(service, queued.account, queued.region), queued.account, queued.region
        )
        planned = [d for d in wiring.function(config) if d.target == target_arn and kind in d.kind]
        with self.lock:
            answer = self.ledger.authorize(
                deliveries.CheckRequest(deliveries=tuple(planned), phase="delivery"), policies, self.simulator
            )
        if any(refusal is not None for refusal in answer.refusals):
            failures = "DestinationDeliveryFailures" if kind == "destination" else "DeadLetterErrors"
            self.count(queued.account, queued.region, str(config["FunctionName"]), **{failures: 1.0})
            return
        service = target_arn.split(":")[2]
        send = SENDERS.get(service)
        if send is not None:
            send(self, queued, target_arn, message)


# --- what Lambda sends where -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A body and its attributes (String values), for a queue, a topic, a function or a bus."""

    body: str
    attributes: Mapping[str, str]
    detail_type: str = ""


def invocation_record(config: JSON, queued: Queued, invocation: runner.Invocation, attempts: int) -> Message:
    """The invocation record a destination receives (Lambda developer guide, "Capturing records of Lambda
    asynchronous invocations"): request and response, the condition, the approximate invoke count."""
    failed = invocation.error is not None
    record = {
        "version": "1.0",
        "timestamp": iso_ms_z(utc_now()),
        "requestContext": {
            "requestId": queued.request_id,
            "functionArn": qualified_arn(config),
            "condition": "RetriesExhausted" if failed else "Success",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": queued.event,
        "responseContext": {
            "statusCode": STATUS["RequestResponse"],
            "executedVersion": config["Version"],
            **({"functionError": "Unhandled"} if failed else {}),
        },
        "responsePayload": answer_of(invocation),
    }
    outcome = "Failure" if failed else "Success"
    return Message(json.dumps(record), {}, f"Lambda Function Invocation Result - {outcome}")


def dead_letter_message(queued: Queued, invocation: runner.Invocation) -> Message:
    """The event itself, with RequestID, ErrorCode and ErrorMessage attributes (Lambda developer guide,
    "Dead-letter queues": https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html)."""
    error = invocation.error
    message = error.message if error is not None else ""
    return Message(
        json.dumps(queued.event),
        {
            "RequestID": queued.request_id,
            "ErrorCode": str(STATUS["RequestResponse"]),
            "ErrorMessage": message.encode(errors="replace")[:DLQ_MESSAGE_BYTES].decode(errors="ignore"),
        },
    )


def qualified_arn(config: JSON) -> str:
    arn = str(config["FunctionArn"])
    return arn if arn.count(":") == 7 else f"{arn}:{config['Version']}"


def _to_queue(functions: Functions, queued: Queued, arn: str, message: Message) -> None:
    sqs = functions.client("sqs", queued.account, queued.region)
    url = sqs.get_queue_url(QueueName=arn.split(":")[5], QueueOwnerAWSAccountId=arn.split(":")[4])["QueueUrl"]
    attributes = {name: {"DataType": "String", "StringValue": value} for name, value in message.attributes.items()}
    sqs.send_message(QueueUrl=url, MessageBody=message.body, MessageAttributes=attributes)


def _to_topic(functions: Functions, queued: Queued, arn: str, message: Message) -> None:
    attributes = {name: {"DataType": "String", "StringValue": value} for name, value in message.attributes.items()}
    functions.client("sns", queued.account, queued.region).publish(
        TopicArn=arn, Message=message.body, MessageAttributes=attributes
    )


def _to_function(functions: Functions, queued: Queued, arn: str, message: Message) -> None:
    functions.invoke(
        account=queued.account,
        region=queued.region,
        function=arn,
        payload=message.body.encode(),
        invocation_type="Event",
    )


def _to_bus(functions: Functions, queued: Queued, arn: str, message: Message) -> None:
    entry = {"Source": "lambda", "DetailType": message.detail_type, "Detail": message.body, "EventBusName": arn}
    functions.client("events", queued.account, queued.region).put_events(Entries=[entry])


SENDERS: Mapping[str, Callable[[Functions, Queued, str, Message], None]] = {
    "sqs": _to_queue,
    "sns": _to_topic,
    "lambda": _to_function,
    "events": _to_bus,
}


# --- Lambda's shapes ---------------------------------------------------------------------------------------------


def check_size(payload: bytes, invocation_type: str) -> None:
    """Lambda's 413, worded as Lambda words it; the wire's code is RequestEntityTooLargeException, though botocore's
    model names the shape RequestTooLargeException."""
    limit = PAYLOAD_LIMITS[invocation_type]
    if len(payload) <= limit:
        return
    message = (
        f"{len(payload)} byte payload is too large for the Event invocation type (limit {limit} bytes)"
        if invocation_type == "Event"
        else f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
    )
    raise ApiError("RequestEntityTooLargeException", message, 413)


def parsed_payload(payload: bytes) -> Any:
    """The event the handler gets; no payload is `{}`, as Lambda gives it. Not JSON: Lambda's 400. JSON nested
    deeper than Python parses is refused the same way (Lambda documents no depth limit)."""
    if not payload:
        return {}
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as failed:
        raise ApiError("InvalidRequestContentException", f"Could not parse request body into json: {failed}") from None


def answer_of(invocation: runner.Invocation) -> Any:
    """The handler's result, or the error object the Python runtime makes of what it raised."""
    error = invocation.error
    if error is None:
        return invocation.response
    return {
        "errorMessage": error.message,
        "errorType": error.type,
        "requestId": invocation.request_id,
        "stackTrace": list(error.stack),
    }


def log_tail(invocation: runner.Invocation, version: str) -> str:
    """The base64 of the last 4 KB of the invocation's log, framed by Lambda's START, END and REPORT lines."""
    request = invocation.request_id
    error = invocation.error
    failure = f"[ERROR] {error.type}: {error.message}\n{error.traceback}" if error is not None else ""
    text = (
        f"START RequestId: {request} Version: {version}\n"
        f"{invocation.logs}{failure}"
        f"END RequestId: {request}\n"
        f"REPORT RequestId: {request}\tDuration: {invocation.duration_ms:.2f} ms\n"
    )
    return base64.b64encode(text.encode(errors="replace")[-LOG_TAIL_BYTES:]).decode()  # a lone surrogate: "?"


def _in_account(account: str) -> Callable[..., None]:
    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account

    return add_header


# --- the Invoke API --------------------------------------------------------------------------------------------


def answer(functions: Functions, request: Request, call: Call) -> Response:
    """Lambda's answer to Invoke (botocore's model: StatusCode, FunctionError, LogResult, ExecutedVersion, Payload)."""
    principal = enforce.session_of(request.environ)
    log_type = str(call.params.get("LogType") or "None")
    try:
        check_enum("logType", log_type, "LogType")
        invoked = functions.invoke(
            account=call.account,
            region=call.region,
            function=str(call.params["FunctionName"]),
            payload=request.get_data(),
            invocation_type=str(call.params.get("InvocationType") or "RequestResponse"),
            qualifier=call.params.get("Qualifier"),
            caller=principal.session_arn if principal is not None else None,
        )
    except ApiError as error:
        return Response(
            json.dumps({"Type": "User", "Message": error.message}),
            status=error.status,
            content_type="application/json",
            headers={"x-amzn-ErrorType": error.code},
        )
    headers = {}
    if invoked.status_code == STATUS["RequestResponse"]:  # Event and DryRun answer a status code only
        headers["X-Amz-Executed-Version"] = invoked.executed_version
        if log_type == "Tail":
            headers["X-Amz-Log-Result"] = invoked.log_tail
    if invoked.function_error is not None:
        headers["X-Amz-Function-Error"] = invoked.function_error
    return Response(invoked.payload, status=invoked.status_code, content_type="application/json", headers=headers)
