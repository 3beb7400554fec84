"""The base of every policy section: strict, frozen, and no key it does not know."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Duty(Section):
    """A duty's section; each duty adds its own settings to a subclass."""

    enabled: bool = False
