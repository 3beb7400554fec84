"""Every Deckhand function gets the same runtime, logging, tracing and safety nets."""

import json
from pathlib import Path

from aws_cdk.assertions import Match, Template

from functions.shared.policy_base import LOG_RETENTION_DAYS
from stacks.core import ASSET_EXCLUDE, powertools_layer_parameter
from stacks.deckhand_stack import DeckhandStack
from stacks.function import RETENTION
from stacks.versions import pinned_version


def functions(template: Template) -> dict[str, dict]:
    return template.find_resources("AWS::Lambda::Function")


def test_functions_run_the_current_python_on_arm64_with_tracing_and_json_logs(template: Template) -> None:
    assert functions(template)
    for function in functions(template).values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert "Ref" in props["LoggingConfig"]["LogGroup"]
        assert "TargetArn" in props["DeadLetterConfig"]
        assert props["Handler"].startswith("functions.")


def test_powertools_comes_from_the_public_layer_of_the_pinned_version(template: Template) -> None:
    version = pinned_version("aws-lambda-powertools")
    assert version.count(".") == 2
    parameters = template.to_json()["Parameters"]
    layer_parameters = [p for p in parameters.values() if p.get("Default") == powertools_layer_parameter(version)]
    assert len(layer_parameters) == 1
    assert layer_parameters[0]["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert powertools_layer_parameter(version) == f"/aws/service/powertools/python/arm64/python3.14/{version}"


def test_log_groups_are_explicit_with_retention_and_no_log_retention_resource(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": "/aws/lambda/deckhand-switches", "RetentionInDays": 30}
    )
    assert template.find_resources("Custom::LogRetention") == {}


def test_every_policy_retention_value_maps_to_a_cdk_retention() -> None:
    assert set(RETENTION) == set(LOG_RETENTION_DAYS)


def test_async_failures_go_to_a_dead_letter_queue_and_an_on_failure_destination(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "MaximumRetryAttempts": 2,
            "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}},
        },
    )
    template.has_resource_properties("AWS::SQS::Queue", {"QueueName": "deckhand-switches-dlq"})


def test_each_function_has_an_error_alarm_that_notifies_the_topic(template: Template) -> None:
    alarms = template.find_resources("AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "Errors"}})
    assert len(alarms) == len(functions(template))
    topic = next(iter(template.find_resources("AWS::SNS::Topic")))
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]


def test_roles_use_no_managed_policy_and_write_only_their_own_logs(template: Template) -> None:
    for role in template.find_resources("AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    log_statements = [s for s in statements if "logs:PutLogEvents" in json.dumps(s["Action"])]
    assert log_statements
    for statement in log_statements:
        assert statement["Resource"] != "*"


def test_the_asset_holds_the_functions_package_and_nothing_else(synthesized: tuple[DeckhandStack, Path]) -> None:
    _, outdir = synthesized
    [asset] = [path for path in outdir.glob("asset.*") if path.is_dir()]
    top = {path.name for path in asset.iterdir() if any(path.rglob("*.py")) or path.is_file()}
    assert top == {"functions"}, f"the function asset holds {sorted(top)}; check ASSET_EXCLUDE in stacks/core.py"
    for module in ("functions/shared/clients.py", "functions/switches/handler.py"):
        assert (asset / module).is_file(), f"the function asset lacks {module}; check ASSET_EXCLUDE in stacks/core.py"
    assert not list(asset.rglob("__pycache__"))
    assert "*" in ASSET_EXCLUDE


def test_handlers_named_in_the_template_exist_in_the_asset(
    template: Template, synthesized: tuple[DeckhandStack, Path]
) -> None:
    _, outdir = synthesized
    [asset] = [path for path in outdir.glob("asset.*") if path.is_dir()]
    for function in functions(template).values():
        module, _, attribute = function["Properties"]["Handler"].rpartition(".")
        source = asset / (module.replace(".", "/") + ".py")
        assert source.is_file(), f"{source} named by a handler is not in the asset"
        assert f"def {attribute}(" in source.read_text()
