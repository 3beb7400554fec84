"""Lambda gaps: provisioned concurrency (moto stubs it), and where a failed asynchronous invocation goes: moto
drops a function's DeadLetterConfig and has no AWS::Lambda::EventInvokeConfig, so the sandbox could not see (nor
authorize) either path. A Lambda permission's statement drops FunctionName, as Lambda's does.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import unquote

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaFunction
from moto.awslambda.models import Permission as LambdaPermission
from moto.awslambda.utils import get_backend as lambda_backend
from moto.core.common_models import CloudFormationModel
from werkzeug.wrappers import Request, Response

from sandbox.gaps.cloudformation import CfnAttachment
from sandbox.gaps.common import JSON, ApiError, caller, rest_json, utc_now
from sandbox.iam.model import Call

PROVISIONED_OPERATIONS = (
    "PutProvisionedConcurrencyConfig",
    "GetProvisionedConcurrencyConfig",
    "DeleteProvisionedConcurrencyConfig",
    "ListProvisionedConcurrencyConfigs",
)
ProvisionedConfigs = dict[tuple[str, str, str, str], JSON]  # (account, region, function, qualifier) -> config


def provisioned_concurrency(configs: ProvisionedConfigs, request: Request, call: Call) -> Response:
    """Lambda's answer to a provisioned concurrency operation, or its error (the caller holds the store's lock)."""
    try:
        return _provisioned_concurrency(configs, request, call)
    except ApiError as error:
        return Response(
            json.dumps({"Type": "User", "message": error.message}),
            status=error.status,
            content_type="application/json",
            headers={"x-amzn-ErrorType": error.code},
        )


def _provisioned_concurrency(configs: ProvisionedConfigs, request: Request, call: Call) -> Response:
    account, region = caller(request)
    name = unquote(str(call.params["FunctionName"]))
    if name.startswith("arn:"):
        name = name.split(":")[6]
    backend = lambda_backend(account, region)
    try:
        function = backend.get_function(name)
    except LambdaClientError:
        raise ApiError("ResourceNotFoundException", f"Function not found: {name}", 404) from None
    if call.operation == "ListProvisionedConcurrencyConfigs":
        listed = [
            {key: value for key, value in config.items() if key != "Qualifier"}
            for (acc, reg, fn, _), config in sorted(configs.items())
            if (acc, reg, fn) == (account, region, name)
        ]
        return rest_json({"ProvisionedConcurrencyConfigs": listed})
    qualifier = request.args.get("Qualifier", "")
    if not qualifier or qualifier == "$LATEST":
        raise ApiError(
            "InvalidParameterValueException",
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
        )
    try:
        backend.get_function(name, qualifier)
    except LambdaClientError:
        raise ApiError(
            "ResourceNotFoundException", f"Function not found: {function.function_arn}:{qualifier}", 404
        ) from None
    key = (account, region, name, qualifier)
    if call.operation == "PutProvisionedConcurrencyConfig":
        payload: JSON = request.get_json(silent=True) or {}
        requested = payload.get("ProvisionedConcurrentExecutions")
        if not isinstance(requested, int) or requested < 1:
            raise ApiError("InvalidParameterValueException", "ProvisionedConcurrentExecutions must be at least 1")
        config: JSON = {
            "FunctionArn": f"{function.function_arn}:{qualifier}",
            "Qualifier": qualifier,
            "RequestedProvisionedConcurrentExecutions": requested,
            "AvailableProvisionedConcurrentExecutions": requested,
            "AllocatedProvisionedConcurrentExecutions": requested,
            "Status": "READY",
            "LastModified": utc_now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
        }
        configs[key] = config
        return rest_json({k: v for k, v in config.items() if k not in ("FunctionArn", "Qualifier")}, 202)
    if call.operation == "DeleteProvisionedConcurrencyConfig":
        configs.pop(key, None)
        return Response(status=204)
    found = configs.get(key)
    if found is None:
        raise ApiError(
            "ProvisionedConcurrencyConfigNotFoundException",
            f"No Provisioned Concurrency Config found for this function: {function.function_arn}:{qualifier}",
            404,
        )
    return rest_json({k: v for k, v in found.items() if k not in ("FunctionArn", "Qualifier")})


LAMBDA_EVENT_INVOKE_CONFIG_KEYS = ("DestinationConfig", "MaximumEventAgeInSeconds", "MaximumRetryAttempts")


def _keep_dead_letter_config() -> None:
    """A function keeps its DeadLetterConfig (from CreateFunction, UpdateFunctionConfiguration or its template)
    and GetFunctionConfiguration answers it, as Lambda does."""
    original_configuration = LambdaFunction.get_configuration
    if getattr(original_configuration, "deckhand_dead_letters", False):
        return
    original_init, original_update = LambdaFunction.__init__, LambdaFunction.update_configuration
    original_create = LambdaFunction.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def init(self: LambdaFunction, account_id: str, spec: JSON, region: str, version: str | int = 1) -> None:
        original_init(self, account_id, spec, region, version)
        self.dead_letter_config = spec.get("DeadLetterConfig")  # type: ignore[attr-defined]

    def configuration(self: LambdaFunction, on_create: bool = False) -> JSON:
        answer = original_configuration(self, on_create)
        if getattr(self, "dead_letter_config", None):
            answer["DeadLetterConfig"] = self.dead_letter_config  # type: ignore[attr-defined]
        return answer

    def update(self: LambdaFunction, config_updates: JSON) -> JSON:
        if "DeadLetterConfig" in config_updates:
            self.dead_letter_config = config_updates["DeadLetterConfig"]  # type: ignore[attr-defined]
        return original_update(self, config_updates)

    def create(cls: Any, /, name: str, template: JSON, account_id: str, region_name: str, **kwargs: Any) -> Any:
        function = original_create(cls, name, template, account_id, region_name, **kwargs)
        function.dead_letter_config = template.get("Properties", {}).get("DeadLetterConfig")
        return function

    configuration.deckhand_dead_letters = True  # type: ignore[attr-defined]
    LambdaFunction.__init__ = init  # type: ignore[method-assign]
    LambdaFunction.get_configuration = configuration  # type: ignore[method-assign]
    LambdaFunction.update_configuration = update  # type: ignore[method-assign]
    LambdaFunction.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign, assignment]


def _permission_without_function_name() -> None:
    """moto's AWS::Lambda::Permission copies its template properties into the function policy, FunctionName and
    all; Lambda's policy statement holds no such key (and IAM rejects a statement that does)."""
    original = LambdaPermission.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
    if getattr(original, "deckhand_statement", False):
        return

    def create(cls: Any, /, name: str, template: JSON, account_id: str, region_name: str, **kwargs: Any) -> Any:
        properties = dict(template["Properties"])
        function = lambda_backend(account_id, region_name).get_function(properties.pop("FunctionName"))
        function.policy.add_statement(raw=json.dumps(properties))
        return cls(region=region_name)

    create.deckhand_statement = True  # type: ignore[attr-defined]
    LambdaPermission.create_from_cloudformation_json = classmethod(create)  # type: ignore[method-assign, assignment]


class CfnEventInvokeConfig(CfnAttachment, CloudFormationModel):
    """AWS::Lambda::EventInvokeConfig, put through moto's Lambda backend (PutFunctionEventInvokeConfig)."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @classmethod
    def attach(cls, properties: JSON, account_id: str, region_name: str, *, removing: bool = False) -> None:
        backend = lambda_backend(account_id, region_name)
        if removing:
            with contextlib.suppress(LambdaClientError):  # the function went first
                backend.delete_function_event_invoke_config(properties["FunctionName"])
            return
        config = {key: properties[key] for key in LAMBDA_EVENT_INVOKE_CONFIG_KEYS if key in properties}
        for limit in ("MaximumEventAgeInSeconds", "MaximumRetryAttempts"):
            if limit in config:
                config[limit] = int(config[limit])  # the template may carry them as strings
        backend.put_function_event_invoke_config(properties["FunctionName"], config)


def patch() -> None:
    """Teach moto's Lambda what the sandbox needs of it (each patch applies once per process)."""
    _keep_dead_letter_config()
    _permission_without_function_name()
