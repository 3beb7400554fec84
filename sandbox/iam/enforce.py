"""AWS's authorizer in front of moto: every request signed with a role session is authorized before moto sees it.

A request signed with an STS AssumeRole key (what a deployed function runs with, see `sandbox.runner`)
is read as the API call it is (`parse_call`), mapped to the IAM requests AWS makes of it
(`requests_for`), and each is evaluated by the simulator against the role's identity policies and the
resource's policy, as deployed. The first request not Allowed refuses the call with AWS's answer for
its protocol (`sandbox.iam.errors`), and nothing reaches moto. A call with no mapping is refused too,
so coverage cannot lapse silently. Requests signed with any other key (the admin keys the CDK CLI,
the tests and the seeding use) or by the CDK CLI's bootstrap roles pass unenforced.

Enforcement is on unless the server starts with `SANDBOX_IAM=off`, or `POST /_sandbox/iam/enforcement`
turns it off (the bench measures its overhead in one run). `GET /_sandbox/iam` reads the counts and
the refusals.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any
from wsgiref.types import WSGIEnvironment

from werkzeug.wrappers import Request, Response

from sandbox.iam import policies
from sandbox.iam.errors import access_denied, credential, denied_message
from sandbox.iam.model import Call, IamRequest, Unmapped
from sandbox.iam.simulator import Simulation, Simulator, SimulatorError, Verdict
from sandbox.runner import BOOTSTRAP_QUALIFIER

ROUTE = "/_sandbox/iam"  # GET: the counts, the refusals and the simulator's cost
EXPECT_ROUTE = "/_sandbox/iam/expect"  # POST {action, resource, principal?}: a denial a scenario provokes
SWITCH_ROUTE = "/_sandbox/iam/enforcement"  # POST {enabled}: enforcement on or off
AUTHORIZE_ROUTE = "/_sandbox/iam/authorize"  # POST: `sandbox authorize`'s question, see Enforcer.authorize
SWITCH = "SANDBOX_IAM"  # "off" starts the server without enforcement
ACCESS_KEY = re.compile(r"Credential=(?P<key>[^/,\s]+)/")
CDK_BOOTSTRAP_ROLES = f"cdk-{BOOTSTRAP_QUALIFIER}-"

ParseCall = Callable[[WSGIEnvironment], Call | None]
RequestsFor = Callable[[Call], Sequence[IamRequest]]


@dataclass(frozen=True)
class Principal:
    """A role session as IAM sees it: the session ARN is who asks, the role's policies are what it may do."""

    account: str
    role_arn: str
    session_arn: str

    def context(self, region: str) -> dict[str, str]:
        # For a role session aws:PrincipalArn is the role's ARN, not the session's (IAM User Guide,
        # "AWS global condition context keys", aws:PrincipalArn). aws:PrincipalOrgID is in the context only when the
        # principal's account belongs to an organization (same page), here as moto's Organizations holds it.
        organization = policies.organization_of(self.account)
        return {
            "aws:SecureTransport": "true",
            "aws:PrincipalArn": self.role_arn,
            "aws:PrincipalAccount": self.account,
            "aws:RequestedRegion": region,
            **({"aws:PrincipalOrgID": organization} if organization else {}),
        }


@dataclass(frozen=True)
class Refusal:
    principal: str
    operation: str  # service:Operation as botocore names it
    action: str
    resource: str
    why: str
    kind: str  # "denied" or "unmapped"
    expected: bool = False


@dataclass(frozen=True)
class Expectation:
    """A denial a scenario provokes on purpose: it counts apart and does not fail the demo."""

    action: str
    resource: str
    principal: str = ""  # a substring of the session ARN, e.g. the function's name; empty for any

    def matches(self, refusal: Refusal) -> bool:
        return (
            self.action == refusal.action and self.resource == refusal.resource and self.principal in refusal.principal
        )


@dataclass
class Counts:
    calls: int = 0  # API calls of role sessions
    requests: int = 0  # IAM requests they made, each evaluated
    denied: int = 0  # refused calls no scenario expected
    expected_denied: int = 0
    unmapped: int = 0


def evaluate(simulator: Simulator, principal: Principal, request: IamRequest, region: str) -> Verdict:
    """AWS's decision on one IAM request: the role's identity policies and the resource's policy, as deployed."""
    resource_account = request.resource.split(":")[4] if request.resource.count(":") >= 5 else ""
    # aws:ResourceOrgID: the organization of the account that owns the resource, present only when it belongs to one
    # (IAM User Guide, "AWS global condition context keys"); a request on "*" names no resource, so no owner.
    owner = policies.organization_of(resource_account) if resource_account.isdigit() else None
    return simulator.evaluate(
        Simulation(
            principal=principal.session_arn,
            action=request.action,
            resource=request.resource,
            resource_account=resource_account or principal.account,
            context={**principal.context(region), **({"aws:ResourceOrgID": owner} if owner else {}), **request.context},
            identity_policies=policies.identity_policies(principal.account, principal.role_arn),
            resource_policy=policies.resource_policy(request.resource) if request.resource != "*" else None,
        )
    )


def why_denied(verdict: Verdict, action: str) -> str:
    """The end of AWS's message, naming the kind of policy that denied."""
    denies = [s for s in verdict.deciding if s.kind == "deny"]
    if denies:
        kind = "a resource-based" if any(s.side == "resource" for s in denies) else "an identity-based"
        return f"with an explicit deny in {kind} policy"
    if any(s.kind == "allow" and s.side == "identity" for s in verdict.deciding):
        return f"no resource-based policy allows the {action} action"
    return f"no identity-based policy allows the {action} action"


class Enforcer:
    """The authorizer `SandboxApp` consults first: `refusal(environ)` is AWS's answer, or None to go on."""

    def __init__(self, simulator: Simulator, *, parse_call: ParseCall, requests_for: RequestsFor) -> None:
        self.simulator = simulator
        self.parse_call = parse_call
        self.requests_for = requests_for
        self.enabled = os.environ.get(SWITCH, "on").lower() != "off"
        self.counts = Counts()
        self.distinct: set[str] = set()  # the IAM requests of role sessions, each once
        self.refusals: list[Refusal] = []
        self.expectations: list[Expectation] = []
        self._lock = threading.Lock()

    def refusal(self, environ: WSGIEnvironment) -> Response | None:
        principal = session_of(environ) if self.enabled else None
        call = self._call(environ) if principal is not None else None
        if principal is None or call is None:
            return None
        refused = self._first_refusal(principal, call)
        return self._refuse(environ, refused) if refused is not None else None

    def _call(self, environ: WSGIEnvironment) -> Call | None:
        body = Request(environ).get_data(cache=True)
        environ["wsgi.input"] = io.BytesIO(body)
        call = self.parse_call(environ)
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads the request as it came
        return call

    def _first_refusal(self, principal: Principal, call: Call) -> Refusal | None:
        operation = f"{call.service}:{call.operation}"
        with self._lock:
            self.counts.calls += 1
        try:
            requests = list(self.requests_for(call))
        except Unmapped as unmapped:
            return Refusal(principal.session_arn, operation, operation, "*", str(unmapped), "unmapped")
        for request in requests:
            with self._lock:
                self.counts.requests += 1
                self.distinct.add(_request_key(principal, request))
            try:
                verdict = evaluate(self.simulator, principal, request, call.region)
            except SimulatorError as failed:  # an action or context key IAM does not know: a mapping error
                why = f"the IAM simulator cannot evaluate it: {failed}"
                return Refusal(principal.session_arn, operation, request.action, request.resource, why, "unmapped")
            if not verdict.allowed:
                why = why_denied(verdict, request.action)
                return Refusal(principal.session_arn, operation, request.action, request.resource, why, "denied")
        return None

    def _refuse(self, environ: WSGIEnvironment, refusal: Refusal) -> Response:
        with self._lock:
            expected = refusal.kind == "denied" and any(e.matches(refusal) for e in self.expectations)
            refusal = replace(refusal, expected=expected)
            self.refusals.append(refusal)
            if refusal.kind == "unmapped":
                self.counts.unmapped += 1
            elif expected:
                self.counts.expected_denied += 1
            else:
                self.counts.denied += 1
        message = denied_message(refusal.principal, refusal.action, refusal.resource, refusal.why)
        return access_denied(environ, message)

    # -- control routes ------------------------------------------------------------------------------------------

    def expect(self, body: Mapping[str, Any]) -> dict[str, Any]:
        expectation = Expectation(str(body["action"]), str(body["resource"]), str(body.get("principal", "")))
        with self._lock:
            self.expectations.append(expectation)
        return asdict(expectation)

    def switch(self, body: Mapping[str, Any]) -> dict[str, Any]:
        enabled = body["enabled"]
        if not isinstance(enabled, bool):
            raise ValueError("enabled must be true or false")
        self.enabled = enabled
        return {"enabled": enabled}

    def authorize(self, body: Mapping[str, Any], region: str) -> dict[str, Any]:
        """`sandbox authorize`: the decision on an IAM request, or on each IAM request of an API call."""
        role_arn = str(body["role"])
        account = role_arn.split(":")[4]
        principal = Principal(account, role_arn, str(body.get("principal") or role_arn))
        if "call" in body:
            asked = body["call"]
            call = Call(str(asked["service"]), str(asked["operation"]), dict(asked["params"]), account, region)
            try:
                requests = list(self.requests_for(call))
            except Unmapped as unmapped:  # refused in the sandbox, whatever the policies say
                return {
                    "principal": principal.session_arn,
                    "decision": "ImplicitlyDenied",
                    "unmapped": str(unmapped),
                    "requests": [],
                }
        else:
            requests = [IamRequest(str(body["action"]), str(body["resource"]), dict(body.get("context") or {}))]
        answers = []
        for request in requests:
            try:
                verdict = evaluate(self.simulator, principal, request, region)
            except SimulatorError as failed:  # answered 400: the question names what IAM does not know
                raise ValueError(str(failed)) from failed
            answers.append(
                {
                    "action": request.action,
                    "resource": request.resource,
                    "context": dict(request.context),
                    "decision": verdict.decision,
                    "deciding": [str(s) for s in verdict.deciding],
                    "explain": verdict.explain(),
                }
            )
        decision = next((a["decision"] for a in answers if a["decision"] != "Allowed"), "Allowed")
        return {"principal": principal.session_arn, "decision": decision, "requests": answers}

    def document(self) -> dict[str, Any]:
        with self._lock:
            counts = asdict(self.counts)
            distinct = len(self.distinct)
            refusals = [asdict(r) for r in self.refusals]
        stats = self.simulator.stats
        return {
            "enabled": self.enabled,
            **counts,
            "distinct": distinct,
            "refusals": refusals,
            "simulator": {
                "requests": stats.requests,
                "distinct": stats.distinct,
                "cache_hits": stats.cache_hits,
                "ms_per_distinct": round(stats.ms_per_distinct, 2),
            },
        }


def summary_line(document: Mapping[str, Any]) -> str:
    """The demo's last line: function requests authorized, and deliveries (counted by `sandbox.iam.deliveries`)."""
    return (
        f"iam: requests={document['requests']} distinct={document['distinct']} denied={document['denied']} "
        f"unmapped={document['unmapped']} deliveries={document['deliveries']} refused={document['refused']}"
    )


def cost_line(document: Mapping[str, Any]) -> str:
    simulator = document["simulator"]
    return (
        f"iam enforcement cost: {simulator['requests']} requests simulated, {simulator['cache_hits']} cache hits, "
        f"{simulator['ms_per_distinct']} ms per distinct request; "
        f"{document['expected_denied']} denial(s) provoked on purpose by scenarios"
    )


def unexpected(document: Mapping[str, Any]) -> list[str]:
    """Every refusal no scenario expected: denials, unmapped calls, refused deliveries (by count)."""
    found = [
        f"{r['principal']} {r['action']} on {r['resource']}: {r['why']}"
        for r in document["refusals"]
        if not r["expected"]
    ]
    if document["refused"]:
        found.append(f"{document['refused']} service-to-service delivery(ies) refused: see `sandbox status`")
    return found


def session_of(environ: WSGIEnvironment) -> Principal | None:
    """The role session that signed the request; None for the admin keys and the CDK CLI's bootstrap roles.

    `cdk deploy` publishes assets and deploys as the bootstrap roles it assumes: they act for the operator who
    deploys, like the admin keys, and what they may do is the CDK's bootstrap template's business, not Deckhand's.
    """
    signed = ACCESS_KEY.search(credential(environ))
    found = policies.role_of_session(signed.group("key")) if signed else None
    if found is None or found[1].rsplit("/", 1)[-1].startswith(CDK_BOOTSTRAP_ROLES):
        return None
    return Principal(*found)


def _request_key(principal: Principal, request: IamRequest) -> str:
    return json.dumps(
        [principal.session_arn, request.action, request.resource, dict(request.context)], sort_keys=True, default=str
    )
