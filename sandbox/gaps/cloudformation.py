"""What moto's CloudFormation needs of the resource types the sandbox adds, and of the tags it misreads.

moto finds resource types among CloudFormationModel's direct subclasses and lists them once: each service module
subclasses it with one of these mixins, and `let_moto_see(models)` has moto list them again.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from wsgiref.types import WSGIApplication

from moto.cloudformation import parsing as cloudformation_parsing
from moto.cloudformation.models import StackSet, cloudformation_backends
from moto.core.common_models import CloudFormationModel
from moto.organizations.models import OrganizationsBackend, organizations_backends
from moto.utilities.utils import get_partition
from werkzeug.wrappers import Request, Response

from sandbox.gaps.common import JSON, caller
from sandbox.iam.model import Call

PARTITION = "aws"


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


class CfnStackSet(CloudFormationModel):
    """AWS::CloudFormation::StackSet, service-managed: its stack instances deployed in the accounts its deployment
    targets resolve to through the organization moto holds, in each of its regions, with its parameters.

    moto's own CreateStackInstances neither filters by AccountFilterType nor follows units below the first level,
    and it deploys to the management account: this resolves the targets as CloudFormation does (`deployment_targets`)
    and has moto deploy to those accounts. Each instance's stack is made in its account's and region's backend, as
    the StackSets service role (AWSServiceRoleForCloudFormationStackSetsOrgMember) would make it there."""

    def __init__(self, stack_set: StackSet) -> None:
        self.stack_set = stack_set

    @property
    def physical_resource_id(self) -> str:
        return str(self.stack_set.id)

    @staticmethod
    def cloudformation_name_type() -> str:
        return "StackSetName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudFormation::StackSet"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "StackSetId"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name != "StackSetId":
            raise ValueError(f"AWS::CloudFormation::StackSet has no attribute {attribute_name!r}")
        return str(self.stack_set.id)

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str, **kwargs: Any
    ) -> CfnStackSet:
        properties = cloudformation_json["Properties"]
        if properties.get("PermissionModel") != "SERVICE_MANAGED" or "TemplateBody" not in properties:
            raise ValueError("the sandbox deploys service-managed StackSets with a TemplateBody only")
        parameters = list(properties.get("Parameters", []))
        stack_set = cloudformation_backends[account_id][region_name].create_stack_set(
            name=properties.get("StackSetName", resource_name),
            template=properties["TemplateBody"],
            parameters={p["ParameterKey"]: p["ParameterValue"] for p in parameters},
            tags={t["Key"]: t["Value"] for t in properties.get("Tags", [])},
            permission_model="SERVICE_MANAGED",
            admin_role=None,
            exec_role=None,
            description=properties.get("Description"),
        )
        groups = list(properties.get("StackInstancesGroup", []))
        organization = organizations_backends[account_id][get_partition(region_name)]
        for group in groups:
            accounts = deployment_targets(group["DeploymentTargets"], organization)
            regions = list(group["Regions"])
            stack_set.instances.create_instances(accounts, regions, parameters, {}, "SERVICE_MANAGED")
            stack_set._create_operation(str(uuid.uuid4()), "CREATE", "SUCCEEDED", accounts, regions)
        if (properties.get("AutoDeployment") or {}).get("Enabled"):
            retain = bool(properties["AutoDeployment"].get("RetainStacksOnAccountRemoval"))
            AUTO_DEPLOYED[account_id].append(AutoDeployed(stack_set, region_name, groups, parameters, retain))
        return cls(stack_set)

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: JSON, account_id: str, region_name: str
    ) -> None:
        backend = cloudformation_backends[account_id][region_name]
        stack_set = backend.describe_stack_set(cloudformation_json["Properties"].get("StackSetName", resource_name))
        AUTO_DEPLOYED[account_id] = [auto for auto in AUTO_DEPLOYED[account_id] if auto.stack_set is not stack_set]
        for instance in list(stack_set.stack_instances):
            stack_set.instances.delete([instance.account_id], [instance.region_name])
        backend.delete_stack_set(stack_set.id)


@dataclass(frozen=True)
class AutoDeployed:
    """A service-managed StackSet with automatic deployment: what it targets, to follow the organization's moves."""

    stack_set: StackSet
    region: str  # the StackSet's, in the management account
    groups: list[JSON]
    parameters: list[JSON]
    retain: bool  # RetainStacksOnAccountRemoval

    def held_by_moto(self, account_id: str) -> bool:
        """Whether moto still holds this StackSet, not deleted: a moto reset (/moto-api/reset, or mock_aws in the
        same process) empties moto's backends but not this registry, and a StackSet from before it follows nothing."""
        stack_sets = cloudformation_backends[account_id][self.region].stacksets
        return stack_sets.get(self.stack_set.id) is self.stack_set and self.stack_set.status != "DELETED"

    def follow(self, organization: OrganizationsBackend) -> None:
        """Instances for the accounts that joined the targeted units, none (unless retained) for those that left.

        "StackSets automatically deploys to accounts that are added to the target organization or organizational
        units (OUs)", and removes them from accounts removed from those OUs unless RetainStacksOnAccountRemoval
        (CloudFormation User Guide, "Enable or disable automatic deployments for StackSets in AWS Organizations")."""
        for group in self.groups:
            regions = list(group["Regions"])
            wanted = set(deployment_targets(group["DeploymentTargets"], organization))
            placed = {instance.account_id for instance in self.stack_set.stack_instances}
            if joined := sorted(wanted - placed):
                self.stack_set.instances.create_instances(joined, regions, self.parameters, {}, "SERVICE_MANAGED")
            if (left := sorted(placed - wanted)) and not self.retain:
                self.stack_set.instances.delete(left, regions)


# Per management account, in the server's process like moto's backends.
AUTO_DEPLOYED: defaultdict[str, list[AutoDeployed]] = defaultdict(list)
# The Organizations calls that change which accounts a unit holds.
MEMBERSHIP_OPERATIONS = ("CreateAccount", "MoveAccount", "RemoveAccountFromOrganization", "CloseAccount")


def follow_the_organization(moto_app: WSGIApplication, request: Request, call: Call) -> Response:
    """An Organizations call that changes a unit's accounts, answered by moto; then each StackSet of the management
    account with automatic deployment follows it."""
    answer = Response.from_app(moto_app, request.environ, buffered=True)
    if answer.status_code == 200:
        account, _ = caller(request)
        organization = organizations_backends[account][PARTITION]
        AUTO_DEPLOYED[account] = [auto for auto in AUTO_DEPLOYED[account] if auto.held_by_moto(account)]
        for auto in AUTO_DEPLOYED[account]:
            auto.follow(organization)
    return answer


def deployment_targets(targets: JSON, organization: OrganizationsBackend) -> list[str]:
    """The accounts a service-managed StackSet's DeploymentTargets name: the accounts of the units (and the units
    under them; the root id is every account), filtered by AccountFilterType against Accounts, never the management
    account (botocore `cloudformation` service model, DeploymentTargets and its AccountFilterType)."""
    if organization.org is None:
        raise ValueError("a service-managed StackSet needs the account to be an organization's management account")
    units = set(targets.get("OrganizationalUnitIds", []))
    while True:
        children = {unit.id for unit in organization.ou if getattr(unit, "parent_id", None) in units}
        if children <= units:
            break
        units |= children
    in_units = [account.id for account in organization.accounts if account.parent_id in units]
    named = set(targets.get("Accounts", []))
    chosen = {
        "NONE": in_units,
        "INTERSECTION": [account for account in in_units if account in named],
        "DIFFERENCE": [account for account in in_units if account not in named],
        "UNION": [*in_units, *sorted(named - set(in_units))],
    }[targets.get("AccountFilterType", "UNION" if named else "NONE")]
    return [account for account in chosen if account != organization.org.master_account_id]
