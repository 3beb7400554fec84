"""The sections' list defaults: one fresh list per instance, never a `default_factory=list` (see Section)."""

from __future__ import annotations

import functions.capacity.policy
import functions.cleanup.policy
import functions.gating.policy
import functions.shared.organization
import functions.shared.policy_base
from functions.gating.policy import AlarmCheck, Gating
from functions.shared.policy_base import Section

POLICY_MODULES = (
    functions.capacity.policy,
    functions.cleanup.policy,
    functions.gating.policy,
    functions.shared.organization,
    functions.shared.policy_base,
)


def test_a_list_default_is_copied_for_each_instance() -> None:
    first = AlarmCheck(names=["a"])
    first.prefixes.append("web-")
    assert AlarmCheck(names=["a"]).prefixes == []
    assert Gating().gates is not Gating().gates


def test_no_section_defaults_through_the_list_factory() -> None:
    factories = [
        f"{module.__name__}.{name}.{field_name}"
        for module in POLICY_MODULES
        for name, model in vars(module).items()
        if isinstance(model, type) and issubclass(model, Section)
        for field_name, field in model.model_fields.items()
        if field.default_factory is list
    ]
    assert factories == []
