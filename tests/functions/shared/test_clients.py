"""client(): one cached client per service and region, with standard retries, its mutating calls paced."""

from collections.abc import Iterator

import pytest
from moto import mock_aws

from functions.shared import clients


@pytest.fixture(autouse=True)
def fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clients.reset()
    yield
    clients.reset()


def test_the_same_service_and_region_share_one_client() -> None:
    assert clients.client("ssm") is clients.client("ssm")
    assert clients.client("ssm", "eu-west-1") is clients.client("ssm", "eu-west-1")


def test_another_region_or_service_gets_another_client() -> None:
    here = clients.client("ssm", "us-east-1")
    there = clients.client("ssm", "eu-west-1")
    assert here is not there
    assert here.meta.region_name == "us-east-1"
    assert there.meta.region_name == "eu-west-1"
    assert clients.client("sns", "us-east-1") is not here


def test_region_none_is_the_functions_own_region() -> None:
    assert clients.client("dynamodb").meta.region_name == "us-east-1"


def test_clients_retry_in_standard_mode_with_timeouts() -> None:
    config = clients.client("dynamodb").meta.config
    assert config.retries["mode"] == "standard"  # adaptive's per-client limiter would fight the pacer
    assert config.retries["total_max_attempts"] == 9  # botocore counts the first try: 8 retries
    assert config.connect_timeout == 5
    assert config.read_timeout == 20
    assert config.user_agent_appid == "deckhand"


def test_reset_forgets_cached_clients() -> None:
    before = clients.client("sqs")
    clients.reset()
    assert clients.client("sqs") is not before


def test_a_role_gets_its_own_cached_clients_with_the_roles_credentials() -> None:
    role = "arn:aws:iam::111111111111:role/deckhand-cleanup"
    with mock_aws():
        own = clients.client("sts", "us-east-1")
        assumed = clients.client("sts", "us-east-1", role=role)

        assert assumed is clients.client("sts", "us-east-1", role=role)
        assert assumed is not own
        assert own.get_caller_identity()["Account"] == "123456789012"
        assert assumed.get_caller_identity()["Account"] == "111111111111"
        assert assumed.meta.config.retries["mode"] == "standard"
        assert clients._assumed(role)._session.get_component("data_loader") is clients._models()  # parsed once


def test_reset_forgets_the_session_and_its_hooks_but_keeps_the_parsed_service_models() -> None:
    session = clients._session()
    models = session._session.get_component("data_loader")
    clients.reset()
    assert clients._session() is not session
    assert clients._session()._session.get_component("data_loader") is models
