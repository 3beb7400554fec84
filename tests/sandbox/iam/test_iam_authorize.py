"""`python -m sandbox authorize`: decisions by the deployed policies, printed with why; exit 0 only when Allowed."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox import cdk, cli, demo, process

ACCOUNT = "123456789012"
REGION = "us-east-1"  # where the CLI's clients and the control routes work
STAGE = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:authorize-app/Deploy"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
GRANTS = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Rollback", "Effect": "Allow", "Action": "codepipeline:RollbackStage", "Resource": STAGE},
        {
            "Sid": "DeleteMarked",
            "Effect": "Allow",
            "Action": "ec2:DeleteSnapshot",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/deckhand:mark": "due"}},
        },
    ],
}
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/authorize-role/authorize-fn"

Client = Callable[[str], Any]


@pytest.fixture(scope="module")
def deployed(client: Client) -> None:
    """A function and its role, as `cdk deploy` leaves them."""
    iam = client("iam")
    role = iam.create_role(RoleName="authorize-role", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName="authorize-role", PolicyName="grants", PolicyDocument=json.dumps(GRANTS))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("index.py", "def handler(event, context):\n    return event\n")
    client("lambda").create_function(
        FunctionName="authorize-fn",
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": archive.getvalue()},
    )


@pytest.fixture
def authorize(
    deployed: None, endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str]]:
    """Run the command against this module's server; (exit code, what it printed)."""
    monkeypatch.setattr(cli, "running_state", lambda _paths: {"endpoint": endpoint})

    def run(*args: str) -> tuple[int, str]:
        code = cli.main(["authorize", *args])
        printed = capsys.readouterr()
        return code, printed.out + printed.err

    return run


def test_an_allowed_request_exits_0_and_names_the_deciding_statement(authorize: Callable[..., tuple[int, str]]) -> None:
    code, printed = authorize("authorize-fn", "codepipeline:RollbackStage", STAGE)

    assert code == 0
    assert printed.splitlines()[:2] == [f"Allowed: {SESSION}", f"  Allowed: codepipeline:RollbackStage on {STAGE}"]
    assert "allowed by allow grants statement Rollback" in printed


def test_a_stage_no_grant_names_is_implicitly_denied(authorize: Callable[..., tuple[int, str]]) -> None:
    code, printed = authorize("authorize-fn", "codepipeline:RollbackStage", STAGE.replace("/Deploy", "/Build"))

    assert code == 1
    assert printed.startswith(f"ImplicitlyDenied: {SESSION}")
    assert "no statement allows it" in printed


def test_context_keys_decide_conditions(authorize: Callable[..., tuple[int, str]]) -> None:
    snapshot = f"arn:aws:ec2:{REGION}::snapshot/snap-0123456789abcdef0"

    marked, _ = authorize(
        "authorize-fn", "ec2:DeleteSnapshot", snapshot, "--context", "aws:ResourceTag/deckhand:mark=due"
    )
    unmarked, printed = authorize("authorize-fn", "ec2:DeleteSnapshot", snapshot)

    assert (marked, unmarked) == (0, 1)
    assert "ImplicitlyDenied" in printed


def test_a_call_is_mapped_to_its_iam_requests_and_the_role_name_asks_as_the_role(
    authorize: Callable[..., tuple[int, str]],
) -> None:
    rollback = {"pipelineName": "authorize-app", "stageName": "Deploy", "targetPipelineExecutionId": "e-1"}

    code, printed = authorize("authorize-role", "--call", "codepipeline:RollbackStage", json.dumps(rollback))

    assert code == 0
    assert printed.splitlines()[:2] == [
        f"Allowed: arn:aws:iam::{ACCOUNT}:role/authorize-role",
        f"  Allowed: codepipeline:RollbackStage on {STAGE}",
    ]


def test_an_unmapped_call_is_denied(authorize: Callable[..., tuple[int, str]]) -> None:
    code, printed = authorize("authorize-fn", "--call", "sns:CreateTopic", '{"Name": "t"}')

    assert code == 1
    assert "no IAM mapping for sns:CreateTopic" in printed


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("authorize-fn", "codepipeline:RollbackStage"), "give ACTION RESOURCE"),
        (("authorize-fn", "--call", "RollbackStage", "{}"), "is not service:Operation"),
        (("authorize-fn", "--call", "codepipeline:RollbackStage", "[1]"), "must be a JSON object"),
        (("authorize-fn", "a:B", "*", "--context", "novalue"), "is not KEY=VALUE"),
        (("nobody", "a:B", "*"), "no deployed function and no role named 'nobody'"),
        # RollbackStage's resource is the stage: the simulator knows no such request on the pipeline
        (("authorize-fn", "codepipeline:RollbackStage", STAGE.removesuffix("/Deploy")), "no.resource.types"),
    ],
)
def test_a_question_that_cannot_be_asked_exits_2_and_says_why(
    authorize: Callable[..., tuple[int, str]], args: tuple[str, ...], complaint: str
) -> None:
    code, printed = authorize(*args)

    assert code == 2  # the CLI refused its input, as argparse refuses a usage; 1 is a denial
    assert complaint in printed


def iam_document(refusals: list[dict[str, Any]]) -> dict[str, Any]:
    denied = [r for r in refusals if not r["expected"]]
    return {
        "requests": 12,
        "distinct": 5,
        "denied": len(denied),
        "expected_denied": len(refusals) - len(denied),
        "unmapped": 0,
        "deliveries": 3,
        "refused": 0,
        "refusals": refusals,
        "simulator": {"requests": 15, "distinct": 6, "cache_hits": 9, "ms_per_distinct": 3.5},
    }


REFUSAL = {
    "principal": SESSION,
    "operation": "ec2:DeleteSnapshot",
    "action": "ec2:DeleteSnapshot",
    "resource": "arn:aws:ec2:us-east-1::snapshot/snap-1",
    "why": "no identity-based policy allows the ec2:DeleteSnapshot action",
    "kind": "denied",
}


@pytest.mark.parametrize(
    ("refusals", "exit_code"),
    [([], 0), ([{**REFUSAL, "expected": True}], 0), ([{**REFUSAL, "expected": False}], 1)],
)
def test_the_demo_ends_with_the_iam_line_and_fails_on_a_refusal_no_scenario_expected(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    refusals: list[dict[str, Any]],
    exit_code: int,
) -> None:
    monkeypatch.setattr(demo, "up", lambda _paths, verbose, policy_for: cdk.Up("http://localhost:1", {}, []))
    monkeypatch.setattr(demo, "down", lambda _paths: "stopped")
    monkeypatch.setattr(demo, "iam_state", lambda _endpoint: iam_document(refusals))

    code = demo.run_demo(process.Paths(tmp_path), [], setup=demo.Setup(seed=lambda _endpoint, _now: []))

    printed = capsys.readouterr().out.splitlines()
    assert code == exit_code
    assert printed[-1] == f"iam: requests=12 distinct=5 denied={exit_code} unmapped=0 deliveries=3 refused=0"
    assert printed[-2].startswith("iam enforcement cost: 15 requests simulated, 9 cache hits, 3.5 ms per distinct")
    assert any("IAM refused, unexpected" in line for line in printed) == bool(exit_code)
