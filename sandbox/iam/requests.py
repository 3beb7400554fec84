"""An HTTP request to the sandbox, read as the API call it is: service, operation, input, account and region.

Every protocol Deckhand's clients speak is read with botocore's own service models, the way the service
reads it: JSON (`X-Amz-Target`), Smithy RPC v2 CBOR (`/service/S/operation/Op`), query and EC2 (form
`Action` with flattened parameters, unflattened along the operation's input shape), REST-JSON (method and
URI template) and REST-XML (S3, bucket from the host or the path). The service comes from the SigV4
credential scope, whose signing name is botocore's `signingName` (or `endpointPrefix`): `monitoring` is
CloudWatch, `tagging` the Resource Groups Tagging API.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape
from botocore.parsers import RpcV2CBORParser
from moto.iam.models import get_account_id_from
from werkzeug.wrappers import Request

from sandbox.iam.actions import SERVICES
from sandbox.iam.model import Call

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

SANDBOX_ROUTES = ("/_sandbox/", "/moto-api/")
CREDENTIAL = re.compile(r"Credential=(?P<key>[^/,\s]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")
CBOR_PATH = re.compile(r"^/service/(?P<service>[^/]+)/operation/(?P<operation>[^/]+)$")
LABEL = re.compile(r"\{(?P<name>[^}+]+)(?P<greedy>\+?)\}")
S3_HOST = re.compile(r"^(?P<bucket>.+?)\.(?:s3[.-]|localhost$)")


@dataclass(frozen=True)
class Signature:
    access_key: str
    region: str
    service: str  # the signing name: monitoring, tagging, s3, ...


def parse_call(environ: WSGIEnvironment) -> Call | None:
    """The API call a signed request makes; None for the sandbox's and moto's own routes and unsigned requests.

    The body is read once and put back, so that the next application reads the request as it came.
    """
    path = environ.get("PATH_INFO", "")
    if path.startswith(SANDBOX_ROUTES):
        return None
    request = Request(environ)
    body = request.get_data(cache=True)
    environ["wsgi.input"] = io.BytesIO(body)
    signature = _signature(request)
    if signature is None:
        return None
    account = get_account_id_from(signature.access_key)  # moto's default account unless the key is another's
    for service in _signed_as().get(signature.service, ()):
        try:
            found = _read(_model(service), request, body)
        except (ValueError, LookupError, TypeError):
            # A body the service could not read either: the call, named, without its input. Its row then
            # finds nothing to authorize and refuses it (`Unreadable`).
            found = _read_name_only(_model(service), request)
        if found is not None:
            operation, params = found
            return Call(service, operation, params, account, signature.region)
    return Call(signature.service, _unread_operation(request), {}, account, signature.region)


def _signature(request: Request) -> Signature | None:
    scope = CREDENTIAL.search(request.headers.get("Authorization", "")) or CREDENTIAL.search(
        "Credential=" + request.args.get("X-Amz-Credential", "")
    )
    if scope is None:
        return None
    return Signature(scope.group("key"), scope.group("region"), scope.group("service"))


def _unread_operation(request: Request) -> str:
    """How a call no model read names itself, for the refusal that follows."""
    target = request.headers.get("X-Amz-Target")
    if target:
        return target.rpartition(".")[2]
    cbor = CBOR_PATH.match(request.path)
    if cbor:
        return cbor.group("operation")
    return request.values.get("Action") or f"{request.method} {request.path}"


@cache
def _model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


@cache
def _signed_as() -> Mapping[str, tuple[str, ...]]:
    """Signing name -> the botocore services signed with it."""
    names: dict[str, tuple[str, ...]] = {}
    for service in SERVICES:
        metadata = _model(service).metadata
        name = metadata.get("signingName") or metadata["endpointPrefix"]
        names[name] = (*names.get(name, ()), service)
    return names


def _read(model: ServiceModel, request: Request, body: bytes) -> tuple[str, dict[str, Any]] | None:
    cbor = CBOR_PATH.match(request.path)
    if cbor and request.headers.get("Smithy-Protocol") == "rpc-v2-cbor":
        return _read_cbor(model, cbor.group("service"), cbor.group("operation"), body)
    target = request.headers.get("X-Amz-Target")
    if target:
        return _read_json(model, target, body)
    # A service answers every protocol its model lists (CloudWatch: CBOR, JSON and query), not only the first.
    if {"query", "ec2"} & set(model.metadata.get("protocols") or [model.protocol]):
        return _read_query(model, request)
    if model.protocol in ("rest-json", "rest-xml"):
        return _read_rest(model, request, body)
    return None


def _read_name_only(model: ServiceModel, request: Request) -> tuple[str, dict[str, Any]] | None:
    name = _unread_operation(request)
    return (name, {}) if _operation(model, name) is not None else None


def _operation(model: ServiceModel, name: str) -> OperationModel | None:
    return model.operation_model(name) if name in model.operation_names else None


def _read_json(model: ServiceModel, target: str, body: bytes) -> tuple[str, dict[str, Any]] | None:
    prefix, _, name = target.rpartition(".")
    if prefix != model.metadata.get("targetPrefix") or _operation(model, name) is None:
        return None
    params = json.loads(body or b"{}")
    if not isinstance(params, dict):
        raise TypeError(f"a JSON body is an object, not {type(params).__name__}")
    return name, params


def _read_cbor(model: ServiceModel, service: str, name: str, body: bytes) -> tuple[str, dict[str, Any]] | None:
    if service != model.metadata.get("targetPrefix") or _operation(model, name) is None:
        return None
    if not body:
        return name, {}
    parser = RpcV2CBORParser()
    params = parser.parse_data_item(parser.get_peekable_stream_from_bytes(body))
    if not isinstance(params, dict):
        raise TypeError(f"a CBOR body is a map, not {type(params).__name__}")
    return name, params


# -- query and EC2: `Action` and flattened parameters ------------------------------------------------------------


def _read_query(model: ServiceModel, request: Request) -> tuple[str, dict[str, Any]] | None:
    form = {**request.args.to_dict(), **request.form.to_dict()}
    operation = _operation(model, form.get("Action", ""))
    if operation is None:
        return None
    shape = operation.input_shape
    params = _unflatten(shape, "", form, model.protocol == "ec2") if shape is not None else None
    return operation.name, params if isinstance(params, dict) else {}


def _query_name(member: str, shape: Shape, ec2: bool) -> str:
    if ec2:  # the EC2 protocol's own naming: queryName, else the capitalized locationName
        query_name: str | None = shape.serialization.get("queryName")
        if query_name:
            return query_name
        name: str = shape.serialization.get("name", member)
        return name[:1].upper() + name[1:]
    located: str = shape.serialization.get("name", member)
    return located


def _unflatten(shape: Shape, key: str, form: Mapping[str, str], ec2: bool) -> Any:
    """The value at `key` of a flattened form, shaped like `shape`; None when the form has none."""
    if isinstance(shape, StructureShape):
        found = {}
        for member, member_shape in shape.members.items():
            name = _query_name(member, member_shape, ec2)
            value = _unflatten(member_shape, f"{key}.{name}" if key else name, form, ec2)
            if value is not None:
                found[member] = value
        return found or None
    if isinstance(shape, ListShape):
        flattened = ec2 or shape.serialization.get("flattened", False)
        item_key = key if flattened else f"{key}.{shape.member.serialization.get('name', 'member')}"
        items = [_unflatten(shape.member, f"{item_key}.{n}", form, ec2) for n in _indices(item_key, form)]
        return items or None
    if isinstance(shape, MapShape):
        entry_key = key if shape.serialization.get("flattened", False) else f"{key}.entry"
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        entries = {
            form[f"{entry_key}.{n}.{key_name}"]: _unflatten(shape.value, f"{entry_key}.{n}.{value_name}", form, ec2)
            for n in _indices(entry_key, form)
            if f"{entry_key}.{n}.{key_name}" in form
        }
        return entries or None
    return _scalar(shape, form[key]) if key in form else None


def _indices(key: str, form: Mapping[str, str]) -> Iterator[int]:
    """1, 2, ... while the form holds the list's next item."""
    n = 1
    while any(k == f"{key}.{n}" or k.startswith(f"{key}.{n}.") for k in form):
        yield n
        n += 1


def _scalar(shape: Shape, text: str) -> Any:
    if shape.type_name in ("integer", "long"):
        return int(text)
    if shape.type_name in ("float", "double"):
        return float(text)
    if shape.type_name == "boolean":
        return text.lower() == "true"
    return text


# -- REST: method and URI template ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    operation: OperationModel
    method: str
    path: re.Pattern[str]
    query: Mapping[str, str | None]  # the URI's literal query: `?tagging`, `?x-id=GetObject`
    headers: tuple[str, ...]  # the required members sent as headers: CopyObject's x-amz-copy-source
    specificity: int

    def matches(self, request: Request, path: str) -> re.Match[str] | None:
        if request.method != self.method:
            return None
        for name, value in self.query.items():
            if name == "x-id":  # a hint some clients send and others do not; never required
                if name in request.args and request.args[name] != value:
                    return None
            elif name not in request.args or (value is not None and request.args[name] != value):
                return None
        if any(header not in request.headers for header in self.headers):
            return None
        return self.path.fullmatch(path)


@cache
def _routes(service: str) -> tuple[Route, ...]:
    model = _model(service)
    routes = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        template, _, literal = operation.http["requestUri"].partition("?")
        query: dict[str, str | None] = {}
        for part in filter(None, literal.split("&")):
            key, equals, value = part.partition("=")
            query[key] = value if equals else None
        shape = operation.input_shape
        members = shape.members if shape is not None else {}
        headers = tuple(
            members[member].serialization.get("name", member)
            for member in (shape.required_members if shape is not None else [])
            if members[member].serialization.get("location") == "header"
        )
        specificity = len(LABEL.sub("", template)) + 100 * len(set(query) - {"x-id"}) + 100 * len(headers)
        routes.append(Route(operation, operation.http["method"], _pattern(template), query, headers, specificity))
    return tuple(sorted(routes, key=lambda route: -route.specificity))


def _group(label: str) -> str:
    return re.sub(r"\W", "_", label)


def _pattern(template: str) -> re.Pattern[str]:
    """`/functions/{FunctionName}/versions` as a regex; a greedy label (`{Key+}`) spans slashes."""
    pattern, at = "", 0
    for label in LABEL.finditer(template):
        body = ".+" if label.group("greedy") else "[^/]+"
        pattern += re.escape(template[at : label.start()]) + f"(?P<{_group(label.group('name'))}>{body})"
        at = label.end()
    return re.compile(pattern + re.escape(template[at:].rstrip("/")) + "/?")


def _read_rest(model: ServiceModel, request: Request, body: bytes) -> tuple[str, dict[str, Any]] | None:
    path = request.path
    if model.protocol == "rest-xml" and model.service_name == "s3":
        virtual = S3_HOST.match(request.host.partition(":")[0])
        if virtual:
            path = f"/{virtual.group('bucket')}{path}"
    for route in _routes(model.service_name):
        labels = route.matches(request, path)
        if labels is not None:
            return route.operation.name, _rest_params(route.operation, labels, request, body, model.protocol)
    return None


def _rest_params(
    operation: OperationModel, labels: re.Match[str], request: Request, body: bytes, protocol: str
) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    payload = shape.serialization.get("payload")
    params: dict[str, Any] = {}
    unlocated: list[tuple[str, str]] = []  # (member, its name in the body)
    for member, member_shape in shape.members.items():
        location = member_shape.serialization.get("location")
        name = member_shape.serialization.get("name", member)
        if location == "uri":
            params[member] = _scalar(member_shape, labels.group(_group(name)))
        elif location == "querystring":
            value = _from_query(member_shape, name, request)
            if value is not None:
                params[member] = value
        elif location == "header" and name in request.headers:
            params[member] = _scalar(member_shape, request.headers[name])
        elif location is None and member != payload:
            unlocated.append((member, name))
    if protocol != "rest-json" or not body:
        return params  # REST-XML bodies (S3 object data, XML configurations) carry nothing IAM evaluates here
    if payload is not None:
        if isinstance(shape.members[payload], StructureShape):
            params[payload] = json.loads(body)
        return params
    document = json.loads(body)
    params.update({member: document[name] for member, name in unlocated if name in document})
    return params


def _from_query(shape: Shape, name: str, request: Request) -> Any:
    if isinstance(shape, MapShape):
        return dict(request.args) or None
    if isinstance(shape, ListShape):
        values: Sequence[str] = request.args.getlist(name)
        return [_scalar(shape.member, value) for value in values] or None
    return _scalar(shape, request.args[name]) if name in request.args else None
