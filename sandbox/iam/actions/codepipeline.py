"""CodePipeline: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscodepipeline.html"""

from __future__ import annotations

from collections.abc import Sequence

from moto.codepipeline.models import codepipeline_backends

from sandbox.iam.actions.rows import Context, Row, Table, arn, resource_tags
from sandbox.iam.model import Call


def pipeline(call: Call) -> Sequence[str]:
    return (arn(call, "codepipeline", call.params.get("pipelineName") or call.params["name"]),)


def stage(call: Call) -> Sequence[str]:
    """RollbackStage and the stage transitions act on the stage, `PIPELINE/STAGE`, not on the pipeline."""
    return (arn(call, "codepipeline", f"{call.params['pipelineName']}/{call.params['stageName']}"),)


def action(call: Call) -> Sequence[str]:
    """PutApprovalResult acts on the approval action, `PIPELINE/STAGE/ACTION`."""
    p = call.params
    return (arn(call, "codepipeline", f"{p['pipelineName']}/{p['stageName']}/{p['actionName']}"),)


def tags(call: Call, resource: str) -> Context:
    """The pipeline's tags, on the pipeline and on its stages and actions, which have none of their own."""
    name = resource.split(":", 5)[5].partition("/")[0]
    found = codepipeline_backends[call.account][call.region].pipelines.get(name)
    return resource_tags(found.tags) if found else {}


TABLE: Table = {
    # A job id is no ARN: the job actions have no resource type.
    "GetJobDetails": Row("codepipeline:GetJobDetails"),
    "PutJobSuccessResult": Row("codepipeline:PutJobSuccessResult"),
    "PutJobFailureResult": Row("codepipeline:PutJobFailureResult"),
    "GetPipeline": Row("codepipeline:GetPipeline", pipeline, tags),
    "GetPipelineState": Row("codepipeline:GetPipelineState", pipeline, tags),
    "GetPipelineExecution": Row("codepipeline:GetPipelineExecution", pipeline, tags),
    "ListPipelineExecutions": Row("codepipeline:ListPipelineExecutions", pipeline, tags),
    "StopPipelineExecution": Row("codepipeline:StopPipelineExecution", pipeline, tags),
    "StartPipelineExecution": Row("codepipeline:StartPipelineExecution", pipeline, tags),
    "ListActionExecutions": Row("codepipeline:ListActionExecutions", pipeline, tags),
    "DisableStageTransition": Row("codepipeline:DisableStageTransition", stage, tags),
    "EnableStageTransition": Row("codepipeline:EnableStageTransition", stage, tags),
    "RollbackStage": Row("codepipeline:RollbackStage", stage, tags),
    "PutApprovalResult": Row("codepipeline:PutApprovalResult", action, tags),
}
