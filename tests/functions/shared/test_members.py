from __future__ import annotations

import pytest

from functions.shared.members import (
    MEMBER_DELETER_ROLE_VARIABLE,
    MEMBER_ROLE_VARIABLE,
    Home,
    NotInOrganization,
    Place,
)

ARN = "arn:aws-us-gov:lambda:us-gov-west-1:111122223333:function:deckhand-cleanup"


def test_home_reads_partition_account_and_region_from_the_function_arn() -> None:
    assert Home.of(ARN) == Home(partition="aws-us-gov", account="111122223333", region="us-gov-west-1")


@pytest.mark.parametrize("arn", ["", "arn:aws:iam::111122223333:role/x", "not an arn"])
def test_home_refuses_what_is_not_a_function_arn(arn: str) -> None:
    with pytest.raises(ValueError, match="expected a Lambda function ARN"):
        Home.of(arn)


def test_own_account_needs_no_role() -> None:
    assert Home.of(ARN).role_in("111122223333", env={}) is None


def test_member_account_gets_the_named_role_in_the_function_partition() -> None:
    env = {MEMBER_ROLE_VARIABLE: "deckhand-member", MEMBER_DELETER_ROLE_VARIABLE: "deckhand-member-deleter"}
    home = Home.of(ARN)
    assert home.role_in("444455556666", env) == "arn:aws-us-gov:iam::444455556666:role/deckhand-member"
    assert (
        home.role_in("444455556666", env, MEMBER_DELETER_ROLE_VARIABLE)
        == "arn:aws-us-gov:iam::444455556666:role/deckhand-member-deleter"
    )


def test_another_account_without_a_member_role_is_refused_by_name() -> None:
    with pytest.raises(NotInOrganization, match=r"444455556666 .*DECKHAND_MEMBER_ROLE is not set"):
        Home.of(ARN).role_in("444455556666", env={})


def test_a_place_defaults_to_the_functions_own_account_and_region_and_reaches_a_member_through_its_role() -> None:
    home = Home.of(ARN)
    env = {MEMBER_ROLE_VARIABLE: "deckhand-member-capacity"}
    assert home.place(None, None, env) == home.here == Place("111122223333", "us-gov-west-1")
    assert home.place(None, "us-gov-east-1", {}) == Place("111122223333", "us-gov-east-1")
    assert home.place("444455556666", None, env) == Place(
        "444455556666", "us-gov-west-1", "arn:aws-us-gov:iam::444455556666:role/deckhand-member-capacity"
    )
    with pytest.raises(NotInOrganization):
        home.place("444455556666", "us-gov-west-1", {})
