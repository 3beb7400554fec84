"""The sandbox's application: the dispatch table names real operations; what no gap filler answers passes through
to moto."""

from __future__ import annotations

import botocore.session

from sandbox.gaps.app import handlers, make_app
from sandbox.gaps.store import Store
from tests.support.sandbox_server import Client, control

ACCOUNT = "123456789012"
REGION = "us-east-1"


def test_other_requests_pass_through_to_moto(endpoint: str, client: Client) -> None:
    topic = client("sns").create_topic(Name="passthrough")["TopicArn"]
    assert topic == f"arn:aws:sns:{REGION}:{ACCOUNT}:passthrough"
    assert control(endpoint, "GET", "/_sandbox/nope")[0] == 404


def test_every_dispatched_call_is_an_operation_of_its_service_model() -> None:
    """A key botocore would never read (a typo, a service's signing name) would leave its gap to moto unseen."""
    session = botocore.session.get_session()
    dispatched = handlers(Store(), make_app().moto_app)
    assert dispatched
    for service, operation in dispatched:
        assert operation in session.get_service_model(service).operation_names, (service, operation)
