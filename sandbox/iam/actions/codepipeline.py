"""CodePipeline: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscodepipeline.html"""

from __future__ import annotations

from collections.abc import Sequence

from sandbox.iam.actions.rows import Row, Table, arn
from sandbox.iam.model import Call


def pipeline(call: Call) -> Sequence[str]:
    return (arn(call, "codepipeline", call.params.get("pipelineName") or call.params["name"]),)


def stage(call: Call) -> Sequence[str]:
    """RollbackStage acts on the stage, `PIPELINE/STAGE`, not on the pipeline."""
    return (arn(call, "codepipeline", f"{call.params['pipelineName']}/{call.params['stageName']}"),)


def action(call: Call) -> Sequence[str]:
    """PutApprovalResult acts on the approval action, `PIPELINE/STAGE/ACTION`."""
    p = call.params
    return (arn(call, "codepipeline", f"{p['pipelineName']}/{p['stageName']}/{p['actionName']}"),)


TABLE: Table = {
    # A job id is no ARN: the job actions have no resource type.
    "GetJobDetails": Row("codepipeline:GetJobDetails"),
    "PutJobSuccessResult": Row("codepipeline:PutJobSuccessResult"),
    "PutJobFailureResult": Row("codepipeline:PutJobFailureResult"),
    "GetPipeline": Row("codepipeline:GetPipeline", pipeline),
    "GetPipelineState": Row("codepipeline:GetPipelineState", pipeline),
    "GetPipelineExecution": Row("codepipeline:GetPipelineExecution", pipeline),
    "ListPipelineExecutions": Row("codepipeline:ListPipelineExecutions", pipeline),
    "StopPipelineExecution": Row("codepipeline:StopPipelineExecution", pipeline),
    "RollbackStage": Row("codepipeline:RollbackStage", stage),
    "PutApprovalResult": Row("codepipeline:PutApprovalResult", action),
}
