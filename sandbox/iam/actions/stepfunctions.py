"""AWS Step Functions: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html

Each operation names its resource by ARN in its input: the state machine (stateMachineArn), the execution
(executionArn) or the Map Run (mapRunArn).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sandbox.iam.actions.rows import Row, Table
from sandbox.iam.model import Call


def named(*fields: str) -> Callable[[Call], Sequence[str]]:
    """The ARN the call names in the first of `fields` it sends."""

    def resources(call: Call) -> Sequence[str]:
        return (next(str(call.params[name]) for name in fields if call.params.get(name)),)

    return resources


STATE_MACHINE, EXECUTION, MAP_RUN = named("stateMachineArn"), named("executionArn"), named("mapRunArn")

TABLE: Table = {
    "StartExecution": Row("states:StartExecution", STATE_MACHINE),
    "DescribeStateMachine": Row("states:DescribeStateMachine", STATE_MACHINE),
    "ListStateMachines": Row("states:ListStateMachines"),
    "ListExecutions": Row("states:ListExecutions", named("stateMachineArn", "mapRunArn")),
    "DescribeExecution": Row("states:DescribeExecution", EXECUTION),
    "DescribeStateMachineForExecution": Row("states:DescribeStateMachineForExecution", EXECUTION),
    "StopExecution": Row("states:StopExecution", EXECUTION),
    "GetExecutionHistory": Row("states:GetExecutionHistory", EXECUTION),
    "ListMapRuns": Row("states:ListMapRuns", EXECUTION),
    "DescribeMapRun": Row("states:DescribeMapRun", MAP_RUN),
}
