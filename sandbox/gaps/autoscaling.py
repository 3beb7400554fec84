"""Auto Scaling gaps: moto runs no instance refresh and does not answer DescribeInstanceRefreshes; Application
Auto Scaling tags, which moto (5.2.5) lacks: TagResource, UntagResource, ListTagsForResource.

Deckhand's capacity role may register only scalable targets tagged `deckhand:capacity-target` with a
policy target's name (see stacks/capacity.py), so the sandbox must keep a scalable target's tags for the
IAM mapping to read them as `aws:ResourceTag/*`. They live on moto's own target object: deregistering it
drops them, as in AWS. Errors follow the service model: an ARN that names no target is
ResourceNotFoundException; more than 50 tags, ValidationException (TagResource's documented limit).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from moto.applicationautoscaling.models import FakeScalableTarget
from werkzeug.wrappers import Request, Response

from sandbox.gaps.common import caller
from sandbox.iam.actions.application_autoscaling import TAGS, find, tags_of
from sandbox.iam.model import Call

TAG_OPERATIONS = ("TagResource", "UntagResource", "ListTagsForResource")
MAX_TAGS = 50


class TagError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def no_instance_refreshes(request: Request, call: Call) -> Response:
    namespace = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
    body = (
        f'<DescribeInstanceRefreshesResponse xmlns="{namespace}"><DescribeInstanceRefreshesResult>'
        "<InstanceRefreshes></InstanceRefreshes></DescribeInstanceRefreshesResult>"
        f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        "</DescribeInstanceRefreshesResponse>"
    )
    return Response(body, content_type="text/xml")


def _target(account: str, region: str, arn: Any) -> FakeScalableTarget:
    found = find(account, region, str(arn))
    if found is None:
        raise TagError("ResourceNotFoundException", f"No scalable target found for ARN {arn}")
    return found


def handle(operation: str, body: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    target = _target(account, region, body.get("ResourceARN"))
    tags = dict(tags_of(target))
    if operation == "TagResource":
        tags.update({str(k): str(v) for k, v in dict(body["Tags"]).items()})
        if len(tags) > MAX_TAGS:
            raise TagError("TooManyTagsException", f"a scalable target takes at most {MAX_TAGS} tags")
    elif operation == "UntagResource":
        for key in body["TagKeys"]:
            tags.pop(str(key), None)
    else:
        return {"Tags": tags}
    setattr(target, TAGS, tags)
    return {}


def tags(request: Request, call: Call) -> Response:
    """A scalable target tagging operation, answered as Application Auto Scaling does."""
    try:
        result = handle(call.operation, json.loads(request.get_data() or b"{}"), *caller(request))
    except TagError as error:
        return _error(error.code, error.message, 400)
    except (KeyError, TypeError, ValueError) as error:
        return _error("ValidationException", f"invalid request: {error!r}", 400)
    return Response(json.dumps(result), content_type="application/x-amz-json-1.1")


def _error(code: str, message: str, status: int) -> Response:
    body = json.dumps({"__type": code, "message": message})
    return Response(body, status=status, content_type="application/x-amz-json-1.1")
