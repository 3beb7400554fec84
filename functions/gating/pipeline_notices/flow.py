"""The `pipeline_notices` function: say what happened when a gated pipeline fails or is stopped.

On `CodePipeline Pipeline Execution State Change` FAILED or STOPPED for a pipeline the policy gates,
it reads the execution (GetPipelineExecution) and, for a failure, which action failed and its error
(GetPipelineState); for a stop, the reason whoever stopped it gave (ListPipelineExecutions'
`stopTrigger.reason`: GetPipelineExecution does not return it), then notifies what, why, what to do
next, with the console link, and records the notice. A job the gate failed arrives here too: its message
already says what to do. Notices are not actions, so the pause switches do not silence them.
"""

from __future__ import annotations

from typing import Any

from functions.gating import pipeline
from functions.gating.config import gating
from functions.gating.pipeline import AwsPipelines, Pipelines
from functions.gating.policy import Gating
from functions.shared.audit import AuditRecord, new_id
from functions.shared.observability import ignored_and_counted, logger
from functions.shared.runtime import Runtime, runtime

from .notice import DUTY, ended_of, failed, stopped


def not_ours(reason: str) -> dict[str, Any]:
    return ignored_and_counted(reason, by="pipeline notices", metric="PipelineNoticeIgnored")


def run(
    event: Any, rt: Runtime, policy: Gating, correlation_id: str = "", pipelines: Pipelines | None = None
) -> dict[str, Any]:
    """The testable core: CodePipeline through AwsPipelines unless another is given (the tests' twin)."""
    ended = ended_of(event)
    if ended is None:
        return not_ours("not a pipeline execution that FAILED or was STOPPED")
    if not any(gate.pipeline == ended.pipeline for gate in policy.gates):
        return not_ours(f"{ended.pipeline} is not gated by the policy")
    reading = pipelines or AwsPipelines()
    execution = reading.find_execution(ended.pipeline, ended.execution_id)
    if ended.state == "FAILED":
        action = pipeline.failed_action(reading.pipeline_state(ended.pipeline), ended.execution_id)
        notice = failed(ended, execution, action)
    else:
        notice = stopped(ended, execution, reading.stop_trigger_reason(ended.pipeline, ended.execution_id))
    message_id = rt.notifier.send(notice)
    record = AuditRecord(
        duty=DUTY,
        action="notice",
        subject=f"pipeline/{ended.pipeline}",
        outcome="notified",
        reason=notice.subject,
        dry_run=False,
        at=rt.clock(),
        inputs={"event_id": ended.event_id, "state": ended.state, "execution_id": ended.execution_id},
        after={"what": notice.what, "why": notice.why[:2000], "next": notice.next_step, "message_id": message_id},
        correlation_id=correlation_id,
        id=new_id(),
    )
    rt.audit.record(record)
    logger.info("pipeline notice", extra={"pipeline": ended.pipeline, "state": ended.state})
    return {"status": "notified", "subject": notice.subject, "audit_id": record.id}


def invoked(event: Any, correlation_id: str) -> dict[str, Any]:
    """The work of one invocation, with the container's runtime and policy."""
    return run(event, runtime(), gating(), correlation_id=correlation_id)
