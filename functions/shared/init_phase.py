"""What every Deckhand function does in Lambda's init phase, before anything else (entry.py imports it first).

- **The SDK loads here**, although the handlers reach it only through what their first invocation imports: every
  function needs it, and AWS's Lambda best practices put SDK setup outside the handler. Loaded first, its module
  bodies also run at the shallowest import depth. Measured on CPython 3.11 (the bench's; Lambda runs the stacks'
  LAMBDA_RUNTIME, a later CPython): nested under the first invocation's imports, urllib3's
  regular-expression compiles straddled one of the interpreter's frame-stack chunk boundaries, 3,000 to 4,300 more
  munmap calls (a chunk freed and mapped again each time) and 15 to 40 ms more on the approver's, capacity's and
  fan-out's cold paths (strace -c; make bench prints the paths).
- **The cyclic garbage collector waits for the cold imports.** In a Lambda execution environment it is paused from
  here until the handler's `first_imports()` block ends, and what the imports made is then frozen (gc.freeze):
  modules, classes and models live as long as the environment, so the full collections that scanned them again
  and again during the imports have nothing to free there, and no later full collection scans them. 5 to 11 ms
  off each cold path on CPython 3.11 (make bench). Only where Lambda's runtime API is (AWS_LAMBDA_RUNTIME_API, a
  variable Lambda reserves): the sandbox, the tests and the CDK app import this module with the collector left
  alone.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

PAUSED = bool(os.environ.get("AWS_LAMBDA_RUNTIME_API")) and gc.isenabled()
if PAUSED:
    gc.disable()

import boto3  # noqa: E402, F401 - after the pause, as the docstring says


@contextmanager
def first_imports() -> Iterator[None]:
    """Brackets a handler's imports on its first invocation; the collector resumes when they are done, or failed."""
    try:
        yield
    finally:
        if PAUSED:
            _resume_collector()


@cache  # once: a later pause by other code is not this module's to undo
def _resume_collector() -> None:
    gc.freeze()
    gc.enable()
