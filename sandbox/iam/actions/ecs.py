"""Amazon ECS: SAR https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html"""

from __future__ import annotations

from collections.abc import Sequence

from moto.ecs.models import ecs_backends

from sandbox.iam.actions.rows import MOTO_ERRORS, Context, Row, Table, arn, pairs, resource_tags
from sandbox.iam.model import Call


def cluster_arn(call: Call) -> str:
    cluster = str(call.params.get("cluster") or "default")
    return cluster if cluster.startswith("arn:") else arn(call, "ecs", f"cluster/{cluster}")


def _in_cluster(call: Call, kind: str, names: Sequence[str]) -> list[str]:
    cluster = cluster_arn(call).rpartition("/")[2]
    return [name if name.startswith("arn:") else arn(call, "ecs", f"{kind}/{cluster}/{name}") for name in names]


def services(call: Call) -> Sequence[str]:
    return _in_cluster(call, "service", call.params.get("services") or [call.params["service"]])


def tasks(call: Call) -> Sequence[str]:
    return _in_cluster(call, "task", call.params["tasks"])


def named(call: Call) -> Sequence[str]:
    return (call.params["resourceArn"],)


def in_cluster(call: Call, resource: str) -> Context:
    """ecs:cluster, the cluster's ARN: on "*" it is what scopes ListTasks and ListServices."""
    return {"ecs:cluster": cluster_arn(call)}


def tagged(call: Call, resource: str) -> Context:
    try:
        found = ecs_backends[call.account][call.region].list_tags_for_resource(resource)
    except (*MOTO_ERRORS, NotImplementedError):  # a resource moto does not hold (a task: NotImplementedError)
        found = []
    return resource_tags(pairs(found, "key", "value"), "ecs")


def tagged_in_cluster(call: Call, resource: str) -> Context:
    return {**in_cluster(call, resource), **tagged(call, resource)}


TABLE: Table = {
    "ListClusters": Row("ecs:ListClusters"),
    "ListServices": Row("ecs:ListServices", context=in_cluster),
    # By cluster (or service), ListTasks names no container instance: "*", scoped by ecs:cluster
    # (cdklabs/construct-hub#1207; a grant on container-instance/* does not match).
    "ListTasks": Row("ecs:ListTasks", context=in_cluster),
    "DescribeServices": Row("ecs:DescribeServices", services, tagged_in_cluster),
    "DescribeTasks": Row("ecs:DescribeTasks", tasks, tagged_in_cluster),
    "DescribeTaskDefinition": Row("ecs:DescribeTaskDefinition"),
    "UpdateService": Row("ecs:UpdateService", services, tagged_in_cluster),
    "ListTagsForResource": Row("ecs:ListTagsForResource", named, tagged),
}
