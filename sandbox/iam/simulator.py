"""AWS's authorization decision for one request, from @cloud-copilot/iam-simulate in one long-lived Node process.

The sandbox never decides IAM by itself: it builds the request AWS would evaluate (principal, action,
resource, context keys) and the policies AWS would evaluate it against (the principal's identity
policies, the resource's policy), and asks the simulator. One process serves the whole sandbox over
JSON lines; each distinct simulation is evaluated once and cached. The simulator is AGPL-3.0: it runs as
its own process for development only and is never bundled into a deployed asset.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from stacks.versions import REPO_ROOT

SCRIPT = Path(__file__).with_name("simulator.mjs")
NODE_MODULES = REPO_ROOT / "node_modules" / "@cloud-copilot" / "iam-simulate"

Decision = Literal["Allowed", "ExplicitlyDenied", "ImplicitlyDenied"]
ContextValue = str | Sequence[str]


class SimulatorError(RuntimeError):
    """The simulator refused the simulation itself (an unknown action, a malformed policy, a bad context key)."""


@dataclass(frozen=True)
class Policy:
    name: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class Simulation:
    """One IAM request and what AWS evaluates it against."""

    principal: str  # a role session ARN, a role ARN or a service principal (events.amazonaws.com)
    action: str  # service:Action
    resource: str  # an ARN, or "*" for a call that names no resource
    resource_account: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    identity_policies: Sequence[Policy] = ()
    resource_policy: Mapping[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        policies = [{"name": p.name, "policy": _on_resource(p.document, self.resource)} for p in self.identity_policies]
        body: dict[str, Any] = {
            "identityPolicies": policies,
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
            "request": {
                "action": self.action,
                "principal": self.principal,
                "resource": {"accountId": self.resource_account, "resource": self.resource},
                "contextVariables": {key: _context_value(value) for key, value in sorted(self.context.items())},
            },
        }
        if self.resource_policy is not None:
            body["resourcePolicy"] = _on_resource(self.resource_policy, self.resource)
        return body


@dataclass(frozen=True)
class Statement:
    side: str  # identity, resource, permissionBoundary, scp, rcp
    kind: str  # allow or deny
    policy: str
    sid: str

    def __str__(self) -> str:
        where = self.policy if self.side == "identity" else f"{self.side} policy"
        return f"{self.kind} {where} statement {self.sid or '(no Sid)'}"


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    deciding: tuple[Statement, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision == "Allowed"

    def explain(self) -> str:
        if self.decision == "Allowed":
            return "allowed by " + ", ".join(str(s) for s in self.deciding if s.kind == "allow")
        denies = [str(s) for s in self.deciding if s.kind == "deny"]
        if denies:
            return "explicitly denied by " + ", ".join(denies)
        return "no statement allows it"


@dataclass
class Stats:
    requests: int = 0
    distinct: int = 0
    cache_hits: int = 0
    simulated_ms: float = 0.0

    @property
    def ms_per_distinct(self) -> float:
        return self.simulated_ms / self.distinct if self.distinct else 0.0


def _context_value(value: ContextValue) -> str | list[str]:
    return value if isinstance(value, str) else [str(item) for item in value]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _on_resource(document: Mapping[str, Any], resource: str) -> dict[str, Any]:
    """A request on `*` (a call that names no resource) matches only statements whose Resource matches `*`.

    AWS compares the request's resource string with each Resource pattern: the string "*" matches the
    pattern "*" but not "arn:aws:ecs:...:container-instance/*" (cdklabs/construct-hub#1207). The
    simulator expands a request on "*" like a wildcard, so the patterns that cannot match the literal
    are dropped before it sees them.
    """
    if resource != "*":
        return dict(document)
    kept = []
    for statement in _as_list(document.get("Statement", [])):
        if "Resource" not in statement:
            kept.append(statement)
            continue
        patterns = [p for p in _as_list(statement["Resource"]) if fnmatch.fnmatchcase("*", p)]
        if patterns:
            kept.append({**statement, "Resource": patterns})
    return {**document, "Statement": kept}


class Simulator:
    """The Node process, started on first use; thread-safe; caches one verdict per distinct simulation."""

    def __init__(self, node: str = "node") -> None:
        self._node = node
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._cache: dict[str, Verdict] = {}
        self.stats = Stats()

    def _start(self) -> subprocess.Popen[str]:
        if not NODE_MODULES.is_dir():
            raise SimulatorError(
                f"{NODE_MODULES.relative_to(REPO_ROOT)} is missing: run `npm ci` (make demo and make test do)"
            )
        return subprocess.Popen(  # noqa: S603 - a fixed script of this repository
            [self._node, str(SCRIPT)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def evaluate(self, simulation: Simulation) -> Verdict:
        body = simulation.payload()
        key = json.dumps(body, sort_keys=True, separators=(",", ":"))
        with self._lock:
            self.stats.requests += 1
            cached = self._cache.get(key)
            if cached is not None:
                self.stats.cache_hits += 1
                return cached
            started = time.perf_counter()
            answer = self._ask(key)
            self.stats.simulated_ms += (time.perf_counter() - started) * 1000
            self.stats.distinct += 1
            if "error" in answer:
                raise SimulatorError(f"{simulation.action} on {simulation.resource}: {answer['error']}")
            verdict = Verdict(
                decision=answer["decision"],
                deciding=tuple(
                    Statement(side=s["side"], kind=s["kind"], policy=str(s["policy"]), sid=str(s["sid"]))
                    for s in answer["deciding"]
                ),
            )
            self._cache[key] = verdict
            return verdict

    def _ask(self, simulation_json: str) -> dict[str, Any]:
        if self._process is None or self._process.poll() is not None:
            self._process = self._start()
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write('{"id":0,"simulation":' + simulation_json + "}\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise SimulatorError("the IAM simulator process ended; is Node.js 20+ on PATH?")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        with self._lock:
            if self._process is not None:
                if self._process.stdin is not None:
                    self._process.stdin.close()
                self._process.wait(timeout=5)
                self._process = None
