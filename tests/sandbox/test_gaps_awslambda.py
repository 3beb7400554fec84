"""The sandbox's Lambda gaps: provisioned concurrency."""

from __future__ import annotations

from tests.support.sandbox_server import Client, error_code, published_function

# --- Lambda provisioned concurrency ------------------------------------------------------------------------------


def test_provisioned_concurrency_round_trip(client: Client) -> None:
    awslambda = client("lambda")
    name, version = published_function(client, "orders-api")
    awslambda.create_alias(FunctionName=name, Name="live", FunctionVersion=version)

    put = awslambda.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=5
    )
    assert (
        put["Status"],
        put["RequestedProvisionedConcurrentExecutions"],
        put["AllocatedProvisionedConcurrentExecutions"],
    ) == (
        "READY",
        5,
        5,
    )
    got = awslambda.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert got["AllocatedProvisionedConcurrentExecutions"] == 5
    [listed] = awslambda.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert listed["FunctionArn"].endswith(f":function:{name}:live")
    assert listed["RequestedProvisionedConcurrentExecutions"] == 5

    awslambda.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert error_code(lambda: awslambda.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")) == (
        "ProvisionedConcurrencyConfigNotFoundException"
    )
    assert awslambda.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []
    latest = awslambda.put_provisioned_concurrency_config
    assert error_code(lambda: latest(FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1)) == (
        "InvalidParameterValueException"
    )
    assert error_code(lambda: latest(FunctionName="nope", Qualifier="1", ProvisionedConcurrentExecutions=1)) == (
        "ResourceNotFoundException"
    )
    assert error_code(lambda: latest(FunctionName=name, Qualifier="missing", ProvisionedConcurrentExecutions=1)) == (
        "ResourceNotFoundException"
    )
