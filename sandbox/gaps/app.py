"""The sandbox server's application: AWS's authorizer first, then the gap fillers, then moto.

A request is read once as the API call it is (`sandbox.iam.requests.parse_call`, botocore's models for every
protocol); the dispatch table `(service, operation) -> handler` answers what moto lacks, and everything else
goes to moto, as LocalStack's providers do over its services.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server as werkzeug_make_server
from werkzeug.wrappers import Request, Response

from sandbox.gaps import (
    autoscaling,
    awslambda,
    bus,
    cloudformation,
    cloudwatch,
    codepipeline,
    control,
    events,
    invoke,
    kms,
    scheduler,
    sns,
    sqs,
    ssm,
    stepfunctions,
)
from sandbox.gaps.failures import injected_failure, unprocessed_items
from sandbox.gaps.store import Store
from sandbox.iam import actions, enforce, requests
from sandbox.iam.model import Call

# What the gap fillers answer of a call: its response, given the request and the call it makes.
Handler = Callable[[Request, Call], Response]

# The resource types moto's CloudFormation skips, created by the sandbox.
CLOUDFORMATION_MODELS = (
    awslambda.CfnEventInvokeConfig,
    cloudformation.CfnStackSet,
    cloudwatch.CfnAlarm,
    events.CfnEventBusPolicy,
    scheduler.CfnScheduleGroup,
    scheduler.CfnSchedule,
    sns.CfnTopicPolicy,
    sqs.CfnQueuePolicy,
)

CALL = "sandbox.call"  # the WSGI environ key that holds the request's call, read once


def read_call(environ: WSGIEnvironment) -> Call | None:
    """The request's API call, read once for the authorizer and the dispatch."""
    if CALL not in environ:
        environ[CALL] = requests.parse_call(environ)
    found: Call | None = environ[CALL]
    return found


def handlers(store: Store, moto_app: WSGIApplication) -> Mapping[tuple[str, str], Handler]:
    """(botocore's service name, operation) -> the gap filler that answers it instead of moto (or after it)."""

    def locked(handler: Handler) -> Handler:
        def answer(request: Request, call: Call) -> Response:
            with store.lock:
                return handler(request, call)

        return answer

    return {
        **{
            ("codepipeline", operation): locked(partial(codepipeline.answer, store.pipelines))
            for operation in codepipeline.OPERATIONS
        },
        **{
            ("lambda", operation): locked(partial(awslambda.provisioned_concurrency, store.provisioned))
            for operation in awslambda.PROVISIONED_OPERATIONS
        },
        ("lambda", "Invoke"): partial(invoke.answer, store.functions),  # unlocked: the handler calls back in
        ("events", "PutEvents"): partial(bus.put_events, store.bus),  # unlocked: the bus delivers on its own worker
        ("cloudwatch", "PutCompositeAlarm"): cloudwatch.put_composite_alarm,
        ("cloudwatch", "SetAlarmState"): partial(
            cloudwatch.set_alarm_state, store.bus, store.mute_rules, moto_app
        ),  # unlocked too
        **{
            ("cloudwatch", operation): locked(partial(cloudwatch.mute_rules, store.mute_rules))
            for operation in cloudwatch.MUTE_RULE_OPERATIONS
        },
        ("autoscaling", "DescribeInstanceRefreshes"): autoscaling.no_instance_refreshes,
        **{
            ("organizations", operation): partial(cloudformation.follow_the_organization, moto_app)
            for operation in cloudformation.MEMBERSHIP_OPERATIONS
        },
        **{("application-autoscaling", operation): autoscaling.tags for operation in autoscaling.TAG_OPERATIONS},
    }


class SandboxApp:
    """WSGI middleware: answers the gaps itself and hands everything else to moto."""

    def __init__(
        self, moto_app: WSGIApplication, store: Store | None = None, enforcer: enforce.Enforcer | None = None
    ) -> None:
        self.moto_app = moto_app
        self.store = store or Store()
        self.enforcer = enforcer  # AWS's authorizer, consulted before anything else; None serves unenforced
        self.handlers = handlers(self.store, moto_app)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with stepfunctions.serving_request():
            return self.answer(environ, start_response)

    def answer(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        refused = self.enforcer.refusal(environ) if self.enforcer is not None else None
        if refused is not None:
            return refused(environ, start_response)
        failures = self.store.failures
        partial_write = unprocessed_items(failures, environ, self.moto_app) if failures.pending else None
        if partial_write is not None:
            return partial_write(environ, start_response)
        failed = injected_failure(failures, environ) if failures.pending else None
        if failed is not None:
            return failed(environ, start_response)
        if environ.get("PATH_INFO", "").startswith(control.PREFIX):
            return control.answer(self.store, self.enforcer, Request(environ))(environ, start_response)
        call = read_call(environ)
        handler = self.handlers.get((call.service, call.operation)) if call is not None else None
        if call is None or handler is None:
            return self.moto_app(environ, start_response)
        return handler(Request(environ), call)(environ, start_response)


def make_app() -> SandboxApp:
    """moto's server application (as `ThreadedMotoServer` builds it) wrapped by the gap fillers and IAM."""
    awslambda.patch()
    kms.patch()
    ssm.patch()
    stepfunctions.patch()
    cloudformation.let_moto_see(CLOUDFORMATION_MODELS)
    store = Store()
    enforcer = enforce.Enforcer(store.simulator, parse_call=read_call, requests_for=actions.requests_for)
    return SandboxApp(DomainDispatcherApplication(create_backend_app), store, enforcer)


def make_server(host: str, port: int, app: WSGIApplication | None = None) -> BaseWSGIServer:
    """A threaded server for `app` (default `make_app()`), with moto's request handler; port 0 picks one.

    A sandbox app learns its own URL here, once the port is bound: the functions it runs call back to it."""
    app = app or make_app()
    server = werkzeug_make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    if isinstance(app, SandboxApp):
        app.store.functions.endpoint = f"http://localhost:{server.server_port}"
        stepfunctions.serving(app.store.states)
    return server


@contextmanager
def serving(app: WSGIApplication | None = None, *, named: str = "localhost") -> Iterator[str]:
    """`app` (default `make_app()`) served on a free port of 127.0.0.1 in a thread, for the `with` block: its endpoint,
    the host `named` (moto's CloudFormation needs localhost; a bench that times requests names the address)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = make_server("127.0.0.1", 0, app)
    worker = threading.Thread(target=server.serve_forever, name="sandbox-app", daemon=True)
    worker.start()
    try:
        yield f"http://{named}:{server.server_port}"
    finally:
        server.shutdown()
        worker.join(timeout=5)
        server.server_close()
