"""The kinds' declared listings are calls botocore's service models accept, as the typed stubs would check them."""

from __future__ import annotations

import re

import boto3
import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.model import ListShape, OperationModel, StructureShape
from botocore.validate import validate_parameters

from functions.cleanup.kinds import KINDS
from functions.cleanup.kinds.base import Listing
from functions.cleanup.kinds.common import FUNCTION_VERSIONS, listed, per_parent

REPOSITORIES = Listing("ecr", "describe_repositories", "repositories", page_size=1000)
LISTINGS = {name: kind.listing for name, kind in KINDS.items()}


def operation_of(listing: Listing) -> OperationModel:
    meta = boto3.client(listing.service, region_name="us-east-1").meta
    if listing.operation not in meta.method_to_api_mapping:
        raise ValueError(f"{listing.service} has no operation {listing.operation}")
    return meta.service_model.operation_model(meta.method_to_api_mapping[listing.operation])


def check(listing: Listing) -> None:
    """Raise when the listing is not an operation of its service taking these parameters (and a page size, where
    given), paginated as it says, or when its items' first key is not in the operation's output; for a per-parent
    listing, when its parent is not a listing, or a parameter it takes from a parent's item is not in that item."""
    operation = operation_of(listing)
    members = operation.input_shape.members
    unknown = sorted(name for name in listing.per_parent if name not in members)
    if unknown:
        raise ValueError(f"{listing.operation} takes no {', '.join(unknown)}")
    # A parent's item gives these: stand-ins as long as the model asks.
    given = {name: "x" * members[name].metadata.get("min", 1) for name in listing.per_parent}
    validate_parameters({**listing.parameters, **given}, operation.input_shape)
    if boto3.client(listing.service, region_name="us-east-1").can_paginate(listing.operation) != listing.paginated:
        raise ValueError(f"{listing.operation} is {'not ' if listing.paginated else ''}paginated")
    if listing.paginated:
        paging = botocore.session.get_session().get_paginator_model(listing.service).get_paginator(operation.name)
        if listing.page_size and "limit_key" not in paging:
            raise ValueError(f"{listing.operation} takes no page size")
    elif listing.page_size or not re.fullmatch(r"\w+", listing.items):
        raise ValueError(f"{listing.operation} answers in one call: no page size, its items one key of the answer")
    first = re.match(r"\w+", listing.items)
    assert operation.output_shape is not None
    if first is None or first.group() not in operation.output_shape.members:
        raise ValueError(f"{listing.operation}'s output has no {listing.items}")
    if listing.parent is not None:
        check(listing.parent)
        item = parent_item(listing.parent)
        absent = sorted(key for key in listing.per_parent.values() if key not in item.members)
        if absent or not listing.per_parent:
            raise ValueError(f"{listing.parent.operation}'s items give no {', '.join(absent) or 'parameter'}")
    elif listing.per_parent:
        raise ValueError(f"{listing.operation} takes {', '.join(listing.per_parent)} from a parent it does not name")


def parent_item(listing: Listing) -> StructureShape:
    """The shape of one item of a listing whose items are one key of its answer (a list of structures)."""
    output = operation_of(listing).output_shape
    assert isinstance(output, StructureShape)
    items = output.members[listing.items]
    assert isinstance(items, ListShape), listing.items
    assert isinstance(items.member, StructureShape), listing.items
    return items.member


def test_every_kind_declares_its_listing() -> None:
    assert set(LISTINGS) == {
        "ebs-snapshot",
        "ebs-volume",
        "ami",
        "ecr-image",
        "log-group",
        "lambda-version",
        "elastic-ip",
        "cfn-stack",
        "stopped-instance",
    }
    assert LISTINGS["lambda-version"] is FUNCTION_VERSIONS  # the ECR kind lists container-image functions with it


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
        (Listing("ec2", "describe_addresses", "Addresses"), ValueError),
        (Listing("ec2", "describe_snapshots", "Snapshots", paginated=False), ValueError),
        (
            Listing(
                "ecr",
                "describe_images",
                "imageDetails",
                parent=REPOSITORIES,
                per_parent={"repository": "repositoryName"},
            ),
            ValueError,
        ),
        (
            Listing(
                "ecr", "describe_images", "imageDetails", parent=REPOSITORIES, per_parent={"repositoryName": "name"}
            ),
            ValueError,
        ),
        (
            Listing("ecr", "describe_images", "imageDetails", per_parent={"repositoryName": "repositoryName"}),
            ValueError,
        ),
    ],
)
def test_a_listing_the_model_refuses_is_caught(listing: Listing, refused: type[Exception]) -> None:
    with pytest.raises(refused):
        check(listing)


def test_a_per_parent_listing_lists_only_the_children_of_a_parents_item() -> None:
    images = LISTINGS["ecr-image"]
    with pytest.raises(ValueError, match="per-parent listing takes one item of its parent"):
        next(listed("us-east-1", images))
    with pytest.raises(ValueError, match="per-parent listing takes one item of its parent"):
        next(listed("us-east-1", REPOSITORIES, {"repositoryName": "web"}))
    with pytest.raises(ValueError, match="is not listed per parent"):
        next(per_parent("us-east-1", REPOSITORIES))
