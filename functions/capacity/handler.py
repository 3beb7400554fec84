"""The `capacity` function's entry; what it does is in invocation.py.

The policy's pydantic models, the runtime and the AWS adapters load on the first invocation, as the gating
functions' do, so importing this module costs little more than boto3, which every function loads at init
(functions/shared/init_phase.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from functions.shared.entry import entry
from functions.shared.init_phase import first_imports

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    with first_imports():
        from . import invocation  # noqa: PLC0415 - init is boto3 +12.1 ms, the cold path with this import boto3 +60.5 ms (make bench)

    return invocation.invoked(event, context)
