"""The cleanup fan-out function's entry: the organization state machine's plan, scope and aggregate steps
(`{"step": "plan"|"scope"|"aggregate", ...}`); what each does is in steps.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from functions.shared.entry import entry

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from . import steps  # noqa: PLC0415 - cold import, as the cleanup function's flow

    return steps.invoked(event, context)
