"""The kinds' declared listings are calls botocore's service models accept, as the typed stubs would check them."""

from __future__ import annotations

import re

import boto3
import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.validate import validate_parameters

from functions.cleanup.kinds import KINDS
from functions.cleanup.kinds.base import Listing
from functions.cleanup.kinds.common import OWN_IMAGES

LISTINGS = {name: kind.listing for name, kind in KINDS.items() if isinstance(getattr(kind, "listing", None), Listing)}
LISTINGS["own AMIs"] = OWN_IMAGES


def check(listing: Listing) -> None:
    """Raise when the listing is not a paginated operation of its service taking these parameters and a page size,
    or when its items' first key is not in the operation's output."""
    meta = boto3.client(listing.service, region_name="us-east-1").meta
    if listing.operation not in meta.method_to_api_mapping:
        raise ValueError(f"{listing.service} has no operation {listing.operation}")
    api_name = meta.method_to_api_mapping[listing.operation]
    operation = meta.service_model.operation_model(api_name)
    validate_parameters(dict(listing.parameters), operation.input_shape)
    paging = botocore.session.get_session().get_paginator_model(listing.service).get_paginator(api_name)
    if listing.page_size and "limit_key" not in paging:
        raise ValueError(f"{listing.operation} takes no page size")
    first = re.match(r"\w+", listing.items)
    assert operation.output_shape is not None
    if first is None or first.group() not in operation.output_shape.members:
        raise ValueError(f"{listing.operation}'s output has no {listing.items}")


def test_the_simple_listings_are_declared() -> None:
    assert set(LISTINGS) == {"ebs-snapshot", "ebs-volume", "log-group", "cfn-stack", "stopped-instance", "own AMIs"}


@pytest.mark.parametrize("name", sorted(LISTINGS))
def test_each_listing_is_an_operation_its_service_model_accepts(name: str) -> None:
    check(LISTINGS[name])


@pytest.mark.parametrize(
    ("listing", "refused"),
    [
        (Listing("ec2", "describe_snapshot", "Snapshots"), ValueError),
        (Listing("ec2", "describe_snapshots", "Snapshots", {"Owners": ["self"]}), ParamValidationError),
        (Listing("ec2", "describe_snapshots", "Snapshots", {"OwnerIds": "self"}), ParamValidationError),
        (Listing("ec2", "describe_snapshots", "Volumes"), ValueError),
        (Listing("cloudformation", "describe_stacks", "Stacks", page_size=100), ValueError),
    ],
)
def test_a_listing_the_model_refuses_is_caught(listing: Listing, refused: type[Exception]) -> None:
    with pytest.raises(refused):
        check(listing)
