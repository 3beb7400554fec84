"""`python -m benchmarks.deckhand_run EVENT OUT`: one invocation of the cleanup function, as Lambda would make it.

The bench runs this as its own process, so the wall clock and peak memory it measures are the function's.
The answer goes to the file OUT: the function's JSON logs and metrics take standard output.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

FUNCTION = "deckhand-cleanup"
TIMEOUT_MS = 900_000  # Lambda's longest timeout: the bench measures one uninterrupted run


@dataclass
class Context:
    """Enough of a LambdaContext for the handler and Powertools."""

    function_name: str = FUNCTION
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
    aws_request_id: str = field(default_factory=lambda: secrets.token_hex(16))
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return TIMEOUT_MS - int((time.monotonic() - self.started) * 1000)


def main() -> None:
    event, out = json.loads(sys.argv[1]), Path(sys.argv[2])
    context = Context()
    from functions.cleanup.handler import handler

    imported = time.monotonic()
    answer = handler(event, context)
    out.write_text(
        json.dumps({"answer": answer, "import_s": imported - context.started, "run_s": time.monotonic() - imported})
    )


if __name__ == "__main__":
    main()
