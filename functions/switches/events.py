"""The events the switches function receives besides console payloads, as typed models."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from functions.shared.events import EventBridgeEvent

# Parameter names stop at 2048 characters (SSM PutParameter's Name).
ParameterName = Annotated[StrictStr, Field(min_length=1, max_length=2048)]


class ParameterChange(BaseModel):
    """`detail` of a Parameter Store Change event (Systems Manager user guide, "Parameter Store events")."""

    model_config = ConfigDict(frozen=True)

    name: ParameterName
    operation: Annotated[StrictStr, Field(max_length=64)]
    type: Annotated[StrictStr, Field(max_length=64)] | None = None
    description: StrictStr | None = None


class ParameterChangeEvent(EventBridgeEvent):
    source: Literal["aws.ssm"]
    detail_type: Literal["Parameter Store Change"] = Field(alias="detail-type")
    detail: ParameterChange
