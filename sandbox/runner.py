"""Run a function's handler in-process: the *deployed* one against the sandbox, or the repo's against any AWS.

`load()` fetches what CloudFormation deployed (configuration, and the code from its asset zip in the
bootstrap bucket, checked against CodeSha256) and `invoke()` runs that code with the deployed
environment and a session of the deployed execution role, boto3 pointed at the sandbox (which authorizes
every request of that session against the role's policies). moto cannot run Lambda code without Docker; this is the
Lambda runtime's part, played by the current process.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import hashlib
import importlib
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO, cast
from urllib.parse import urlparse

from . import ACCOUNT, REGION

PACKAGE = "functions"  # every Deckhand handler lives in this package, in the asset as in the repo
BOOTSTRAP_QUALIFIER = "hnb659fds"  # the CDK's default bootstrap qualifier
# Names a real Lambda sandbox would not inherit from the shell that runs this one.
SCRUBBED_PREFIXES = ("AWS_", "DECKHAND_", "POWERTOOLS_", "LAMBDA_", "_X_AMZN_", "_HANDLER")
BROKEN_ASSET_HINT = "the function asset is broken — check ASSET_EXCLUDE in stacks/core.py"


class AssetError(RuntimeError):
    """The deployed code cannot be what the function runs: wrong digest, missing modules."""


@dataclass(frozen=True)
class DeployedFunction:
    name: str
    handler: str
    environment: Mapping[str, str]
    code_dir: Path
    arn: str = ""
    runtime: str = ""
    memory_mb: int = 128
    timeout_seconds: int = 3
    role: str = ""
    version: str = "$LATEST"  # the version a qualifier resolved to (an alias names one)
    last_modified: str = ""  # changes with every update, and a function deleted and created again has a new one
    # The execution role's session, as Lambda gives it; none (a function loaded by hand) leaves boto3 without any.
    credentials: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class InvocationError:
    type: str
    message: str
    traceback: str
    stack: tuple[str, ...] = ()  # the function's own frames, as Lambda's stackTrace lists them


@dataclass(frozen=True)
class Invocation:
    function_name: str
    request_id: str
    payload: Any
    response: Any = None
    error: InvocationError | None = None
    duration_ms: float = 0.0
    logs: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        # Not asdict(self): it copies payload and response level by level, and a deep answer exhausts the stack.
        shallow = {f.name: getattr(self, f.name) for f in fields(self)}
        return shallow | {"error": None if self.error is None else asdict(self.error)}


# --- load: the deployed asset -------------------------------------------------------------------


def asset_bucket(function_arn: str) -> str:
    """The bootstrap bucket the CDK CLI uploaded the asset to, from the function's own account and region."""
    parts = function_arn.split(":")
    region, account = (parts[3], parts[4]) if len(parts) > 4 else (REGION, ACCOUNT)
    return f"cdk-{BOOTSTRAP_QUALIFIER}-assets-{account}-{region}"


def asset_key(code_location: str) -> str:
    """moto's Code.Location is not downloadable, but its last path segment is the asset's S3 key."""
    key = urlparse(code_location).path.rsplit("/", 1)[-1]
    if not key:
        raise AssetError(f"the function's code location {code_location!r} names no asset")
    return key


def code_digest(data: bytes) -> str:
    """Lambda's CodeSha256: the base64 of the zip's SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def role_credentials(sts_client: Any, role_arn: str, function_name: str) -> dict[str, str]:
    """The execution role's session, named after the function as Lambda names it (assumed-role/ROLE/FUNCTION)."""
    issued = sts_client.assume_role(RoleArn=role_arn, RoleSessionName=function_name)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": issued["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": issued["SecretAccessKey"],
        "AWS_SESSION_TOKEN": issued["SessionToken"],
    }


def load(
    function_name: str,
    *,
    lambda_client: Any,
    s3_client: Any,
    sts_client: Any,
    cache_dir: Path,
    qualifier: str | None = None,
) -> DeployedFunction:
    """The deployed function (a version or alias by `qualifier`), with a session of its deployed execution role
    (`sts_client` assumes it)."""
    found = lambda_client.get_function(FunctionName=function_name, **({"Qualifier": qualifier} if qualifier else {}))
    config = found["Configuration"]
    name = config["FunctionName"]
    digest = config["CodeSha256"]
    code_dir = cache_dir / name / base64.b64decode(digest).hex()
    if not code_dir.is_dir():
        bucket, key = asset_bucket(config["FunctionArn"]), asset_key(found["Code"]["Location"])
        data = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        if code_digest(data) != digest:
            raise AssetError(
                f"the asset s3://{bucket}/{key} of {name} has SHA-256 {code_digest(data)}, "
                f"but the function was deployed with {digest}: redeploy (python -m sandbox up)"
            )
        extract(data, code_dir)
    check_asset(name, config["Handler"], code_dir)
    return DeployedFunction(
        name=name,
        handler=config["Handler"],
        environment=dict(config.get("Environment", {}).get("Variables", {})),
        code_dir=code_dir,
        arn=config["FunctionArn"],
        runtime=config.get("Runtime", ""),
        memory_mb=int(config.get("MemorySize", 128)),
        timeout_seconds=int(config.get("Timeout", 3)),
        role=config["Role"],
        version=config.get("Version", "$LATEST"),
        last_modified=config.get("LastModified", ""),
        credentials=role_credentials(sts_client, config["Role"], name),
    )


def extract(data: bytes, target: Path) -> None:
    """Unzip next to the target, then rename: a half-written directory is never mistaken for a cached asset."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            root = staging.resolve()
            for member in archive.namelist():
                if not (staging / member).resolve().is_relative_to(root):
                    raise AssetError(f"the asset has a member outside its root: {member!r}")
            archive.extractall(staging)
        with contextlib.suppress(OSError):  # another process extracted the same digest first
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def handler_module(handler: str) -> tuple[str, str]:
    """'functions.switches.handler.handler' -> ('functions.switches.handler', 'handler')."""
    module, _, attribute = handler.replace("/", ".").rpartition(".")
    if not module or not attribute:
        raise AssetError(f"the handler {handler!r} is not of the form module.function")
    return module, attribute


def module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.parent / f"{base.name}.py", base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def missing_path(root: Path, module: str) -> str:
    """The shallowest part of a module's path that is absent: a dropped folder says more than a file."""
    parts = module.split(".")
    for depth in range(1, len(parts)):
        folder = root.joinpath(*parts[:depth])
        if not folder.is_dir():
            return "/".join(parts[:depth]) + "/"
    return "/".join(parts) + ".py"


def check_asset(function_name: str, handler: str, root: Path) -> None:
    module, _ = handler_module(handler)
    if module_file(root, module) is None:
        raise AssetError(
            f"the deployed asset of {function_name} lacks {missing_path(root, module)} "
            f"(the handler {handler}): {BROKEN_ASSET_HINT}"
        )
    missing = unresolved_imports(root, module)
    if missing:
        lacking = sorted({missing_path(root, name) for name in missing})
        needed_by = sorted({importer for importers in missing.values() for importer in importers})
        raise AssetError(
            f"the deployed asset of {function_name} lacks {', '.join(lacking)} "
            f"(needed for {', '.join(sorted(missing))}; imported by {', '.join(needed_by)}): {BROKEN_ASSET_HINT}"
        )


def unresolved_imports(root: Path, start: str) -> dict[str, set[str]]:
    """Every `functions.*` module reachable from `start` by imports that is not in the asset, with its importers."""
    missing: dict[str, set[str]] = {}
    seen: set[str] = set()
    queue = [start]
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        path = module_file(root, module)
        if path is None:
            continue
        importer = str(path.relative_to(root))
        for name in imported_modules(root, module, path):
            if module_file(root, name) is None:
                missing.setdefault(name, set()).add(importer)
            else:
                queue.append(name)
    return missing


def imported_modules(root: Path, module: str, path: Path) -> set[str]:
    """The `functions.*` modules one file imports (relative imports resolved; `from pkg import sub` counted)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if in_package(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = absolute_from(package, node)
            if not in_package(base):
                continue
            found.add(base)
            for alias in node.names:
                # `from functions.shared import audit` imports a module; `from .x import name` does not.
                sub = f"{base}.{alias.name}"
                if root.joinpath(*base.split(".")).is_dir() and not defined_in(root, base, alias.name):
                    found.add(sub)
    return found


def in_package(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def absolute_from(package: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


def defined_in(root: Path, package: str, name: str) -> bool:
    """Whether a package's __init__ binds `name` itself (else `from package import name` needs a submodule)."""
    init = root.joinpath(*package.split("."), "__init__.py")
    if not init.is_file():
        return False
    tree = ast.parse(init.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return True
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return True
        if isinstance(node, ast.Import | ast.ImportFrom) and any(
            (alias.asname or alias.name.split(".")[0]) == name for alias in node.names
        ):
            return True
    return False


# --- invoke: the Lambda runtime's part ----------------------------------------------------------


@dataclass
class LambdaContextStandIn:
    """What Lambda passes as `context`, with the attributes Powertools and the handlers read."""

    function_name: str
    aws_request_id: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "sandbox"
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_seconds - (time.monotonic() - self.started)
        return max(0, int(left * 1000))


def lambda_environment(fn: DeployedFunction, *, endpoint: str) -> dict[str, str]:
    region = fn.arn.split(":")[3] if fn.arn.count(":") >= 4 else REGION
    return {
        **fn.environment,
        **fn.credentials,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,  # no profile of the shell's may add settings
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_LAMBDA_FUNCTION_NAME": fn.name,
        "AWS_LAMBDA_FUNCTION_VERSION": fn.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "sandbox",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime or 'python'}",
        "LAMBDA_TASK_ROOT": str(fn.code_dir),
        "_HANDLER": fn.handler,
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
    }


def invoke(fn: DeployedFunction, payload: Any, *, endpoint: str, request_id: str | None = None) -> Invocation:
    """Run the deployed handler once, as Lambda would; an error inside it is returned, not raised."""
    request_id = request_id or str(uuid.uuid4())
    context = LambdaContextStandIn(
        function_name=fn.name,
        aws_request_id=request_id,
        invoked_function_arn=fn.arn,
        memory_limit_in_mb=fn.memory_mb,
        timeout_seconds=fn.timeout_seconds,
        function_version=fn.version,
        log_group_name=f"/aws/lambda/{fn.name}",
    )
    environment = {**scrubbed(os.environ), **lambda_environment(fn, endpoint=endpoint)}
    configuration = (fn.role, fn.last_modified)
    return run(
        fn.handler, payload, context=context, code_dir=fn.code_dir, environment=environment, configuration=configuration
    )


def scrubbed(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in environ.items() if not name.startswith(SCRUBBED_PREFIXES)}


_ONE_AT_A_TIME = threading.Lock()  # an invocation owns os.environ, sys.path and sys.modules while it runs

# Set for each invocation, never a reason for a new execution environment: the role session's keys (load() assumes
# the role afresh each time). Modules kept warm keep the clients they made with the keys of their first invocation,
# of the same role, as a Lambda environment keeps its credentials.
PER_INVOCATION = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})


@dataclass(frozen=True)
class ExecutionEnvironment:
    """What an execution environment was set up with. Lambda reuses a function version's environment for later
    invocations and sets up a new one for new code or a configuration update (AWS Lambda Developer Guide, "Lambda
    execution environment lifecycle"): the code (its digest names code_dir), the handler, memory, timeout, the
    environment variables, and `configuration`, what else the caller knows changed (the role, LastModified)."""

    function_arn: str
    version: str
    handler: str
    code_dir: str
    memory_mb: int
    timeout_seconds: int
    configuration: tuple[str, ...]
    variables: frozenset[tuple[str, str]]

    @classmethod
    def of(
        cls,
        handler: str,
        context: LambdaContextStandIn,
        code_dir: Path,
        environment: Mapping[str, str],
        configuration: tuple[str, ...],
    ) -> ExecutionEnvironment:
        return cls(
            function_arn=context.invoked_function_arn or context.function_name,
            version=context.function_version,
            handler=handler,
            code_dir=str(code_dir),
            memory_mb=context.memory_limit_in_mb,
            timeout_seconds=context.timeout_seconds,
            configuration=configuration,
            variables=frozenset((name, value) for name, value in environment.items() if name not in PER_INVOCATION),
        )


# Each function version's current environment and the `functions` modules it keeps; a new one replaces the old.
_WARM: dict[tuple[str, str], tuple[ExecutionEnvironment, dict[str, ModuleType]]] = {}


def kept_modules(wanted: ExecutionEnvironment) -> dict[str, ModuleType]:
    """The modules of the function's warm environment, or none (a cold start) when it has none of this set-up."""
    slot = (wanted.function_arn, wanted.version)
    found = _WARM.get(slot)
    if found is None or found[0] != wanted:
        found = _WARM[slot] = (wanted, {})
    return found[1]


def run(
    handler: str,
    payload: Any,
    *,
    context: LambdaContextStandIn,
    code_dir: Path,
    environment: Mapping[str, str],
    configuration: tuple[str, ...] = (),
) -> Invocation:
    event = json.loads(json.dumps(payload))  # the handler gets its own copy, as from the wire
    response: Any = None
    error: InvocationError | None = None
    crashed = False
    service = environment.get("POWERTOOLS_SERVICE_NAME", "service_undefined")
    wanted = ExecutionEnvironment.of(handler, context, code_dir, environment, configuration)
    with _ONE_AT_A_TIME:
        modules = kept_modules(wanted)
        with (
            isolated(code_dir, environment, modules),
            captured_output(service) as logs,
            warnings.catch_warnings(),  # a warning goes to the function's log, as in Lambda
        ):
            started = time.perf_counter()
            try:
                warnings.simplefilter("default")
                warnings.showwarning = log_warning
                function = resolve(handler)
                response = marshal(function(event, context))
            except _RuntimeError as failed:
                error = failed.as_error()
                crashed = failed.kind != "Runtime.MarshalError"  # init failed: Lambda runs the init again next time
            except (Exception, SystemExit) as raised:  # the handler's failure is the result, as in Lambda
                error = describe(raised, type(raised).__name__)
                crashed = isinstance(raised, SystemExit)  # the runtime's process is gone with its modules
            duration_ms = (time.perf_counter() - started) * 1000
        if crashed:
            modules.clear()
    return Invocation(
        function_name=context.function_name,
        request_id=context.aws_request_id,
        payload=payload,
        response=response,
        error=error,
        duration_ms=round(duration_ms, 1),
        logs=logs.getvalue(),
    )


def log_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, *_: object, **__: object
) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno))


class _RuntimeError(Exception):
    """A failure of the runtime around the handler, named the way Lambda names it."""

    def __init__(self, kind: str, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.kind = kind
        self.cause = cause

    def as_error(self) -> InvocationError:
        return describe(self.cause, self.kind)


def describe(raised: BaseException, kind: str) -> InvocationError:
    frames = [frame for frame in traceback.extract_tb(raised.__traceback__) if frame.filename != __file__]
    return InvocationError(
        type=kind,
        message=str(raised),
        traceback="".join(traceback.format_exception(type(raised), raised, raised.__traceback__)),
        stack=tuple(traceback.format_list(frames)),
    )


def resolve(handler: str) -> Callable[[Any, Any], Any]:
    module_name, attribute = handler_module(handler)
    try:
        module = importlib.import_module(module_name)
    except Exception as failed:
        raise _RuntimeError("Runtime.ImportModuleError", failed) from failed
    function = getattr(module, attribute, None)
    if not callable(function):
        raise _RuntimeError("Runtime.HandlerNotFound", AttributeError(f"{module_name} has no handler {attribute}"))
    return function  # type: ignore[no-any-return]


def marshal(response: Any) -> Any:
    try:
        return json.loads(json.dumps(response))
    except (TypeError, ValueError) as failed:
        raise _RuntimeError("Runtime.MarshalError", failed) from failed


def is_function_module(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


@contextlib.contextmanager
def isolated(code_dir: Path, environment: Mapping[str, str], kept: dict[str, ModuleType]) -> Iterator[None]:
    """Import `functions` from code_dir with this environment, starting from the `kept` modules of the function's
    execution environment (none: a cold start), which are then the ones the invocation leaves; then put the host
    process back as it was."""
    saved_environ = dict(os.environ)
    saved_path = list(sys.path)
    saved_dont_write_bytecode = sys.dont_write_bytecode
    saved_modules = {name: module for name, module in sys.modules.items() if is_function_module(name)}
    saved_default_session = _swap_boto3_default_session(None)
    _swap_boto3_default_session(_HandlerDefaultSession(saved_default_session))
    purge_function_modules()
    sys.modules.update(kept)
    os.environ.clear()
    os.environ.update(environment)
    sys.path.insert(0, str(code_dir))
    # Lambda's /var/task is read-only and the asset ships no bytecode: every cold start compiles the function's
    # modules, so none are cached here either.
    sys.dont_write_bytecode = True
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.dont_write_bytecode = saved_dont_write_bytecode
        _swap_boto3_default_session(saved_default_session)
        kept.clear()
        kept.update((name, module) for name, module in sys.modules.items() if is_function_module(name))
        purge_function_modules()
        sys.modules.update(saved_modules)
        sys.path[:] = saved_path
        os.environ.clear()
        os.environ.update(saved_environ)


class _HandlerDefaultSession:
    """boto3's default session (what `boto3.client()` uses) while a handler runs: the handler's thread gets one of
    its own, made from its environment, as each function has its own process in Lambda, so its credentials are its
    role's and no other's; any other thread of this process keeps the one it had (a handler's own threads, when
    there was none, share the handler's)."""

    def __init__(self, kept: Any) -> None:
        self.handler_thread = threading.get_ident()
        self.kept = kept
        self.own: Any = None

    def __getattr__(self, name: str) -> Any:
        if threading.get_ident() != self.handler_thread and self.kept is not None:
            return getattr(self.kept, name)
        if self.own is None:
            self.own = sys.modules["boto3"].session.Session()
        return getattr(self.own, name)


def _swap_boto3_default_session(session: Any) -> Any:
    """Put `session` as boto3's default and return the one it replaces (none while boto3 is not loaded)."""
    boto3 = sys.modules.get("boto3")  # not imported here: a handler that never loads boto3 needs no session
    if boto3 is None:
        return None
    attributes = vars(boto3)
    replaced = attributes.get("DEFAULT_SESSION")
    attributes["DEFAULT_SESSION"] = session
    return replaced


def purge_function_modules() -> None:
    for name in [name for name in sys.modules if is_function_module(name)]:
        del sys.modules[name]


class _Relay(io.TextIOBase):
    """A stream that writes to the capture of the running invocation, else to the real stream.

    Powertools' Logger keeps the stream it was first created with, across re-imports, so it must
    be given one stream that outlives any single invocation.
    """

    def __init__(self, stream: str) -> None:
        super().__init__()
        self.stream = stream  # "stdout" or "stderr"
        self.capture: io.StringIO | None = None

    def real(self) -> TextIO:
        current = getattr(sys, self.stream)
        if current is self or current is None:
            current = getattr(sys, f"__{self.stream}__")
        return cast(TextIO, current)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return (self.capture or self.real()).write(text)

    def flush(self) -> None:
        if self.capture is None:
            self.real().flush()


_STDOUT = _Relay("stdout")
_STDERR = _Relay("stderr")


@contextlib.contextmanager
def captured_output(service: str) -> Iterator[io.StringIO]:
    """stdout and stderr of the handler, interleaved as in its CloudWatch log stream."""
    buffer = io.StringIO()
    saved = sys.stdout, sys.stderr
    _STDOUT.capture = _STDERR.capture = buffer
    sys.stdout, sys.stderr = _STDOUT, _STDERR
    # A Powertools logger configured before (by an earlier import in this process) keeps its stream.
    handlers = [
        handler
        for handler in logging.getLogger(service).handlers
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler)
    ]
    streams = [handler.setStream(_STDOUT) for handler in handlers]
    try:
        yield buffer
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            if stream is not None:
                handler.setStream(stream)
        sys.stdout, sys.stderr = saved
        _STDOUT.capture = _STDERR.capture = None


# --- invoke --here: the repo's handler against whatever AWS the shell points to ------------------


@dataclass(frozen=True)
class HereSettings:
    """What the stack would give a function, computed from the policy file and the shell's account."""

    function_name: str
    environment: Mapping[str, str]
    region: str
    function_arn: str


def here_settings(function_name: str, policy_path: Path) -> HereSettings:
    """`function_name` is the deployed name or the service's (`deckhand-switches` or `switches`)."""
    # stacks.core starts the CDK's jsii runtime: 0.67 s (median of 7, after the CLI's imports) only `--here` pays.
    import boto3  # noqa: PLC0415

    from stacks.core import audit_table_name, function_environment, topic_name  # noqa: PLC0415
    from stacks.deckhand_stack import service_environment  # noqa: PLC0415
    from stacks.policy import load_policy  # noqa: PLC0415

    policy = load_policy(policy_path)
    region = policy.regions[0]  # where the stack, and so the function, lives
    identity = boto3.session.Session().client("sts", region_name=region).get_caller_identity()
    partition, account = identity["Arn"].split(":")[1], identity["Account"]
    prefix = policy.name_prefix
    service = function_name.removeprefix(f"{prefix}-")
    function_name = f"{prefix}-{service}"
    environment = function_environment(
        policy,
        audit_table=audit_table_name(prefix),
        topic_arn=f"arn:{partition}:sns:{region}:{account}:{topic_name(prefix)}",
    )
    environment |= service_environment(policy, service, partition=partition, account=account, region=region)
    return HereSettings(
        function_name=function_name,
        environment={**environment, "POWERTOOLS_SERVICE_NAME": service},
        region=region,
        function_arn=f"arn:{partition}:lambda:{region}:{account}:function:{function_name}",
    )


def invoke_here(function_name: str, handler: str, payload: Any, *, policy_path: Path) -> Invocation:
    """Run a handler from this repository with the settings the stack would give it, on the shell's AWS."""
    repo = Path(__file__).resolve().parent.parent
    settings = here_settings(function_name, policy_path)
    context = LambdaContextStandIn(
        function_name=settings.function_name,
        aws_request_id=str(uuid.uuid4()),
        invoked_function_arn=settings.function_arn,
        memory_limit_in_mb=256,
        timeout_seconds=30,
        log_group_name=f"/aws/lambda/{settings.function_name}",
    )
    shell = {name: value for name, value in os.environ.items() if not name.startswith(("DECKHAND_", "POWERTOOLS_"))}
    environment = {
        **shell,
        **settings.environment,
        "AWS_REGION": settings.region,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_LAMBDA_FUNCTION_NAME": settings.function_name,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    return run(handler, payload, context=context, code_dir=repo, environment=environment)
