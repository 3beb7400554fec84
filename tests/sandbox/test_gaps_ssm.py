"""The sandbox's SSM and KMS gaps: the seeded Powertools layer and parameter; a tagged stack's key and parameter."""

from __future__ import annotations

import json
import uuid

from sandbox.gaps.ssm import seed_powertools
from tests.support.sandbox_server import Client, function_zip, lambda_role

ACCOUNT = "123456789012"
REGION = "us-east-1"


# --- Powertools ------------------------------------------------------------------------------------------------


def test_seeded_powertools_serves_a_stack_that_creates_and_updates(client: Client) -> None:
    arn = seed_powertools("3.99.0", ACCOUNT, REGION)
    assert arn == f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:1"
    assert seed_powertools("3.99.0", ACCOUNT, REGION) == arn
    reserved = "/aws/service/powertools/python/arm64/python3.14/3.99.0"
    assert client("ssm").get_parameter(Name=reserved)["Parameter"]["Value"] == arn
    layer = client("lambda").get_layer_version(LayerName="AWSLambdaPowertoolsPythonV3-python314-arm64", VersionNumber=1)
    assert (layer["CompatibleRuntimes"], layer["CompatibleArchitectures"]) == (["python3.14"], ["arm64"])

    bucket = f"assets-{uuid.uuid4().hex[:8]}"
    client("s3").create_bucket(Bucket=bucket)
    client("s3").put_object(Bucket=bucket, Key="code.zip", Body=function_zip())
    role = lambda_role(client)
    function = f"gate-{uuid.uuid4().hex[:6]}"

    def template(memory: int) -> str:
        return json.dumps(
            {
                "Parameters": {"Powertools": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": reserved}},
                "Resources": {
                    "Gate": {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "FunctionName": function,
                            "Runtime": "python3.14",
                            "Handler": "app.handler",
                            "Role": role,
                            "MemorySize": memory,
                            "Code": {"S3Bucket": bucket, "S3Key": "code.zip"},
                            "Layers": [{"Ref": "Powertools"}],
                        },
                    }
                },
            }
        )

    cloudformation = client("cloudformation")
    stack = f"deckhand-{uuid.uuid4().hex[:6]}"
    cloudformation.create_stack(StackName=stack, TemplateBody=template(256))
    assert cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    cloudformation.update_stack(StackName=stack, TemplateBody=template(512))
    assert cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"
    configuration = client("lambda").get_function_configuration(FunctionName=function)
    assert configuration["MemorySize"] == 512
    assert [layer["Arn"].split(":", 5)[5] for layer in configuration["Layers"]] == [arn.split(":", 5)[5]]


def test_a_tagged_stack_with_a_kms_key_and_an_ssm_parameter_deploys(client: Client) -> None:
    tags = [{"Key": "deckhand:managed-by", "Value": "deckhand"}]
    template = {
        "Resources": {
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Version": "2012-10-17"}, "Tags": tags}},
            "Switch": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": "/tagged/switch",
                    "Type": "String",
                    "Value": "{}",
                    "Tags": {"deckhand:managed-by": "deckhand"},
                },
            },
        }
    }
    cloudformation = client("cloudformation")
    cloudformation.create_stack(StackName="tagged", TemplateBody=json.dumps(template))
    assert cloudformation.describe_stacks(StackName="tagged")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    [key] = client("kms").list_keys()["Keys"]
    assert client("kms").list_resource_tags(KeyId=key["KeyId"])["Tags"] == [
        {"TagKey": "deckhand:managed-by", "TagValue": "deckhand"}
    ]
    listed = client("ssm").list_tags_for_resource(ResourceType="Parameter", ResourceId="/tagged/switch")
    assert listed["TagList"] == [{"Key": "deckhand:managed-by", "Value": "deckhand"}]
