"""What moto's CloudFormation needs of the resource types the sandbox adds, and of the tags it misreads.

moto finds resource types among CloudFormationModel's direct subclasses and lists them once: each service module
subclasses it with one of these mixins, and `let_moto_see(models)` has moto list them again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from moto.cloudformation import parsing as cloudformation_parsing
from moto.core.common_models import CloudFormationModel

from sandbox.gaps.common import JSON


class NamedModel:
    """What moto's CloudFormation needs of a resource the sandbox adds: named by one property, with an `Arn`.

    A mixin: moto finds resource types among CloudFormationModel's direct subclasses only.
    """

    TYPE = ""
    NAME_PROPERTY = "Name"

    def __init__(self, name: str, arn: str) -> None:
        self.name = name
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name != "Arn":
            raise ValueError(f"{self.TYPE} has no attribute {attribute_name!r} in the sandbox")
        return self.arn

    def is_created(self) -> bool:
        return True


class CfnAttachment:
    """What moto's CloudFormation needs of a resource that only sets something on others (a policy, a function's
    invoke configuration), named by its logical id.

    A mixin: moto finds resource types among CloudFormationModel's direct subclasses only.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    def is_created(self) -> bool:
        return True

    @classmethod
    def attach(cls, properties: JSON, account_id: str, region_name: str, *, removing: bool = False) -> None:
        raise NotImplementedError

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        cls.attach(cloudformation_json["Properties"], account_id, region_name)
        return cls(resource_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: JSON,
        account_id: str,
        region_name: str,
    ) -> Any:
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str
    ) -> None:
        cls.attach(cloudformation_json["Properties"], account_id, region_name, removing=True)


def let_moto_see(models: Iterable[type[CloudFormationModel]]) -> None:
    """moto lists its resource types once: list them again, with the sandbox's `models` among them."""
    for listing in (
        cloudformation_parsing.get_model_list,
        cloudformation_parsing.get_model_map,
        cloudformation_parsing.get_name_type_map,
    ):
        listing.cache_clear()
    unseen = [
        model
        for model in models
        if cloudformation_parsing.get_model_map().get(model.cloudformation_type()) is not model
    ]
    if unseen:
        raise TypeError(f"moto's CloudFormation does not see {unseen}: subclass CloudFormationModel directly")


def convert_tags(resource: Any, convert: Any) -> None:
    """moto reads some resources' CloudFormation Tags in their API shape; hand it that shape."""
    original = resource.create_from_cloudformation_json.__func__
    if getattr(original, "deckhand_tags", False):
        return

    def create(cls: Any, /, name: str, template: JSON, account_id: str, region_name: str, **kwargs: Any) -> Any:
        properties = template.get("Properties", {})
        if properties.get("Tags"):
            properties["Tags"] = convert(properties["Tags"])
        return original(cls, name, template, account_id, region_name, **kwargs)

    create.deckhand_tags = True  # type: ignore[attr-defined]
    resource.create_from_cloudformation_json = classmethod(create)
