"""What every gap filler shares: the API error it answers, the caller a request is signed as, time formats."""

from __future__ import annotations

import json
import os
import re
import secrets
import string
from datetime import UTC, datetime
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iam.models import get_account_id_from
from werkzeug.wrappers import Request, Response

from sandbox import REGION

JSON = dict[str, Any]

CREDENTIAL_SCOPE = re.compile(r"Credential=(?P<key>[^/,\s]+)/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/")


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def validation(message: str) -> ApiError:
    return ApiError("ValidationException", message)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def random_text(length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def rest_json(body: JSON, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def caller(request: Request) -> tuple[str, str]:
    """(account, region) the way moto resolves them for a signed request."""
    scope = CREDENTIAL_SCOPE.search(request.headers.get("Authorization", ""))
    region = scope.group("region") if scope else REGION
    account = (
        os.environ.get("MOTO_ACCOUNT_ID")
        or request.headers.get("x-moto-account-id")
        or (get_account_id_from(scope.group("key")) if scope else DEFAULT_ACCOUNT_ID)
    )
    return account, region
