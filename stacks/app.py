"""Build the Deckhand CDK app from a policy file; app.py and the tests both call this."""

from __future__ import annotations

import os
from pathlib import Path

from aws_cdk import App, Environment, Validations
from cdk_nag import AwsSolutionsChecks

from .core import POLICY_CONTEXT_KEY, policy_source
from .deckhand_stack import DeckhandStack
from .member import MemberStack, member_stack_name
from .policy import Policy, load_policy
from .versions import REPO_ROOT

__all__ = ["POLICY_CONTEXT_KEY", "build", "policy_path"]


def policy_path(app: App) -> Path:
    path = Path(policy_source(app))
    return path if path.is_absolute() else REPO_ROOT / path


def build(app: App, policy: Policy | None = None) -> DeckhandStack:
    policy = policy or load_policy(policy_path(app))
    stack = DeckhandStack(
        app,
        "Deckhand",
        stack_name=policy.name_prefix,
        policy=policy,
        description="Deckhand: deploy gating, capacity tweaks and cleanup automation",
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=policy.regions[0]),
    )
    if policy.organization:
        # For a plain `cdk deploy` of the member stack into one account; the hub's StackSet deploys the same template.
        MemberStack(
            app,
            "DeckhandMember",
            stack_name=member_stack_name(policy.name_prefix),
            policy=policy,
            description="Deckhand member: the roles the hub assumes here, and the alarm forwarding to its bus",
        )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack
