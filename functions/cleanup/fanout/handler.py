"""The cleanup fan-out function's entry: the organization state machine's plan, scope and aggregate steps
(`{"step": "plan"|"scope"|"aggregate", ...}`); what each does is in steps.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from functions.shared.entry import entry
from functions.shared.init_phase import first_imports

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    with first_imports():
        from . import steps  # noqa: PLC0415 - init is boto3 +12.8 ms, the cold path with this import boto3 +67.3 ms (make bench)

    return steps.invoked(event, context)
