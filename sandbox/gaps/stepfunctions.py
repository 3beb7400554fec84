"""AWS Step Functions executed by the sandbox server: moto's ASL interpreter, its AWS calls made as AWS makes them.

moto carries LocalStack's interpreter of the Amazon States Language (`moto.stepfunctions.parser`), off by default
(moto's switch `stepfunctions.execute_state_machine`). `patch()` turns it on for the requests the sandbox server
answers (`serving_request`), not process-wide: moto in a test's own process keeps moto's default. CloudFormation's
state machines are then made where the interpreter looks for them, and moto's `responses` answer StartExecution,
DescribeExecution, ListExecutions, StopExecution, GetExecutionHistory, DescribeMapRun and ListMapRuns from
executions that really run.

What the sandbox changes, so that an execution does what it would do in AWS:

- Every AWS call a state makes (Lambda tasks, `arn:aws:states:::lambda:invoke` or a bare function ARN; the
  Distributed Map's S3 ItemReader and ResultWriter; SDK integrations) is signed by a session of the state machine's
  role, assumed as states.amazonaws.com would assume it on behalf of the state machine (the role's trust policy
  decides, through the IAM simulator, when an execution starts), and sent to this server, whose authorizer
  enforces the role's policies. moto's interpreter signs them with keys of no one ("ak"/"sk") and sends them to
  moto's default port instead. A role Step Functions may not assume fails the first state that calls AWS.
- A Lambda call the service refuses fails the state as Step Functions names it: `Lambda.<Code>` for an error
  Lambda's model defines, `Lambda.AWSLambdaException` for one it does not (AccessDeniedException is not in
  Lambda's model; the Developer Guide's "Handling transient Lambda service exceptions" retries that name).
- A Retry's waits (IntervalSeconds, BackoffRate, MaxDelaySeconds, JitterStrategy, as the interpreter computes
  them) and Wait states are recorded, and slept for `time_scale` of their length (0 by default: a test or the demo
  never sleeps a backoff for real; the bench can set 1 through `TIME_SCALE_ROUTE`).
- A Distributed Map runs each item as a child execution (STANDARD) with its own record; the Map Run fails with
  States.ExceedToleratedFailureThreshold when its failures exceed ToleratedFailureCount/Percentage (Developer
  Guide, "Distributed Map failure threshold"; moto counts failures but never fails the run); ResultWriter writes
  AWS's files: `<Prefix>/<map run id>/manifest.json` and a JSON array of child execution records per status,
  `SUCCEEDED_0.json`, `FAILED_0.json`, `PENDING_0.json` (Developer Guide, "ResultWriter (Map)"; moto writes an
  empty manifest only). A Map Run that fails starts no item after the one that crossed its threshold (those
  running finish) and still writes its results, the items it never started in PENDING_0.json.
- `transitions(arn)` (`TRANSITIONS_ROUTE` from another process) counts an execution's state transitions as Step
  Functions bills them, its children's too (their histories are kept for that; GetExecutionHistory answers the
  parent's only). `wait(arn, timeout)` answers DescribeExecution once the execution has finished.
- The Map Run's children and the Lambda tasks run one handler at a time (`sandbox.gaps.invoke`), whatever
  MaxConcurrency says; MaxConcurrency bounds the workers, as DescribeMapRun reports.
- moto's own gaps: an unnamed execution is named by a UUID (not "None"), InvalidExecutionInput and the other
  errors of the interpreter's API answer with their code, and ToleratedFailurePercentage may be an integer.

moto's interpreter, like its backends, is process-wide: the server made last (`serving`) runs its AWS calls.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.core.exceptions import AWSError
from moto.stepfunctions import models as plain
from moto.stepfunctions import responses
from moto.stepfunctions.parser import api
from moto.stepfunctions.parser import models as executing
from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails, MapRunFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import EvalTimeoutError
from moto.stepfunctions.parser.asl.component.state.exec.state_map import state_map
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer import result_writer_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval import resource_eval_s3
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_lambda
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped
from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData
from moto.stepfunctions.parser.asl.parse import asl_parser  # also loads every module that calls AWS

from sandbox.gaps.common import JSON, ApiError, iso_ms_z, utc_now
from sandbox.gaps.invoke import Functions
from sandbox.iam import deliveries, policies
from sandbox.iam.simulator import Simulator

STATES = "states.amazonaws.com"
SESSION = "sandbox-states"  # the session name of the role Step Functions assumes (AWS does not document its own)
FINISHED = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
TOLERANCE_EXCEEDED = StatesErrorNameType.StatesExceedToleratedFailureThreshold.to_name()
SCHEDULED = {"TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled"}  # one per attempt of a task
TRANSITIONS_ROUTE = "/_sandbox/stepfunctions/transitions"  # GET ?execution=ARN: its state transitions
TIME_SCALE_ROUTE = "/_sandbox/stepfunctions/time-scale"  # POST {"time_scale": s}: how long waits really sleep
# As moto's interpreter configures its clients: one attempt (the state's Retry retries); Lambda's longest run.
CLIENT_CONFIG = Config(parameter_validation=False, retries={"total_max_attempts": 1}, read_timeout=900)


class Refused(Exception):
    """states.amazonaws.com may not assume the state machine's role: the state that would call AWS fails."""


@dataclass
class Child:
    """One child workflow execution of a Distributed Map, as ResultWriter records it."""

    arn: str
    state_machine: str
    input: Any
    start: datetime
    status: str = "RUNNING"
    output: Any = None
    error: str | None = None
    cause: str | None = None
    stop: datetime | None = None
    transitions: int = 0

    def record(self) -> JSON:
        found: JSON = {
            "ExecutionArn": self.arn,
            "Input": json.dumps(self.input, separators=(",", ":")),
            "InputDetails": {"Included": True},
            "Name": self.arn.rsplit(":", 1)[1],
            "StartDate": iso_ms_z(self.start),
            "StateMachineArn": self.state_machine,
            "Status": self.status,
        }
        if self.stop is not None:
            found["StopDate"] = iso_ms_z(self.stop)
        if self.status == "SUCCEEDED":
            found["Output"] = json.dumps(self.output, separators=(",", ":"))
            found["OutputDetails"] = {"Included": True}
        if self.error is not None:
            found["Error"] = self.error
        if self.cause is not None:
            found["Cause"] = self.cause
        return found


@dataclass
class MapRun:
    execution: str  # the parent's ARN
    jobs: Any  # moto's JobPool: the items no worker took are still in it
    children: list[Child] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, child: Child) -> None:
        with self.lock:
            self.children.append(child)

    def unstarted(self) -> list[JSON]:
        """The records of the items no child ran, as a failed Map Run leaves them: PENDING, the item as read (the
        sandbox does not apply the ItemSelector to an item it never runs)."""
        items = [job.job_input for job in reversed(self.jobs._open_jobs)]  # moto pops them from the end
        return [
            {"Input": json.dumps(item, separators=(",", ":")), "InputDetails": {"Included": True}, "Status": "PENDING"}
            for item in items
        ]


class StateMachines:
    """The server's Step Functions engine (`store.states`): the clients its executions use, their waits."""

    def __init__(self, functions: Functions, ledger: deliveries.Ledger, simulator: Simulator, lock: Any) -> None:
        self.functions = functions  # the server's URL and its admin clients, by account
        self.ledger = ledger
        self.simulator = simulator
        self.lock = lock  # the store's: the ledger is counted under it
        self.time_scale = 0.0  # seconds slept per second an execution waits (a Retry's interval, a Wait state)
        self.waits: list[float] = []  # every wait, in seconds, in the order asked
        self.map_runs: dict[str, MapRun] = {}
        self._sessions: dict[str, Mapping[str, str]] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._refusals: dict[str, str | None] = {}  # by role: why Step Functions may not assume it, if it may not
        self._making = threading.Lock()

    # -- what the interpreter calls

    def client_for(self, region: str, service: str, role_arn: str) -> Any:
        """A client of this server signed by a session of `role_arn`, assumed as Step Functions assumes it; one
        per role, region and service (a Distributed Map makes thousands of calls)."""
        issued = self.session(role_arn, region)
        key = (role_arn, region, service)
        with self._making:
            if key not in self._clients:
                self._clients[key] = boto3.session.Session(
                    aws_access_key_id=issued["AccessKeyId"],
                    aws_secret_access_key=issued["SecretAccessKey"],
                    aws_session_token=issued["SessionToken"],
                    region_name=region,
                ).client(service, endpoint_url=self.functions.own_endpoint(), config=CLIENT_CONFIG)  # type: ignore[call-overload]
            return self._clients[key]

    def session(self, role_arn: str, region: str) -> Mapping[str, str]:
        with self._making:
            decided = role_arn in self._refusals
        if not decided:  # decided outside the lock: the simulator runs under the store's, which routes hold first
            refusal = self.trust_refusal(role_arn, None)
            with self._making:
                self._refusals.setdefault(role_arn, refusal)
        with self._making:
            refusal = self._refusals[role_arn]
            if refusal is not None:
                raise Refused(f"states.amazonaws.com may not assume {role_arn}: {refusal}")
            if role_arn not in self._sessions:
                sts = self.functions.client("sts", deliveries.account_of(role_arn), region)
                self._sessions[role_arn] = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION)["Credentials"]
            return self._sessions[role_arn]

    def admit(self, role_arn: str, state_machine_arn: str) -> None:
        """Decide, as an execution of `state_machine_arn` starts, whether Step Functions may assume its role."""
        refusal = self.trust_refusal(role_arn, state_machine_arn)
        with self._making:
            self._refusals[role_arn] = refusal

    def trust_refusal(self, role_arn: str, state_machine_arn: str | None) -> str | None:
        """Why the role's trust policy does not let states.amazonaws.com assume it (Step Functions Developer Guide,
        "Creating an IAM role for your state machine"), on behalf of the state machine (aws:SourceArn and
        aws:SourceAccount, which its "Cross-service confused deputy prevention" conditions the trust on); None
        when it does. Counted with the server's other service deliveries."""
        context = deliveries.on_behalf_of(state_machine_arn) if state_machine_arn else {}
        delivery = deliveries.Delivery(
            kind="states → execution role",
            source=state_machine_arn or STATES,
            target=role_arn,
            checks=(deliveries.Check(principal=STATES, action="sts:AssumeRole", resource=role_arn, context=context),),
        )
        with self.lock:
            answer = self.ledger.authorize(
                deliveries.CheckRequest(deliveries=(delivery,), phase="delivery"), policies, self.simulator
            )
        refusal = answer.refusals[0]
        return refusal.reason if refusal is not None else None

    def sleep(self, seconds: float, until: threading.Event | None = None) -> None:
        """A wait an execution asks for, recorded and slept for `time_scale` of its length (cut short when `until`
        is set: a Wait state ends early when its execution stops)."""
        with self._making:
            self.waits.append(seconds)
        if until is None:
            time.sleep(seconds * self.time_scale)
        elif seconds > 0:
            until.wait(seconds * self.time_scale)

    # -- for scenarios and benches

    def transitions(self, execution_arn: str) -> int:
        """The execution's state transitions as Step Functions bills them (aws.amazon.com/step-functions/pricing:
        "a state transition each time a step of your workflow is executed, including retries"), its Distributed Map
        children's included."""
        account, region = execution_arn.split(":")[4], execution_arn.split(":")[3]
        try:
            history = executing.stepfunctions_parser_backends[account][region].get_execution_history(execution_arn)
        except AWSError as missing:
            raise ApiError(missing.error_type, missing.message) from None
        own = billed(history["events"])
        with self._making:
            runs = [run for run in self.map_runs.values() if run.execution == execution_arn]
        return own + sum(child.transitions for run in runs for child in list(run.children))

    def counted(self, execution_arn: str) -> JSON:
        """`GET TRANSITIONS_ROUTE?execution=ARN`: what a bench in another process counts of an execution."""
        return {"execution": execution_arn, "transitions": self.transitions(execution_arn)}

    def scaled(self, body: JSON) -> JSON:
        """`POST TIME_SCALE_ROUTE {"time_scale": s}`: waits sleep `s` times their length from now on."""
        scale = float(body["time_scale"])
        if scale < 0:
            raise ValueError(f"time_scale {scale} is negative")
        self.time_scale = scale
        return {"time_scale": scale}

    def wait(self, execution_arn: str, timeout: float = 60.0) -> JSON:
        """DescribeExecution's answer once the execution has finished; TimeoutError if it runs past `timeout`."""
        account, region = execution_arn.split(":")[4], execution_arn.split(":")[3]
        sfn = self.functions.client("stepfunctions", account, region)
        deadline = time.monotonic() + timeout
        while True:
            found: JSON = sfn.describe_execution(executionArn=execution_arn)
            if found["status"] in FINISHED:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still {found['status']} after {timeout} s")
            time.sleep(0.05)


_serving: list[StateMachines] = []
_patched: list[bool] = []  # once per process: the patches wrap moto's own methods


def serving(engine: StateMachines) -> None:
    """`engine` runs the AWS calls of every execution from now on (moto's interpreter is process-wide)."""
    _serving[:] = [engine]


def current() -> StateMachines:
    if not _serving:
        raise RuntimeError("no sandbox server runs Step Functions executions in this process")
    return _serving[0]


# --- the patches ---------------------------------------------------------------------------------------------


_handling = threading.local()  # `on` while this thread answers a request of the sandbox server


@contextmanager
def serving_request() -> Iterator[None]:
    """The sandbox server answers a request in this thread: Step Functions, and CloudFormation's state machines,
    are the executing backend's in it. Outside (moto in a test's process), moto's own stays, as moto configures it."""
    _handling.on = True
    try:
        yield
    finally:
        _handling.on = False


def in_the_server() -> bool:
    return bool(getattr(_handling, "on", False))


def _backend_for_the_caller(original: Any) -> Any:
    def get_backend(account: str, region: str) -> Any:
        return (
            executing.stepfunctions_parser_backends[account][region] if in_the_server() else original(account, region)
        )

    return get_backend


class ServerBackends:
    """moto's `stepfunctions_backends`, which CloudFormation creates state machines in: the executing backend's in
    the server, moto's own elsewhere."""

    def __init__(self, own: Any) -> None:
        self.own = own

    def __getitem__(self, account: str) -> Any:
        return (executing.stepfunctions_parser_backends if in_the_server() else self.own)[account]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.own, name)


def _as_the_role(original: Any) -> Any:
    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        """moto's `boto_client_for`, as the execution's role against the sandbox server (moto's own without one)."""
        if not _serving:
            return original(region=region, service=service, state_credentials=state_credentials)
        return current().client_for(region, service, str(state_credentials.role_arn))

    return boto_client_for


def lambda_error(client_error: ClientError) -> tuple[str, str]:
    """(error, cause) of a state whose Lambda call failed, as Step Functions words them."""
    code = str(client_error.response["Error"]["Code"])
    metadata = client_error.response["ResponseMetadata"]
    details = "; ".join(
        [
            "Service: AWSLambda",
            f"Status Code: {metadata['HTTPStatusCode']}",
            f"Error Code: {code}",
            f"Request ID: {metadata.get('RequestId', '')}",
            "Proxy: null",
        ]
    )
    name = code if code in lambda_errors() else "AWSLambdaException"
    return f"Lambda.{name}", f"{client_error.response['Error'].get('Message', '')} ({details})"


@cache
def lambda_errors() -> frozenset[str]:
    model = botocore.session.get_session().get_service_model("lambda")
    return frozenset(error.name for error in model.operation_model("Invoke").error_shapes)


class WaitClock:
    """What the Retry module sees as `time`: its `sleep` waits through the engine."""

    @staticmethod
    def sleep(seconds: float) -> None:
        current().sleep(seconds)


def _wait_state(self: Any, env: Any, wait_seconds: int) -> None:
    """moto's `WaitFunction._wait_interval`: a Wait state's seconds through the engine, until the execution stops."""
    current().sleep(wait_seconds, until=env.program_state_event)


def patch() -> None:
    """moto's interpreter for the server's requests, CloudFormation's state machines in its backend, the AWS calls
    and Retry waits of its executions the sandbox's; once per process."""
    if _patched:
        return
    responses.get_backend = _backend_for_the_caller(responses.get_backend)
    plain.stepfunctions_backends = ServerBackends(plain.stepfunctions_backends)  # type: ignore[assignment]
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and hasattr(module, "boto_client_for"):
            module.boto_client_for = _as_the_role(module.boto_client_for)  # type: ignore[attr-defined]
    parser = asl_parser.AmazonStateLanguageParser
    parser.parse = staticmethod(_percentages_as_numbers(parser.parse))  # type: ignore[method-assign]
    _errors_with_their_codes()
    backend = executing.StepFunctionsParserBackend
    backend.start_execution = _started(backend.start_execution)  # type: ignore[method-assign]
    setattr(retrier_decl, "time", WaitClock)  # noqa: B010  # the module's `time`, which mypy sees as private
    wait_function.WaitFunction._wait_interval = _wait_state  # type: ignore[method-assign]
    state_task_service_lambda.StateTaskServiceLambda._error_cause_from_client_error = staticmethod(lambda_error)  # type: ignore[method-assign]
    task = state_task_lambda.StateTaskLambda
    task._from_error = _lambda_task_error(task._from_error)  # type: ignore[method-assign]
    _patch_distributed_map()
    _patched.append(True)


def _percentages_as_numbers(parse: Any) -> Any:
    """The interpreter's grammar reads ToleratedFailurePercentage as a decimal only; the ASL makes it any number
    from 0 to 100 (CDK writes 50, not 50.0)."""

    def as_decimal(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: float(value)
                if key == "ToleratedFailurePercentage" and isinstance(value, int)
                else as_decimal(value)
                for key, value in node.items()
            }
        return [as_decimal(value) for value in node] if isinstance(node, list) else node

    def parsed(definition: str) -> Any:
        try:
            document = json.loads(definition)
        except ValueError:
            return parse(definition)  # the parser's own error
        return parse(json.dumps(as_decimal(document)))

    return parsed


def _errors_with_their_codes() -> None:
    """The interpreter's API errors (`code`, `status_code`, LocalStack's names) answer as moto's errors answer
    (`TYPE`, `STATUS`): InvalidExecutionInput, not an error of no type."""
    for error in vars(api).values():
        if isinstance(error, type) and issubclass(error, AWSError) and "code" in vars(error):
            error.TYPE, error.STATUS = vars(error)["code"], vars(error)["status_code"]


def _started(original: Any) -> Any:
    """StartExecution: the role admitted for the state machine first; an execution started without a name named by
    a UUID, as AWS names it (and moto's backend that does not execute; its interpreter names it "None", so that a
    second one already exists)."""

    def start_execution(self: Any, state_machine_arn: str, name: str | None = None, *rest: Any, **named: Any) -> Any:
        machine = self.describe_state_machine(state_machine_arn)
        current().admit(str(machine.roleArn), str(machine.arn))
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *rest, **named)

    return start_execution


def _lambda_task_error(original: Any) -> Any:
    """A task whose Resource is a bare function ARN fails on a refused call as the lambda:invoke integration does."""

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        error, cause = lambda_error(ex)
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # one detail per event, as moto makes them
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=error, cause=cause)
            ),
        )

    return from_error


# --- Distributed Map -------------------------------------------------------------------------------------------


def _patch_distributed_map() -> None:
    state = state_map.StateMap
    state._eval_execution = _results_written_when_the_map_run_fails(state._eval_execution)  # type: ignore[method-assign]
    distributed_item_processor_worker.DistributedItemProcessorWorker._eval_job = _eval_child  # type: ignore[method-assign]
    resource_eval_s3.ResourceEvalS3._handle_put_object = staticmethod(_write_results)  # type: ignore[method-assign]
    result_writer_decl.ResultWriter._eval_body = _result_writer_on_the_state_input  # type: ignore[method-assign]


def _eval_child(self: Any, env: Any, job: Any) -> None:
    """moto's `DistributedItemProcessorWorker._eval_job`, each item a child execution with its own record."""
    record = self._map_run_record
    counters = (record.item_counter, record.execution_counter)
    for counter in counters:
        counter.total.count()
        counter.running.count()
    child = Child(
        arn=record.map_run_arn.replace(":mapRun:", ":execution:").rsplit(":", 1)[0] + f":{uuid.uuid4()}",
        state_machine=record.map_state_machine_arn,
        input=job.job_input,
        start=utc_now(),
    )
    current().map_runs.setdefault(record.map_run_arn, MapRun(record.execution_arn, self._job_pool)).add(child)
    job_output = None
    env.event_manager = EventManager()  # the child's own history (moto keeps one for the whole Map Run)
    try:
        env.states.context_object.context_object_data["Map"] = MapData(
            Item=ItemData(Index=job.job_index, Value=job.job_input)
        )
        env.states.reset(job.job_input)
        env.stack.append(env.states.get_input())
        self._eval_input(env_frame=env)
        child.input = env.states.get_input()  # the item as the ItemSelector made it: the child's input
        job.job_program.eval(env)
        ended = env.program_state()
        if isinstance(ended, ProgramError):
            child.status = "FAILED"
            child.error, child.cause = (ended.error or {}).get("error"), (ended.error or {}).get("cause")
        elif isinstance(ended, ProgramStopped):
            child.status = "ABORTED"
        else:
            child.status, child.output = "SUCCEEDED", env.states.get_input()
            job_output = child.output
    except EvalTimeoutError:
        child.status, child.error = "TIMED_OUT", "States.Timeout"
    except FailureEventException as failed:
        child.status = "FAILED"
        child.error, child.cause = failed.extract_error_cause_pair() or (None, None)
    except Exception as failed:  # the interpreter's own fault: the child fails, as moto counts it
        child.status, child.error, child.cause = "FAILED", "States.Runtime", str(failed)
    finally:
        child.stop = utc_now()
        child.transitions = billed(env.event_manager.get_event_history())
        job.job_output = job_output
        for counter in counters:
            counter.running.offset(-1)
            {"SUCCEEDED": counter.succeeded, "ABORTED": counter.aborted, "TIMED_OUT": counter.timed_out}.get(
                child.status, counter.failed
            ).count()
            if child.status == "SUCCEEDED":
                counter.results_written.count()
        exceeded = past_tolerance(env, record, total=self._job_pool._jobs_number)
        if exceeded is not None:
            job.job_output = exceeded  # moto's pool ends on a job's exception: no item starts after it


def exceeds_tolerance(failed: int, total: int, count: int, percentage: float) -> bool:
    """Whether a Map Run with `failed` of `total` items failed or timed out fails: past a threshold the state sets
    (ToleratedFailureCount, ToleratedFailurePercentage), or past none at all when it sets neither (both default to
    0). A threshold left at 0 beside the other is read as not set: moto keeps no trace of which one the state set."""
    if failed == 0:
        return False
    limits = [failed > count] if count else []
    limits += [failed * 100 > percentage * total] if percentage else []
    return any(limits) if limits else True


def past_tolerance(env: Any, record: Any, total: int) -> FailureEventException | None:
    """The Map Run's failure once its failed and timed-out items exceed its thresholds (of all `total` items), as
    soon as they do: Step Functions then starts no other item (MapRunExecutionCounts, "aborted": children "stopped
    ... by Step Functions because the Map Run failed"; those running here finish)."""
    counts = record.item_counter
    failed = counts.failed.get() + counts.timed_out.get()
    if not exceeds_tolerance(failed, total, record.tolerated_failure_count, record.tolerated_failure_percentage):
        return None
    cause = "The specified tolerated failure threshold was exceeded"
    return FailureEventException(
        FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold),
            event_type=HistoryEventType.MapRunFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # one detail per event, as moto makes them
                mapRunFailedEventDetails=MapRunFailedEventDetails(
                    error=TOLERANCE_EXCEEDED, cause=f"{cause}: {failed}/{total}"
                )
            ),
        )
    )


def _results_written_when_the_map_run_fails(original: Any) -> Any:
    """A Map Run that fails past its tolerated failures still writes its results, unstarted items PENDING (the
    ResultWriter files a failed run leaves: SUCCEEDED_, FAILED_ and PENDING_0.json)."""

    def eval_execution(self: Any, env: Any) -> None:
        try:
            original(self, env)
        except FailureEventException as failed:
            past = failed.extract_error_cause_pair() or (None, None)
            if self.result_writer is not None and past[0] == TOLERANCE_EXCEEDED:
                env.stack.append([])  # the Map Run's outputs, which the records hold
                self.result_writer.eval(env)
                env.stack.pop()  # the writer's details: the state fails all the same
            raise

    return eval_execution


def _result_writer_on_the_state_input(self: Any, env: Any) -> None:
    """ResultWriter's Parameters read the Map state's input (aws-cdk-lib's ResultWriterV2 takes its Prefix from a
    path there), not the Map Run's outputs, which moto hands them."""
    outputs = env.stack.pop()
    env.stack.append(env.states.get_input())
    self.parargs.eval(env=env)
    parameters = env.stack.pop()
    env.stack.pop()
    env.stack += [outputs, parameters]
    self.resource_eval.eval_resource(env=env)


def _write_results(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    """ResultWriter's s3:putObject: the child execution records by status, then the manifest that lists them."""
    parameters = env.stack.pop()
    env.stack.pop()  # the Map Run's outputs: the records hold them
    record = env.map_run_record_pool_manager.get_all().pop()
    run_id = record.map_run_arn.split(":")[-1]
    prefix = str(parameters.get("Prefix") or "")
    prefix = f"{prefix}/" if prefix and not prefix.endswith("/") else prefix
    bucket = str(parameters["Bucket"])
    s3 = current().client_for(resource_runtime_part.region, "s3", str(state_credentials.role_arn))
    run = current().map_runs.get(record.map_run_arn)
    children = run.children if run is not None else []
    files: dict[str, list[JSON]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status, listed in files.items():
        records = [child.record() for child in children if _result_file_status(child.status) == status]
        records += run.unstarted() if run is not None and status == "PENDING" else []
        if not records:
            continue
        key, body = f"{prefix}{run_id}/{status}_0.json", json.dumps(records).encode()
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        listed.append({"Key": key, "Size": len(body)})
    manifest = {"DestinationBucket": bucket, "MapRunArn": record.map_run_arn, "ResultFiles": files}
    key = f"{prefix}{run_id}/manifest.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
    env.stack.append({"MapRunArn": record.map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": key}})


def billed(history: Any) -> int:
    """The state transitions of one execution's history: every state entered, and every retry of a task (its
    Task/LambdaFunction/Activity Scheduled events past the first of each task entered)."""
    types = [str(getattr(event["type"], "value", event["type"])) for event in history]  # moto's enum, or its name
    entered = sum(1 for kind in types if kind.endswith("StateEntered"))
    scheduled = sum(1 for kind in types if kind in SCHEDULED)
    return entered + max(0, scheduled - types.count("TaskStateEntered"))


def _result_file_status(status: str) -> str:
    """The file a child's record goes to: timed out and aborted children are failures; one still running when its
    Map Run failed is pending (the sandbox lets it finish where Step Functions would abort it)."""
    return {"SUCCEEDED": "SUCCEEDED", "RUNNING": "PENDING"}.get(status, "FAILED")
