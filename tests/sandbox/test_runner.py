"""sandbox.runner against a moto server in this process: load a deployed asset, run its handler, leave no trace."""

import hashlib
import io
import json
import os
import sys
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from functions.shared.switches import SWITCH_NAMES, SwitchState, parameter_name
from sandbox import ACCOUNT, REGION, runner
from sandbox.iam import policies
from stacks.core import audit_table_name, function_environment, switches_path, topic_name
from stacks.policy import load_policy
from stacks.versions import REPO_ROOT
from tests.support.aws import make_audit_table

BUCKET = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
HANDLER = "functions.switches.handler.handler"
# A handler that reports what it runs with: which files it imported, its environment and context, how many
# invocations its module has seen, and who its (cached) STS client acts as.
PROBE = """
import os

import functions
import functions.shared.clients as clients

INVOCATIONS = []


def handler(event, context):
    INVOCATIONS.append(context.aws_request_id)
    if event.get("raise"):
        raise RuntimeError(event["raise"])
    if event.get("exit"):
        raise SystemExit(1)
    if event.get("whoami"):
        return clients.client("sts").get_caller_identity()["Arn"]
    return {
        "invocations": len(INVOCATIONS),
        "functions": functions.__file__,
        "clients": clients.__file__,
        "env": {k: os.environ.get(k) for k in event.get("env", [])},
        "context": [context.function_name, context.aws_request_id, context.get_remaining_time_in_millis()],
    }


same_handler = handler  # for a Handler update that changes nothing else
"""


@dataclass
class Account:
    endpoint: str
    client: Callable[[str], Any]
    cache_dir: Path

    def deploy(self, name: str, handler: str, asset: bytes, role: str = "deckhand") -> None:
        """What `cdk deploy` leaves: the asset in the bootstrap bucket, a function made from it."""
        key = f"{hashlib.sha256(asset).hexdigest()}.zip"
        self.client("s3").put_object(Bucket=BUCKET, Key=key, Body=asset)
        policy = load_policy(REPO_ROOT / "deckhand.yaml")
        prefix = policy.name_prefix
        topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic_name(prefix)}"
        environment = function_environment(policy, audit_table=audit_table_name(prefix), topic_arn=topic_arn)
        self.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.14",
            Role=f"arn:aws:iam::{ACCOUNT}:role/{role}",
            Handler=handler,
            Code={"S3Bucket": BUCKET, "S3Key": key},
            Environment={"Variables": {**environment, "POWERTOOLS_SERVICE_NAME": "switches"}},
            MemorySize=256,
            Timeout=30,
        )

    def load(self, name: str) -> runner.DeployedFunction:
        return runner.load(
            name,
            lambda_client=self.client("lambda"),
            s3_client=self.client("s3"),
            sts_client=self.client("sts"),
            cache_dir=self.cache_dir,
        )


@pytest.fixture
def account(endpoint: str, client: Callable[[str], Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Account:
    """A fresh moto account holding what the Deckhand stack creates besides its functions."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    acct = Account(endpoint, client, tmp_path / "assets")
    acct.client("s3").create_bucket(Bucket=BUCKET)
    # These tests are about running the code, not about IAM (tests/sandbox/iam): the roles may do anything.
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    for role in ("deckhand", "other"):
        acct.client("iam").create_role(RoleName=role, AssumeRolePolicyDocument="{}")
        acct.client("iam").put_role_policy(RoleName=role, PolicyName="all", PolicyDocument=json.dumps(everything))
    acct.client("sns").create_topic(Name="deckhand-notifications")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # make_audit_table uses the default endpoint
    make_audit_table()
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    ssm = acct.client("ssm")
    for name in SWITCH_NAMES:
        document = json.dumps(SwitchState(name=name).document())
        ssm.put_parameter(Name=parameter_name(switches_path("deckhand"), name), Value=document, Type="String")
    return acct


def asset(*, leave_out: str | None = None, extra: dict[str, str] | None = None) -> bytes:
    """The `functions` package zipped as the CDK asset is (ASSET_EXCLUDE), optionally broken or extended."""
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for path in sorted((REPO_ROOT / "functions").rglob("*")):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if path.is_dir() or "__pycache__" in relative or relative.endswith(".pyc"):
                continue
            if leave_out and relative.startswith(leave_out):
                continue
            archive.write(path, relative)
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
    return data.getvalue()


@pytest.fixture
def probe(account: Account) -> runner.DeployedFunction:
    account.deploy("deckhand-probe", "functions.probe.handler", asset(extra={"functions/probe.py": PROBE}))
    return account.load("deckhand-probe")


def test_load_extracts_the_deployed_asset_and_reads_the_configuration(account: Account) -> None:
    account.deploy("deckhand-switches", HANDLER, asset())

    fn = account.load("deckhand-switches")

    assert fn.name == "deckhand-switches"
    assert fn.handler == HANDLER
    assert fn.environment["DECKHAND_SWITCHES_PATH"] == "/deckhand/switches"
    assert fn.code_dir.is_relative_to(account.cache_dir / "deckhand-switches")
    assert (fn.code_dir / "functions" / "switches" / "handler.py").is_file()
    assert account.load("deckhand-switches").code_dir == fn.code_dir  # cached by digest


def test_the_switches_handler_runs_against_the_sandbox(account: Account) -> None:
    account.deploy("deckhand-switches", HANDLER, asset())
    fn = account.load("deckhand-switches")

    shown = runner.invoke(fn, {"action": "show"}, endpoint=account.endpoint)
    freeze = {"action": "set", "switch": "freeze", "reason": "test freeze", "for": "2h", "dry_run": False}
    changed = runner.invoke(fn, freeze, endpoint=account.endpoint, request_id="req-1")

    assert shown.error is None, shown.error
    assert shown.response["status"] == "ok"
    assert set(shown.response["switches"]) == set(SWITCH_NAMES)
    assert changed.response["status"] == "changed"
    assert changed.request_id == "req-1"
    stored = account.client("ssm").get_parameter(Name="/deckhand/switches/freeze")["Parameter"]["Value"]
    assert json.loads(stored)["on"] is True
    assert "deckhand-switches" in changed.logs  # Powertools' JSON log lines, captured
    assert changed.duration_ms > 0


def test_the_deployed_copy_of_the_code_runs_not_the_repository(probe: runner.DeployedFunction) -> None:
    import functions.shared.clients as repo_clients

    result = runner.invoke(probe, {}, endpoint="http://localhost:1").response

    assert Path(result["functions"]).is_relative_to(probe.code_dir)
    assert Path(result["clients"]).is_relative_to(probe.code_dir)
    assert sys.modules["functions.shared.clients"] is repo_clients  # the host's modules are back
    assert not any(str(probe.code_dir) in str(getattr(m, "__file__", "")) for m in list(sys.modules.values()))


def test_a_cold_start_compiles_the_deployed_code_and_caches_no_bytecode(
    probe: runner.DeployedFunction, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in Lambda, whose /var/task is read-only, with an asset that ships none; whatever the host process does."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)

    runner.invoke(probe, {}, endpoint="http://localhost:1")

    assert list(probe.code_dir.rglob("__pycache__")) == []
    assert sys.dont_write_bytecode is False


def test_the_handler_gets_the_deployed_environment_and_a_context(
    probe: runner.DeployedFunction, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DECKHAND_AUDIT_TABLE", "the-shells-table")
    monkeypatch.setenv("AWS_PROFILE", "production")
    names = ["DECKHAND_AUDIT_TABLE", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_LAMBDA_FUNCTION_NAME"]
    names += ["POWERTOOLS_TRACE_DISABLED", "AWS_ACCESS_KEY_ID"]

    result = runner.invoke(probe, {"env": names}, endpoint="http://localhost:1234", request_id="r-9").response

    assert result["env"] == {
        "DECKHAND_AUDIT_TABLE": "deckhand-audit",
        "AWS_ENDPOINT_URL": "http://localhost:1234",
        "AWS_PROFILE": None,
        "AWS_LAMBDA_FUNCTION_NAME": "deckhand-probe",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": probe.credentials["AWS_ACCESS_KEY_ID"],
    }
    name, request_id, remaining = result["context"]
    assert (name, request_id) == ("deckhand-probe", "r-9")
    assert 0 < remaining <= 30_000


def test_the_handler_runs_with_a_session_of_its_deployed_role(probe: runner.DeployedFunction) -> None:
    session = policies.role_of_session(probe.credentials["AWS_ACCESS_KEY_ID"])

    assert probe.role == f"arn:aws:iam::{ACCOUNT}:role/deckhand"
    assert session == (ACCOUNT, probe.role, f"arn:aws:sts::{ACCOUNT}:assumed-role/deckhand/deckhand-probe")


def test_the_host_process_is_restored(probe: runner.DeployedFunction, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DECKHAND_AUDIT_TABLE", "the-shells-table")
    environ, path, stdout = dict(os.environ), list(sys.path), sys.stdout
    dont_write_bytecode = sys.dont_write_bytecode
    modules = {name for name in sys.modules if name.startswith("functions")}

    runner.invoke(probe, {}, endpoint="http://localhost:1")
    runner.invoke(probe, {"raise": "boom"}, endpoint="http://localhost:1")

    assert dict(os.environ) == environ
    assert sys.dont_write_bytecode is dont_write_bytecode
    assert sys.path == path
    assert sys.stdout is stdout
    assert {name for name in sys.modules if name.startswith("functions")} == modules


def test_later_invocations_reuse_the_execution_environment_with_this_invocations_credentials(
    account: Account, probe: runner.DeployedFunction
) -> None:
    first = runner.invoke(probe, {}, endpoint="http://localhost:1").response
    reloaded = account.load("deckhand-probe")  # the role assumed again: new keys, same set-up
    second = runner.invoke(reloaded, {"env": ["AWS_ACCESS_KEY_ID"]}, endpoint="http://localhost:1").response

    assert (first["invocations"], second["invocations"]) == (1, 2)
    assert reloaded.credentials["AWS_ACCESS_KEY_ID"] != probe.credentials["AWS_ACCESS_KEY_ID"]
    assert second["env"] == {"AWS_ACCESS_KEY_ID": reloaded.credentials["AWS_ACCESS_KEY_ID"]}


@pytest.mark.parametrize(
    "update",
    [
        {"Environment": {"Variables": {"DECKHAND_AUDIT_TABLE": "another-table"}}},
        {"MemorySize": 512},
        {"Timeout": 60},
        {"Handler": "functions.probe.same_handler"},
        {"Role": f"arn:aws:iam::{ACCOUNT}:role/other"},
    ],
)
def test_a_configuration_update_gets_a_new_execution_environment(
    account: Account, probe: runner.DeployedFunction, update: dict[str, Any]
) -> None:
    runner.invoke(probe, {}, endpoint="http://localhost:1")
    account.client("lambda").update_function_configuration(FunctionName="deckhand-probe", **update)
    updated = account.load("deckhand-probe")

    assert runner.invoke(updated, {}, endpoint="http://localhost:1").response["invocations"] == 1


def test_new_code_gets_a_new_execution_environment(account: Account, probe: runner.DeployedFunction) -> None:
    runner.invoke(probe, {}, endpoint="http://localhost:1")
    changed = asset(extra={"functions/probe.py": PROBE + "\n"})
    key = f"{hashlib.sha256(changed).hexdigest()}.zip"
    account.client("s3").put_object(Bucket=BUCKET, Key=key, Body=changed)
    account.client("lambda").update_function_code(FunctionName="deckhand-probe", S3Bucket=BUCKET, S3Key=key)
    redeployed = account.load("deckhand-probe")

    assert redeployed.code_dir != probe.code_dir
    assert runner.invoke(redeployed, {}, endpoint="http://localhost:1").response["invocations"] == 1


def test_a_runtime_that_exited_starts_cold_again(probe: runner.DeployedFunction) -> None:
    runner.invoke(probe, {}, endpoint="http://localhost:1")
    exiting = runner.invoke(probe, {"exit": True}, endpoint="http://localhost:1")

    assert exiting.error is not None
    assert exiting.error.type == "SystemExit"
    assert runner.invoke(probe, {}, endpoint="http://localhost:1").response["invocations"] == 1


def test_warm_functions_keep_their_own_roles_credentials(account: Account) -> None:
    probe_asset = asset(extra={"functions/probe.py": PROBE})
    account.deploy("deckhand-probe", "functions.probe.handler", probe_asset)
    account.deploy("deckhand-other", "functions.probe.handler", probe_asset, role="other")
    mine, other = account.load("deckhand-probe"), account.load("deckhand-other")

    arns = [
        runner.invoke(fn, {"whoami": True}, endpoint=account.endpoint).response
        for fn in (mine, other, mine, other)  # each warm the second time, its STS client cached in its module
    ]

    assert (
        arns
        == [
            f"arn:aws:sts::{ACCOUNT}:assumed-role/deckhand/deckhand-probe",
            f"arn:aws:sts::{ACCOUNT}:assumed-role/other/deckhand-other",
        ]
        * 2
    )
    assert runner.invoke(mine, {}, endpoint=account.endpoint).response["invocations"] == 3


def test_an_exception_in_the_handler_is_the_result_not_raised(probe: runner.DeployedFunction) -> None:
    failed = runner.invoke(probe, {"raise": "boom"}, endpoint="http://localhost:1")

    assert failed.response is None
    assert failed.error is not None
    assert (failed.error.type, failed.error.message) == ("RuntimeError", "boom")
    assert "functions/probe.py" in failed.error.traceback
    assert not failed.ok


@pytest.mark.parametrize(
    ("handler", "kind"),
    [
        ("functions.nowhere.handler", "Runtime.ImportModuleError"),
        ("functions.probe.nothing", "Runtime.HandlerNotFound"),
    ],
)
def test_a_handler_that_cannot_be_found_is_reported_like_lambda(
    probe: runner.DeployedFunction, handler: str, kind: str
) -> None:
    broken = runner.DeployedFunction(probe.name, handler, probe.environment, probe.code_dir, probe.arn)
    failed = runner.invoke(broken, {}, endpoint="http://localhost:1")

    assert failed.error is not None
    assert failed.error.type == kind


def test_an_asset_without_functions_shared_fails_at_load_naming_it(account: Account) -> None:
    account.deploy("deckhand-switches", HANDLER, asset(leave_out="functions/shared/"))

    with pytest.raises(runner.AssetError) as broken:
        account.load("deckhand-switches")

    message = str(broken.value)
    assert "deckhand-switches lacks functions/shared/" in message
    assert "functions/switches/handler.py" in message  # who needs it
    assert "ASSET_EXCLUDE in stacks/core.py" in message


def test_an_asset_without_the_handler_fails_at_load_naming_it(account: Account) -> None:
    account.deploy("deckhand-switches", HANDLER, asset(leave_out="functions/switches/handler.py"))

    with pytest.raises(runner.AssetError, match=r"lacks functions/switches/handler\.py .*ASSET_EXCLUDE"):
        account.load("deckhand-switches")


def test_an_asset_that_is_not_what_was_deployed_is_refused(account: Account) -> None:
    account.deploy("deckhand-switches", HANDLER, asset())
    location = account.client("lambda").get_function(FunctionName="deckhand-switches")["Code"]["Location"]
    account.client("s3").put_object(Bucket=BUCKET, Key=runner.asset_key(location), Body=asset(extra={"x": "y"}))

    with pytest.raises(runner.AssetError, match="SHA-256"):
        account.load("deckhand-switches")


def test_invoke_here_runs_the_repository_handler_with_the_stacks_settings(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", account.endpoint)  # "the AWS the shell points to"

    shown = runner.invoke_here("switches", HANDLER, {"action": "show"}, policy_path=REPO_ROOT / "deckhand.yaml")

    assert shown.error is None, shown.error
    assert shown.response["status"] == "ok"
    assert shown.function_name == "deckhand-switches"


@pytest.mark.parametrize(
    ("location", "key"),
    [
        ("https://awslambda-us-east-1-tasks.s3.us-east-1.amazonaws.com/abc.zip", "abc.zip"),
        ("https://x.example/a/b/c.zip?versionId=1", "c.zip"),
    ],
)
def test_the_asset_key_is_the_last_segment_of_the_code_location(location: str, key: str) -> None:
    assert runner.asset_key(location) == key


def test_the_module_graph_follows_relative_and_package_imports(tmp_path: Path) -> None:
    def write(name: str, text: str) -> None:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    write("functions/__init__.py", "")
    write("functions/duty/__init__.py", "")
    write("functions/duty/handler.py", "from .logic import plan\nfrom functions.shared import audit\n")
    write("functions/duty/logic.py", "import functions.shared.clock\n")
    write("functions/shared/__init__.py", "")

    missing = runner.unresolved_imports(tmp_path, "functions.duty.handler")

    assert missing == {
        "functions.shared.audit": {"functions/duty/handler.py"},
        "functions.shared.clock": {"functions/duty/logic.py"},
    }
