"""The `switches` function's entry; what it does is in flow.py.

The switch models, the runtime and the AWS adapters load on the first invocation, as the gating
functions' do, so importing this module costs little more than the entry decorator (make bench prints
the figure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from functions.shared.entry import entry

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@entry
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    from . import flow  # noqa: PLC0415 - cold import with flow.py 1139 M instructions, this module 341 M, boto3 689 M (coldstart --instructions)

    return flow.invoked(event, context)
